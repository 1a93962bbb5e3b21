"""No manifest at all: the README's pip install lines if any, else the code's own imports mapped to distributions,
with the versions the README's prose states."""

from __future__ import annotations

import shlex

from packaging.utils import canonicalize_name

from ...analyze.requirements import parse_requirement
from ...contracts import RepoFacts
from ...contracts.facts import Dependency
from ..packages import dist_for_import
from .base import PlanJob
from .project import PROJECT_KINDS


def inferred_deps(facts: RepoFacts, notes: list[str]) -> list[Dependency]:
    """No manifest: the README's pip lines if any, else the code's own imports mapped to distributions."""
    deps: list[Dependency] = []
    for line in facts.readme_installs:
        if not line.command.lstrip().startswith(("pip", "python")):
            continue
        try:
            words = shlex.split(line.command)
        except ValueError:
            continue
        args = words[words.index("install") + 1:] if "install" in words else []
        for w in args:
            if w.startswith("-") or w in (".", "-e") or "/" in w:
                continue
            dep = parse_requirement(w, line.source, line.line)
            if dep is not None:
                deps.append(dep)
    if deps:
        notes.append(f"no manifest: dependencies from the README's pip install lines ({line.source})")
    seen = {canonicalize_name(d.name) for d in deps}
    from_imports = []
    for imp in facts.imports:
        dist = dist_for_import(imp.module)
        if dist and canonicalize_name(dist) not in seen:
            seen.add(canonicalize_name(dist))
            from_imports.append(dist)
            deps.append(Dependency(name=dist, raw=dist, source=imp.source))
    if from_imports:
        notes.append("no manifest: dependencies inferred from the code's imports: " + ", ".join(from_imports[:25]))
    return with_stated_versions(deps, facts.readme_versions, "the README says", notes)


def with_stated_versions(deps: list[Dependency], stated: list[Dependency], said: str,
                          notes: list[str]) -> list[Dependency]:
    """Give unversioned dependencies the version the README states or the code checks for."""
    by_name = {canonicalize_name(v.name): v for v in stated}
    out = []
    for dep in deps:
        version = by_name.get(canonicalize_name(dep.name))
        if version is not None and not dep.specifier and dep.kind == "pypi":
            dep = dep.model_copy(update={"specifier": version.specifier})
            notes.append(f"{dep.name}{version.specifier}: {said} \"{version.raw}\" ({version.source}, line "
                         f"{version.line})")
        out.append(dep)
    return out


class InferredFromCode:
    name = "imports and README"
    manifest_kinds: frozenset[str] = frozenset()

    def detect(self, job: PlanJob) -> bool:
        return not job.main_requirements and not job.declared and not job.extra and not job.kinds & PROJECT_KINDS

    def collect(self, job: PlanJob) -> None:
        job.extra += inferred_deps(job.facts, job.notes)

    def fill(self, job: PlanJob) -> None:
        """Its packages are installed with the others (the planner's package list)."""
