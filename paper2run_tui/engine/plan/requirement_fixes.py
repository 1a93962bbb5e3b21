"""Edits a requirements file needs before pip can resolve it at all.

Research repositories often ship a `pip freeze` or a conda export renamed to requirements.txt: conda-only names
(`python==3.6.12`, `cudatoolkit`), conda spellings (`pytorch`), distributions renamed on PyPI long ago
(`msgpack-python`, `sklearn`), and pins with no release for any Python we can run. Each of those makes
`pip install -r` fail on its first line, one attempt per line. The planner fixes them up front: the edits are
fields of the plan's dependency section (rendered as one visible `sed` step), with a note per edit.
"""

from __future__ import annotations

import re
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..contracts.facts import Dependency
from .python_version import pin_ceiling

#: Names pip cannot install at all: conda packages that slip into requirement files.
NOT_ON_PYPI = {"python", "cudatoolkit", "cudatoolkit-dev", "pytorch-cuda", "cudnn", "libgcc-ng", "libstdcxx-ng",
               "-libgcc-mutex", "-openmp-mutex", "ld-impl-linux-64"}
#: Backports of the Python 3 standard library to Python 2, frozen into old `pip freeze` files: on Python 3 the
#: standard library has them, and their releases refuse to install (futures 3.x: Requires-Python <3) or break it
#: (enum34 shadows enum, typing and pathlib shadow the standard modules).
PY2_BACKPORTS = {"futures", "enum34", "funcsigs", "subprocess32", "backports-weakref", "backports-functools-lru-cache",
                 "backports-shutil-get-terminal-size", "backports-ssl-match-hostname", "pathlib", "typing",
                 "ipaddress", "trollius"}
#: Distributions known on PyPI under another name (the old name is frozen at old versions or refuses to install).
RENAMED = {"pytorch": "torch", "msgpack-python": "msgpack", "sklearn": "scikit-learn"}


@dataclass
class RequirementEdits:
    drop: list[str] = field(default_factory=list)
    rename: dict[str, str] = field(default_factory=dict)
    respec: dict[str, str] = field(default_factory=dict)  # name as written -> new specifier
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.drop or self.rename or self.respec)


def _within_major(specifier: str) -> str | None:
    """`==1.3.1` -> `>=1.3.1,<2`: the newest release of the same major series, which keeps the API the code was
    written against (a 1.x -> 2.x jump is a different library for research code)."""
    m = re.match(r"^\s*(?:==|~=)\s*([0-9][0-9a-zA-Z.]*)\s*$", specifier)
    if not m:
        return None
    try:
        v = Version(m.group(1).rstrip(".*"))
    except InvalidVersion:
        return None
    return f">={v},<{v.major + 1}"


def requirement_edits(deps: list[Dependency], image_python: str, imported_dists: AbstractSet[str]) -> RequirementEdits:
    """The edits for the dependencies read from requirement files, for a base image with `image_python`."""
    edits = RequirementEdits()
    for dep in deps:
        name = canonicalize_name(dep.name)
        if name in NOT_ON_PYPI:
            edits.drop.append(dep.name)
            edits.notes.append(f"{dep.raw.strip()} ({dep.source}) is a conda package, not a pip one: left out")
            continue
        if name in PY2_BACKPORTS and image_python.startswith("3"):
            edits.drop.append(dep.name)
            edits.notes.append(f"{dep.raw.strip()} ({dep.source}) backports the Python 3 standard library to Python 2; "
                               f"Python {image_python} has it: left out")
            continue
        if name in RENAMED:
            edits.rename[dep.name] = RENAMED[name]
            edits.notes.append(f"{dep.name} ({dep.source}) is published as {RENAMED[name]} on PyPI: renamed")
        ceiling = pin_ceiling(dep)
        if ceiling is None or Version(ceiling) >= Version(image_python):
            continue
        target = RENAMED.get(name, name)
        if canonicalize_name(target) not in imported_dists:
            edits.drop.append(dep.name)
            edits.notes.append(f"{dep.raw.strip()} ({dep.source}) has no release for Python {image_python} and no code "
                               "imports it: left out")
        elif (spec := _within_major(dep.specifier)) is not None:
            edits.respec[dep.name] = spec
            edits.notes.append(f"{dep.raw.strip()} ({dep.source}) needs Python <= {ceiling}; the image has "
                               f"{image_python}, so the newest {target}{spec} is asked for (same major version)")
    return edits


def apply_to_deps(deps: list[Dependency], edits: RequirementEdits) -> list[Dependency]:
    """The dependency list as the edited files will read (for the steps built from it, e.g. the torch step)."""
    dropped = {canonicalize_name(n) for n in edits.drop}
    out = []
    for dep in deps:
        if canonicalize_name(dep.name) in dropped:
            continue
        update: dict[str, str] = {}
        if dep.name in edits.respec:
            update["specifier"] = edits.respec[dep.name]
        if dep.name in edits.rename:
            update["name"] = edits.rename[dep.name]
        out.append(dep.model_copy(update=update) if update else dep)
    return out
