"""RepoFacts: what the deterministic analyzer found, each fact naming the file it came from."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

ManifestKind = Literal[
    "requirements",
    "setup.py",
    "setup.cfg",
    "pyproject-pep621",
    "pyproject-poetry",
    "pyproject-hatch",
    "pyproject-pdm",
    "pyproject-uv",
    "pyproject-build-system",
    "pipfile",
    "conda-environment",
    "conda-requirements",
    "package.json",
    "r-description",
    "julia-project",
    "lockfile",
    "pep723-script",
    "other",
]


class Sourced(BaseModel):
    """Every fact points back at the file (and line, when known) it was read from."""

    source: str = Field(description="Repository-relative path of the file the fact came from")
    line: int | None = None


class LanguageShare(BaseModel):
    language: str
    files: int
    bytes: int
    share: float = Field(ge=0.0, le=1.0, description="Fraction of the bytes of recognised source code")


class Manifest(Sourced):
    kind: ManifestKind
    manager: str = Field(description="pip, poetry, pipenv, pdm, uv, hatch, conda, npm, R, julia, setuptools")
    last_changed: datetime | None = Field(default=None, description="The last commit that changed the file, when "
                                          "the checkout's history tells (a shallow clone's single commit does not)")


class Dependency(Sourced):
    name: str = Field(description="Distribution name as written (normalise with packaging.utils.canonicalize_name)")
    specifier: str = Field(default="", description="Version specifier, e.g. '==1.2.3' or '>=2,<3'; empty if unpinned")
    raw: str = Field(description="The requirement exactly as written in the file")
    kind: Literal["pypi", "git", "url", "path", "conda", "npm", "other"] = "pypi"
    marker: str | None = None
    extras: list[str] = Field(default_factory=list)
    group: str | None = Field(default=None, description="Optional group (dev, test, docs, an extra's name); None = main")


class LockedPin(Sourced):
    """An exact version a lock file (poetry.lock, uv.lock, pdm.lock, Pipfile.lock) resolved a package to."""

    name: str
    version: str
    group: str | None = Field(default=None, description="dev when the lock marks the package as dev-only; None = main")


class PythonHint(Sourced):
    spec: str = Field(description="A version or specifier, e.g. '3.9', '>=3.8,<3.11'")
    kind: Literal[
        "python_requires", "classifier", "python-version-file", "runtime.txt", "conda", "ci", "tox", "pipfile", "poetry",
        "readme", "other",
    ]


class EntryPoint(Sourced):
    name: str
    target: str = Field(description="module:function, a script path, or a module run with -m")
    kind: Literal["console-script", "module-main", "script", "makefile-target", "other"]


class SmokeCandidate(Sourced):
    command: str
    kind: Literal["tests", "entrypoint-help", "import", "readme", "script", "module-main", "toy-run", "other"]
    reason: str
    score: int = Field(description="Higher is better; ranks candidates")
    needs_data: bool = False


class GpuMarker(Sourced):
    marker: str = Field(description="What was seen, e.g. '.cuda()', 'torch.cuda.is_available', 'cupy', 'nvidia/cuda'")
    hard: bool = Field(default=False, description="True when the code looks unusable without a GPU (no CPU branch seen)")


class DataExpectation(Sourced):
    target: str = Field(description="A URL, a local path, or a dataset/model name the code expects")
    kind: Literal["download-url", "local-path", "dataset-loader", "pretrained-weights", "readme-instruction", "other"]
    note: str = ""


class BuildFile(Sourced):
    kind: Literal["dockerfile", "makefile", "compose", "devcontainer", "other"]


class ImportedModule(Sourced):
    """A top-level module the repository's code imports that is neither stdlib nor the repo's own."""

    module: str
    count: int = 1
    #: The files that import it at the top of the module (column 0: not inside a function, a `try` or an `if`),
    #: the first few: there the import runs whenever the module is imported. An import seen only indented is
    #: optional or lazy (a `try: import x` fallback, an import inside the function that needs it).
    top_level_in: list[str] = Field(default_factory=list)


class ReadmeInstall(Sourced):
    """A `pip install ...` (or conda) line found in the README's prose or code blocks."""

    command: str


class RepoFacts(BaseModel):
    """Deterministic facts about a repository. Produced by analyze; never by running repo code."""

    name: str
    commit: str | None = None
    commit_date: datetime | None = None
    languages: list[LanguageShare] = Field(default_factory=list)
    primary_language: str | None = None
    is_python: bool = False
    managers: list[str] = Field(default_factory=list)
    manifests: list[Manifest] = Field(default_factory=list)
    dependencies: list[Dependency] = Field(default_factory=list)
    locked: list[LockedPin] = Field(default_factory=list, description="Exact versions from the lock files")
    python_hints: list[PythonHint] = Field(default_factory=list)
    entry_points: list[EntryPoint] = Field(default_factory=list)
    smoke_candidates: list[SmokeCandidate] = Field(default_factory=list)
    gpu_markers: list[GpuMarker] = Field(default_factory=list)
    data_expectations: list[DataExpectation] = Field(default_factory=list)
    build_files: list[BuildFile] = Field(default_factory=list)
    imports: list[ImportedModule] = Field(default_factory=list)
    local_modules: list[str] = Field(default_factory=list, description="Top-level packages/modules of the repo itself")
    readme_path: str | None = None
    readme_installs: list[ReadmeInstall] = Field(default_factory=list)
    readme_versions: list[Dependency] = Field(default_factory=list, description="Versions the README's prose states")
    code_versions: list[Dependency] = Field(default_factory=list,
                                            description="Versions the code checks for (assert timm.__version__ == ...)")
    has_tests: bool = False
    files_seen: int = 0
    files_skipped: int = 0
    truncated: bool = Field(default=False, description="True when a size/time bound cut the walk short")
    analysis_seconds: float = 0.0
    warnings: list[str] = Field(default_factory=list)
