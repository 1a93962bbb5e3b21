"""What an installer is: one ecosystem's way of declaring dependencies, detected from the facts, turned into the
dependencies the Python choice weighs and into fields of the plan's dependency section (the model: repo2docker's
buildpacks, each with its detect() and the packages and scripts it contributes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ...contracts import RepoFacts
from ...contracts.dependencies import DependencySection
from ...contracts.facts import Dependency, PythonHint
from ..base import PlanContext
from ..lock import LockedInstall


@dataclass
class PlanJob:
    """One planning: the facts, what the installers found so far, and the section they fill."""

    ctx: PlanContext
    notes: list[str] = field(default_factory=list)
    #: Requirement files the project installs from (not dev/test/docs), and whether one of them installs the project.
    main_requirements: list[str] = field(default_factory=list)
    requirements_install_self: bool = False
    #: Declared main-group dependencies the environment needs (what the project's own files say).
    declared: list[Dependency] = field(default_factory=list)
    #: Dependencies from elsewhere: a conda environment, the code's imports, the README.
    extra: list[Dependency] = field(default_factory=list)
    lock: LockedInstall | None = None
    #: Set by the planner before the installers fill the section.
    deps: list[Dependency] = field(default_factory=list)
    python: str = ""
    image_python: str = ""
    section: DependencySection = field(default_factory=DependencySection)
    #: Packages installed as a list (not from requirement files); the planner writes them to the section.
    install_as_list: bool = True
    #: With install_as_list: the distributions (canonical names, or the raw git/URL requirement) the list holds,
    #: when requirement files add to the project's own list; None: every dependency.
    listed: set[str] | None = None
    #: Python specs a manifest the analysis does not read states (pixi's `python = "3.10.*"`).
    python_hints: list[PythonHint] = field(default_factory=list)
    #: A manifest asks for the project itself to be installed editable.
    editable_self: bool = False
    #: Manifests an installer set aside (a stale conda export): their Python hints do not count either.
    set_aside: set[str] = field(default_factory=set)

    @property
    def facts(self) -> RepoFacts:
        return self.ctx.facts

    @property
    def kinds(self) -> set[str]:
        return {m.kind for m in self.facts.manifests}


class Installer(Protocol):
    """One ecosystem. detect() is asked in order, after the installers before it have collected."""

    name: str
    #: The manifest kinds this installer reads: their files are copied before the install steps.
    manifest_kinds: frozenset[str]

    def detect(self, job: PlanJob) -> bool: ...

    def collect(self, job: PlanJob) -> None:
        """Add the dependencies it declares (before the Python is chosen: the pins weigh in), with notes."""

    def fill(self, job: PlanJob) -> None:
        """Fill its fields of job.section (after the Python and the image are chosen), with notes."""
