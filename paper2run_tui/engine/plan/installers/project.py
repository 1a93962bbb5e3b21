"""A project with its own metadata (setup.py, setup.cfg, PEP 621 / Poetry / PDM / hatch / uv pyproject): its
declared dependencies before the source, the project itself with --no-deps after it."""

from __future__ import annotations

from posixpath import dirname

from ...contracts import RepoFacts
from .base import PlanJob

PROJECT_KINDS = frozenset({"setup.py", "setup.cfg", "pyproject-pep621", "pyproject-poetry", "pyproject-hatch",
                           "pyproject-pdm", "pyproject-uv", "pyproject-build-system"})


#: Folders whose metadata is not the project's: its docs, tests or examples.
_ASIDE = ("docs", "doc", "tests", "test", "examples", "example", "benchmarks")


def project_folder(facts: RepoFacts) -> str | None:
    """Where the project's own metadata lives: '' for the root; a subfolder when the root has none and exactly one
    subfolder (not docs, tests or examples) has it (`code/setup.py`): installed from there. None when the metadata
    is in several subfolders, none of which is the project more than another."""
    sources = [m.source for m in facts.manifests if m.kind in PROJECT_KINDS]
    if not sources or any("/" not in s for s in sources):
        return ""
    folders = sorted({dirname(s) for s in sources if dirname(s).split("/")[0].lower() not in _ASIDE})
    return folders[0] if len(folders) == 1 else None


class ProjectMetadata:
    name = "project metadata"
    manifest_kinds = PROJECT_KINDS - {"setup.py"}  # setup.py needs the source (it imports it): copied with it

    def detect(self, job: PlanJob) -> bool:
        return bool(job.kinds & PROJECT_KINDS)

    def collect(self, job: PlanJob) -> None:
        """The metadata's dependencies are job.declared already (the planner reads every declared one)."""

    def fill(self, job: PlanJob) -> None:
        if job.install_as_list and any(d.kind != "path" for d in job.deps):
            job.notes.append("dependencies from the project's metadata, installed before the source for caching")
        if not job.requirements_install_self:
            folder = project_folder(job.facts)
            if folder is None:
                job.notes.append("project metadata in several subfolders and none at the root: none of them is "
                                 "installed as the project (their dependencies are)")
                return
            kinds = job.kinds
            job.section.project = "editable" if "setup.py" in kinds or "pyproject" in str(kinds) else "plain"
            job.section.project_dir = folder
            job.notes.append("the project itself installed with --no-deps after the source copy"
                             + (f", from {folder}/ where its metadata lives" if folder else ""))
