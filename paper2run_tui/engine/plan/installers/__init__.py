"""Installers: one module per ecosystem, asked in order. Adding a package manager is one module here, with its
detect(), collect() and fill(), added to INSTALLERS (pixi.py is the example)."""

from __future__ import annotations

from .base import Installer, PlanJob
from .conda import CondaEnvironment
from .inferred import InferredFromCode
from .lockfile import LockFile
from .pixi import PixiWorkspace
from .project import PROJECT_KINDS, ProjectMetadata
from .requirements import RequirementsFiles

#: In order: each installer's detect() sees what the ones before it collected (the imports are a last resort).
INSTALLERS: tuple[Installer, ...] = (RequirementsFiles(), ProjectMetadata(), LockFile(), CondaEnvironment(),
                                     PixiWorkspace(), InferredFromCode())

#: The manifest kinds whose files are copied before the install steps: the union of what the installers read.
DEPENDENCY_MANIFEST_KINDS: frozenset[str] = frozenset().union(*(i.manifest_kinds for i in INSTALLERS))

__all__ = ["DEPENDENCY_MANIFEST_KINDS", "INSTALLERS", "PROJECT_KINDS", "Installer", "PlanJob"]
