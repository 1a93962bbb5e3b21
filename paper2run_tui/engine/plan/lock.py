"""Install under the lock file: its exact versions become pip constraints, so the environment is the one the
authors last resolved, not whatever the registry holds today, while pip still installs only what is needed (a lock
lists packages for every platform and extra)."""

from __future__ import annotations

from dataclasses import dataclass, field

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name

from ..contracts.facts import Dependency, LockedPin


@dataclass
class LockedInstall:
    deps: list[Dependency]  # the declared dependencies, pinned to the lock where it agrees with them
    constraints: list[str] = field(default_factory=list)  # every main locked package, 'name==version'
    sources: list[str] = field(default_factory=list)  # the lock files
    notes: list[str] = field(default_factory=list)
    pins: list[Dependency] = field(default_factory=list)  # every main pin, as dependencies (for the Python choice)


def _agrees(dep: Dependency, version: str) -> bool:
    try:
        return not dep.specifier or SpecifierSet(dep.specifier).contains(version, prereleases=True)
    except InvalidSpecifier:
        return False


def lock_install(deps: list[Dependency], locked: list[LockedPin]) -> LockedInstall:
    """Pin the declared dependencies to the lock and constrain the rest; a stale lock entry (one the manifest no
    longer allows) is left out, and said so."""
    main = {canonicalize_name(p.name): p for p in locked if p.group is None}
    if not main:
        return LockedInstall(deps=deps)
    out: list[Dependency] = []
    stale: list[str] = []
    pinned = 0
    for d in deps:
        pin = main.get(canonicalize_name(d.name)) if d.kind == "pypi" else None
        if pin is None:
            out.append(d)
        elif _agrees(d, pin.version):
            out.append(d.model_copy(update={"specifier": f"=={pin.version}"}))
            pinned += 1
        else:
            out.append(d)
            stale.append(f"{d.name}{d.specifier} (locked at {pin.version})")
            main.pop(canonicalize_name(d.name))
    source = sorted({p.source for p in main.values()})
    constraints = [f"{p.name}=={p.version}" for p in main.values()]
    notes = [f"versions from {', '.join(source)}: {pinned} declared dependencies pinned to the lock, "
             f"{len(constraints)} locked packages as pip constraints"]
    if stale:
        notes.append("the lock is stale for " + ", ".join(stale[:5]) + ": the manifest's specifier is used")
    pins = [Dependency(name=p.name, specifier=f"=={p.version}", raw=f"{p.name}=={p.version}", source=p.source)
            for p in main.values()]
    return LockedInstall(deps=out, constraints=constraints, sources=source, notes=notes, pins=pins)
