"""conda environments (environment.yml): translated to pip, conda-only packages (the CUDA toolkit, compilers,
Python itself) dropped and said so."""

from __future__ import annotations

import re

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ...contracts import RepoFacts
from ...contracts.facts import Dependency, Manifest
from .base import PlanJob
from .project import PROJECT_KINDS

#: conda names that differ on PyPI, and conda-only packages that have no pip equivalent (dropped, said so).
CONDA_TO_PIP = {"pytorch": "torch", "pytorch-cpu": "torch", "py-opencv": "opencv-python-headless", "opencv": "opencv-python-headless",
                "pyyaml": "PyYAML", "scikit-learn": "scikit-learn", "pillow": "Pillow", "tensorflow-gpu": "tensorflow"}
CONDA_ONLY = {"cudatoolkit", "cudnn", "mkl", "mkl-service", "blas", "libgcc-ng", "libstdcxx-ng", "ca-certificates",
              "openssl", "certifi", "python", "pip", "setuptools", "wheel", "readline", "sqlite", "tk", "xz", "zlib",
              "ncurses", "libffi", "ld_impl_linux-64", "_libgcc_mutex", "_openmp_mutex", "intel-openmp", "cuda-toolkit",
              "pytorch-cuda", "nvidia", "libuv", "jpeg", "libpng", "freetype", "cudatoolkit-dev"}


def conda_to_pip(deps: list[Dependency], notes: list[str], what: str = "conda environment") -> list[Dependency]:
    """conda requirements as pip ones: renamed where PyPI differs, conda's `=1.7` as `==1.7.*`, conda-only dropped."""
    out = []
    dropped = []
    for d in deps:
        name = d.name.lower()
        if name in CONDA_ONLY or name.startswith(("lib", "cuda", "_")):
            dropped.append(d.name)
            continue
        spec = d.specifier if re.match(r"^(==|>=|<=|>|<|!=)\d", d.specifier) else ""
        if spec.startswith("==") and spec.count(".") == 1:
            spec = f"{spec}.*"
        out.append(d.model_copy(update={"name": CONDA_TO_PIP.get(name, d.name), "specifier": spec, "kind": "pypi"}))
    if out or dropped:
        notes.append(f"{what} translated to pip ({len(out)} packages)"
                     + (f"; conda-only packages dropped: {', '.join(sorted(set(dropped))[:10])}" if dropped else ""))
    return out


def conda_deps(facts: RepoFacts, notes: list[str], aside: frozenset[str] = frozenset()) -> list[Dependency]:
    return conda_to_pip([d for d in facts.dependencies if d.kind == "conda" and d.source not in aside], notes)


_BUILD_STRING = re.compile(r"^[^=<>!\s]+=[^=\s]+=\S+$")


def frozen_export(facts: RepoFacts, source: str) -> str | None:
    """How a conda file reads as `conda env export` output (every package pinned, often with its build string),
    not as a list its authors wrote; None when it does not."""
    conda = [d for d in facts.dependencies if d.kind == "conda" and d.source == source]
    if len(conda) < 5:
        return None
    builds = sum(bool(_BUILD_STRING.match(d.raw.split("::")[-1])) for d in conda)
    exact = sum(d.specifier.startswith("==") and "*" not in d.specifier for d in conda)
    if builds * 2 >= len(conda):
        return f"{builds} of {len(conda)} packages pinned with their build strings"
    if exact * 5 >= len(conda) * 4:
        return f"{exact} of {len(conda)} packages pinned exactly"
    return None


def _pip_name(dep: Dependency) -> str:
    return canonicalize_name(CONDA_TO_PIP.get(dep.name.lower(), dep.name))


def older_than_metadata(facts: RepoFacts, export: Manifest) -> str | None:
    """The evidence in the checkout that a conda export is older than the project's own metadata, or None. The
    history first, when the checkout has one (Manifest.last_changed): the export last changed before the
    metadata did, or (newer) it is not older at all. Else the files' content: the export pins a release (or a
    Python) the metadata's own requirement excludes, so the metadata moved on since the export was made."""
    metadata = [m for m in facts.manifests if m.kind in PROJECT_KINDS]
    dated = [m for m in metadata if m.last_changed is not None]
    if export.last_changed is not None and dated:
        newest = max(dated, key=lambda m: m.last_changed)  # type: ignore[arg-type, return-value]
        assert newest.last_changed is not None
        if export.last_changed < newest.last_changed:
            return (f"git: {export.source} last changed {export.last_changed.date()}, {newest.source} "
                    f"{newest.last_changed.date()}")
        return None
    sources = {m.source for m in metadata}
    pins = {_pip_name(d): d for d in facts.dependencies
            if d.source == export.source and d.kind == "conda" and d.specifier.startswith("==")}
    for d in facts.dependencies:
        e = pins.get(canonicalize_name(d.name))
        if d.source in sources and d.kind == "pypi" and d.specifier and e is not None:
            try:
                if Version(e.specifier[2:]) not in SpecifierSet(d.specifier):
                    return (f"{export.source} pins {e.name} {e.specifier[2:]}, which {d.source}'s "
                            f"{d.name}{d.specifier} excludes")
            except (InvalidVersion, InvalidSpecifier):
                continue
    python = [h for h in facts.python_hints if h.source == export.source]
    for h in facts.python_hints:
        if h.source in sources and h.kind == "python_requires" and python:
            try:
                version = Version(python[0].spec.split("=")[-1].rstrip(".*") or "3")
                if version not in SpecifierSet(h.spec):
                    return (f"{export.source} pins Python {python[0].spec}, which {h.source}'s python_requires "
                            f"{h.spec} excludes")
            except (InvalidVersion, InvalidSpecifier):
                continue
    return None


def stale_exports(facts: RepoFacts) -> dict[str, str]:
    """{conda file: why it is set aside}: frozen exports the checkout shows to be older than the project's own
    metadata (setup.py, pyproject.toml). Their pins describe the authors' machine at some earlier time; the
    metadata says what the project needs now."""
    if not any(m.kind in PROJECT_KINDS for m in facts.manifests):
        return {}
    out = {}
    for m in facts.manifests:
        if m.kind == "conda-environment" and (how := frozen_export(facts, m.source)) and \
                (evidence := older_than_metadata(facts, m)):
            out[m.source] = f"{how}; older than the project's metadata ({evidence})"
    return out


class CondaEnvironment:
    name = "conda environment"
    manifest_kinds = frozenset({"conda-environment", "conda-requirements"})

    def detect(self, job: PlanJob) -> bool:
        return "conda-environment" in job.kinds

    def collect(self, job: PlanJob) -> None:
        stale = stale_exports(job.facts)
        for source, why in stale.items():
            job.notes.append(f"{source} set aside: a frozen conda export ({why}); the project's own metadata "
                             "decides the dependencies and the Python")
        job.set_aside |= set(stale)
        job.declared = [d for d in job.declared if d.source not in stale]  # its pip: section too
        job.extra += conda_deps(job.facts, job.notes, frozenset(stale))

    def fill(self, job: PlanJob) -> None:
        """Its packages are installed with the others (the planner's package list)."""
