"""Lock files (poetry.lock, uv.lock, pdm.lock, Pipfile.lock): the declared dependencies pinned to the locked
versions, the rest of the lock as pip constraints (plan/lock.py reads them)."""

from __future__ import annotations

from ...contracts.dependencies import LockConstraints
from ..lock import lock_install
from .base import PlanJob


class LockFile:
    name = "lock file"
    manifest_kinds = frozenset({"lockfile", "pipfile"})

    def detect(self, job: PlanJob) -> bool:
        return bool(job.facts.locked) and bool(job.declared) and not job.main_requirements

    def collect(self, job: PlanJob) -> None:
        job.lock = lock_install(job.declared, job.facts.locked)
        job.declared = job.lock.deps
        job.notes += job.lock.notes

    def fill(self, job: PlanJob) -> None:
        if job.lock is not None and job.lock.constraints and job.install_as_list:
            job.section.lock = LockConstraints(sources=job.lock.sources, constraints=job.lock.constraints)
