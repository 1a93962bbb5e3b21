"""DependencySection: what the environment installs, as data. One renderer (render/install.py) turns it into the
Dockerfile's RUN steps; the planner's installers fill it and the repairs edit its fields, so nothing downstream
reads or rewrites the text of a shell step (the model: repo2docker's buildpacks, which describe packages, env and
scripts and render once).

A plan without this section (the reference design's shape, an LLM's or a person's plan, an old plan.json) is
rendered from its install_steps alone, exactly as before.
"""

from __future__ import annotations

import posixpath
import re
from typing import Literal

from pydantic import Field, field_validator

from .strict import StrictModel

ResolvedBy = Literal["planner", "repair"]
_FOLDER = re.compile(r"^[A-Za-z0-9_.@+-]+(/[A-Za-z0-9_.@+-]+)*$")


def repo_folder(value: str) -> str:
    """A folder inside the repository ('' for its root): relative, normalised, never above the root (a `cd` there
    is rendered into a RUN step)."""
    if value and (not _FOLDER.match(value) or posixpath.normpath(value) != value or ".." in value.split("/")):
        raise ValueError(f"{value[:80]!r} is not a folder inside the repository (relative, no '..', no spaces)")
    return value


ProjectInstall = Literal["editable", "plain", "none"]


class ResolveAsOf(StrictModel):
    """Resolve every dependency as it was on a date (pip's --uploaded-prior-to), and who chose to."""

    date: str = Field(description="UTC instant, e.g. '2021-06-01T00:00:00Z'")
    by: ResolvedBy = Field(description="planner: the first plan chose it; repair: a rule did, after a failure")


class IndexedPackages(StrictModel):
    """Packages installed in their own step from their own index (PyTorch's CPU wheels), before the others."""

    packages: list[str] = Field(description="Requirement strings, e.g. 'torch==2.1.0'")
    index_url: str | None = Field(default=None, description="None: the default index (PyPI)")
    fallback_to_default: bool = Field(default=True, description="When the index does not answer, the default one")


class RequirementFile(StrictModel):
    path: str = Field(description="Repository-relative path, installed with pip install -r")
    with_source: bool = Field(
        default=False, description="Installed after the source copy: the file installs the project itself (-e .)"
    )
    optional: bool = Field(
        default=False, description="An addition to the project's own declared dependencies (its metadata, installed "
        "first): installed after them in its own step; when that step fails, the file is left out before anything "
        "else, so the project's own environment is checked without it"
    )
    folder: str = Field(
        default="", description="Installed from this repository folder ('' the root): the file's relative paths "
        "(-e ., ./pkg) are its folder's, as its author ran it"
    )

    @field_validator("folder")
    @classmethod
    def _inside(cls, value: str) -> str:
        return repo_folder(value)


class GitToPypi(StrictModel):
    """A git requirement in a file replaced by the PyPI release of the same package (the forge is out of reach)."""

    file: str
    url: str
    package: str


class FileEdits(StrictModel):
    """Edits the requirement files need before pip can read them, applied in the image, each said in the notes."""

    files: list[str] = Field(default_factory=list, description="The files the drop/rename/respec edits apply to")
    with_source: bool = Field(default=False, description="The files are read after the source copy")
    drop: list[str] = Field(default_factory=list, description="Distributions left out (conda-only, no release)")
    rename: dict[str, str] = Field(default_factory=dict, description="Name as written -> name on PyPI")
    respec: dict[str, str] = Field(default_factory=dict, description="Name as written -> the specifier used instead")
    strip_local_versions: list[str] = Field(default_factory=list, description="Files whose +cuXXX/+cpu labels go")
    drop_index_lines: list[str] = Field(
        default_factory=list, description="Files whose download.pytorch.org index lines go (torch has its own step)"
    )
    unpin: list[str] = Field(default_factory=list, description="Distributions whose version pin is relaxed")
    git_to_pypi: list[GitToPypi] = Field(default_factory=list)


class LockConstraints(StrictModel):
    """The lock file's versions as pip constraints for the package install (the rest of the lock, not installed)."""

    sources: list[str] = Field(description="The lock files, e.g. ['poetry.lock']")
    constraints: list[str] = Field(description="'name==version' for every main locked package")


#: Where a repair's packages go: before the indexed packages or the other dependencies (what the failing step's
#: build needs), or after everything (a pin the manifests lack).
Stage = Literal["before-indexes", "before-dependencies", "after"]


class PackageStep(StrictModel):
    """Packages a repair adds, in a step of their own, placed so that the layers before it stay cached."""

    packages: list[str]
    stage: Stage = "after"
    keep_torch: bool = Field(default=False, description="Also require the torch already installed (companions)")


class DependencySection(StrictModel):
    python: str | None = Field(default=None, description="The Python the dependencies are resolved for")
    pip: str | None = Field(
        default=None, description="pip upgraded first to this requirement ('pip', 'pip<24.1'), or left as the image has it"
    )
    indexes: list[IndexedPackages] = Field(default_factory=list)
    edits: FileEdits = Field(default_factory=FileEdits)
    requirement_files: list[RequirementFile] = Field(default_factory=list)
    packages: list[str] = Field(default_factory=list, description="Requirement strings installed in one step")
    lock: LockConstraints | None = None
    test_packages: list[str] = Field(default_factory=list, description="For the tests rung (pytest)")
    additions: list[PackageStep] = Field(default_factory=list, description="What the repairs added, in order")
    resolve_as_of: ResolveAsOf | None = None
    build_isolation: bool = Field(default=True, description="False: --no-build-isolation for the dependency steps")
    build_env: dict[str, str] = Field(default_factory=dict, description="Variables every install step runs with")
    project: ProjectInstall = Field(default="none", description="How the project itself is installed (--no-deps)")
    project_dir: str = Field(default="", description="The repository folder holding the project's metadata ('' the "
                             "root): the project is installed from there")

    @field_validator("project_dir")
    @classmethod
    def _inside(cls, value: str) -> str:
        return repo_folder(value)

    def installs(self) -> list[str]:
        """Every requirement string the section names directly (not those inside requirement files)."""
        found = ["pip"] if self.resolve_as_of else ["pip", "setuptools", "wheel"] if self.pip else []
        found += [p for i in self.indexes for p in i.packages] + self.packages + self.test_packages
        return found + [p for a in self.additions for p in a.packages]
