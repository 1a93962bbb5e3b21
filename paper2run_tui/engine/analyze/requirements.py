"""Parse requirement strings (PEP 508 and pip's requirements-file dialect) into Dependency facts."""

from __future__ import annotations

import re
from typing import Literal

from packaging.requirements import InvalidRequirement, Requirement

from ..contracts.facts import Dependency

_GIT = re.compile(r"^(?:-e\s+)?(git\+\S+)", re.IGNORECASE)
_EGG = re.compile(r"#egg=([A-Za-z0-9_.\-]+)")
_CONDA_SPEC = re.compile(r"^([A-Za-z0-9_.\-]+)\s*(?:(==|>=|<=|>|<|!=|=)\s*([^=\s]+))?(?:=\S+)?$")


def parse_requirement(raw: str, source: str, line: int | None = None, group: str | None = None) -> Dependency | None:
    """One requirement as pip would read it; None for options, comments and blanks."""
    text = raw.split(" #", 1)[0].strip()
    if not text or text.startswith("#"):
        return None
    git = _GIT.match(text)
    if git:
        egg = _EGG.search(text)
        name = egg.group(1) if egg else git.group(1).rstrip("/").rsplit("/", 1)[-1].removesuffix(".git").split("@")[0]
        return Dependency(name=name, raw=raw.strip(), kind="git", source=source, line=line, group=group)
    if text.startswith(("-e ", "--editable")):
        return Dependency(name=text.split(None, 1)[-1], raw=raw.strip(), kind="path", source=source, line=line, group=group)
    if text.startswith("-"):
        return None
    if re.match(r"^(https?|file)://", text):
        egg = _EGG.search(text)
        name = egg.group(1) if egg else text.rsplit("/", 1)[-1].split("-")[0]
        return Dependency(name=name, raw=raw.strip(), kind="url", source=source, line=line, group=group)
    if text.startswith((".", "/")):
        return Dependency(name=text, raw=raw.strip(), kind="path", source=source, line=line, group=group)
    try:
        req = Requirement(text)
    except InvalidRequirement:
        # Old-style pins like 'torch = 1.0' or 'numpy=1.19' still say something useful.
        m = _CONDA_SPEC.match(text.replace(" ", ""))
        if not m:
            return None
        op = {"=": "=="}.get(m.group(2) or "", m.group(2) or "")
        spec = f"{op}{m.group(3)}" if m.group(3) else ""
        return Dependency(name=m.group(1), specifier=spec, raw=raw.strip(), source=source, line=line, group=group)
    if req.url:
        kind: Literal["git", "url"] = "git" if req.url.startswith("git+") else "url"
        return Dependency(name=req.name, raw=raw.strip(), kind=kind, source=source, line=line, group=group)
    return Dependency(
        name=req.name, specifier=str(req.specifier), raw=raw.strip(), source=source, line=line,
        marker=str(req.marker) if req.marker else None, extras=sorted(req.extras), group=group,
    )


def parse_conda_spec(raw: str, source: str, line: int | None = None) -> Dependency | None:
    """'numpy=1.19.2=py38h...' or 'pytorch>=1.7' (conda match specs)."""
    text = raw.strip()
    if not text or text.startswith("#"):
        return None
    m = _CONDA_SPEC.match(text.replace(" ", ""))
    if not m:
        return None
    op = {"=": "=="}.get(m.group(2) or "", m.group(2) or "")
    version = m.group(3) or ""
    if op == "==" and version.endswith("*"):
        op, version = "==", version
    return Dependency(name=m.group(1), specifier=f"{op}{version}" if version else "", raw=text, kind="conda",
                      source=source, line=line)


def requirements_file(text: str, source: str, group: str | None = None) -> tuple[list[Dependency], list[str]]:
    """Dependencies of a requirements file and the files it includes with -r/-c (relative to it)."""
    deps: list[Dependency] = []
    includes: list[str] = []
    joined = text.replace("\\\n", " ")
    for n, line in enumerate(joined.splitlines(), 1):
        stripped = line.strip()
        inc = re.match(r"^(?:-r|--requirement|-c|--constraint)\s*=?\s*(\S+)", stripped)
        if inc:
            includes.append(inc.group(1))
            continue
        dep = parse_requirement(line, source, n, group)
        if dep is not None:
            deps.append(dep)
    return deps, includes
