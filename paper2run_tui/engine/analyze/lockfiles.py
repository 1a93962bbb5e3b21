"""Lock files: the exact versions a project was last resolved to (poetry.lock, uv.lock, pdm.lock, Pipfile.lock).

A lock is the most faithful record of an environment that once worked, so the planner installs the declared
dependencies under it (as pip constraints). Only registry packages are kept: git, path and URL entries are what
the manifests already name. Text only, never a resolver run.
"""

from __future__ import annotations

import json
import tomllib
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..contracts.facts import LockedPin
from .walk import Walk

LOCK_NAMES = ("poetry.lock", "uv.lock", "pdm.lock", "pipfile.lock")


def _version(value: Any) -> str | None:
    text = str(value or "").strip().removeprefix("==")
    try:
        Version(text)
    except InvalidVersion:
        return None
    return text


def _toml_packages(data: dict[str, Any], rel: str, kind: str) -> list[LockedPin]:
    pins = []
    for pkg in data.get("package") or []:
        if not isinstance(pkg, dict) or not pkg.get("name") or (version := _version(pkg.get("version"))) is None:
            continue
        source = pkg.get("source") or {}
        if kind == "uv" and isinstance(source, dict) and not source.get("registry"):
            continue  # the project itself (editable/virtual), git, path or URL entries
        if kind == "poetry" and isinstance(source, dict) and source.get("type") in ("git", "directory", "file", "url"):
            continue
        if kind == "pdm" and any(k in pkg for k in ("git", "path", "url", "editable")):
            continue
        groups = pkg.get("groups") or ([pkg["category"]] if pkg.get("category") else [])
        dev = bool(groups) and not ({"main", "default"} & {str(g) for g in groups})
        pins.append(LockedPin(name=str(pkg["name"]), version=version, source=rel, group="dev" if dev else None))
    return pins


def _pipfile_lock(text: str, rel: str) -> list[LockedPin]:
    data = json.loads(text)
    pins = []
    for section, group in (("default", None), ("develop", "dev")):
        for name, entry in (data.get(section) or {}).items():
            if isinstance(entry, dict) and (version := _version(entry.get("version"))):
                pins.append(LockedPin(name=name, version=version, source=rel, group=group))
    return pins


def read_lockfiles(walk: Walk) -> tuple[list[LockedPin], list[str]]:
    """(pins from the top-level lock files, warnings)."""
    pins: list[LockedPin] = []
    warnings: list[str] = []
    for f in walk.files:
        name = f.name.lower()
        if name not in LOCK_NAMES or "/" in f.rel:
            continue
        text = walk.read(f, limit=8_000_000)  # large projects lock hundreds of packages with their hashes
        if text is None:
            continue
        try:
            if name == "pipfile.lock":
                pins += _pipfile_lock(text, f.rel)
            else:
                pins += _toml_packages(tomllib.loads(text), f.rel, name.split(".")[0])
        except (ValueError, TypeError, AttributeError) as exc:  # tomllib/json errors are ValueErrors
            warnings.append(f"could not read the lock file {f.rel}: {type(exc).__name__}: {str(exc)[:120]}")
    versions: dict[str, set[str]] = {}
    for pin in pins:
        versions.setdefault(canonicalize_name(pin.name), set()).add(pin.version)
    # A package locked at two versions is split by markers (one for old Pythons, one for new): which one applies
    # depends on the Python chosen later, so it constrains nothing.
    seen: set[str] = set()
    unique = []
    for pin in pins:
        key = canonicalize_name(pin.name)
        if key not in seen and len(versions[key]) == 1:
            seen.add(key)
            unique.append(pin)
    return unique, warnings
