"""A project with its own metadata (setup.py, setup.cfg, PEP 621 / Poetry / PDM / hatch / uv pyproject): its
declared dependencies before the source, the project itself with --no-deps after it."""

from __future__ import annotations

from .base import PlanJob

PROJECT_KINDS = frozenset({"setup.py", "setup.cfg", "pyproject-pep621", "pyproject-poetry", "pyproject-hatch",
                           "pyproject-pdm", "pyproject-uv", "pyproject-build-system"})


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
            kinds = job.kinds
            job.section.project = "editable" if "setup.py" in kinds or "pyproject" in str(kinds) else "plain"
            job.notes.append("the project itself installed with --no-deps after the source copy")
