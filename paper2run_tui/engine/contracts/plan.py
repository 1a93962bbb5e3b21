"""EnvPlan: the complete description of one attempt's environment (the reference schema, extended)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from .dependencies import DependencySection
from .strict import StrictModel

SmokeRungName = Literal["static-imports", "import-package", "entrypoint-help", "tests", "toy-run"]

#: The smoke ladder, lowest rung first. "Green" always says how green.
SMOKE_RUNGS: tuple[SmokeRungName, ...] = ("static-imports", "import-package", "entrypoint-help", "tests", "toy-run")
#: The lowest rung that is a result on its own (the run's floor): the package imports. A static check only finds the
#: modules, which proves too little to call an environment green.
FLOOR_RUNG: SmokeRungName = "import-package"


def at_least(rung: SmokeRungName | None, than: SmokeRungName) -> bool:
    return rung is not None and SMOKE_RUNGS.index(rung) >= SMOKE_RUNGS.index(than)


class SmokeRung(StrictModel):
    rung: SmokeRungName
    command: str


class EnvPlan(StrictModel):
    """One environment. A repair always replaces the whole plan; there are no micro-patches.

    Strict, because people and models write it: an unknown key is an error with a "did you mean", and a
    boolean is `true`/`false`, never `"yes"` or `1`.

    The first eight fields are the reference design's schema; the rest are optional
    extensions with defaults, so a reference-shaped plan is valid as is.
    """

    base_image: str = Field(description="Docker base image, e.g. 'python:3.11-slim'")
    system_packages: list[str] = Field(default_factory=list, description="Debian packages installed with apt-get")
    workdir: str = Field(default="/repo", description="Where the repository lives in the image")
    install_steps: list[str] = Field(
        default_factory=list,
        description="Shell commands run after the dependency manifests are copied, before the rest of the source",
    )
    env: dict[str, str] = Field(default_factory=dict, description="Environment variables set in the image")
    smoke_command: str = Field(description="Shell command that proves the environment works; exit 0 or alive at timeout")
    requires_gpu: bool = Field(default=False, strict=True)
    notes: str = Field(default="", description="Why the plan looks like this: choices, sources, caveats")
    # --- extensions -------------------------------------------------------------
    source_steps: list[str] = Field(
        default_factory=list,
        description="Shell commands that need the full source (e.g. 'pip install -e . --no-deps'); run after COPY .",
    )
    python_version: str | None = Field(default=None, description="The Python version the base image provides, e.g. '3.11'")
    cpu_fallback: bool = Field(
        default=False, strict=True,
        description="When requires_gpu: the smoke command may run on the CPU if no GPU runtime exists",
    )
    exclude_newer: str | None = Field(
        default=None, description="ISO date: resolve dependencies as of this date (time travel), or None"
    )
    smoke_ladder: list[SmokeRung] = Field(
        default_factory=list, description="Extra checks run lowest first; the highest passing rung is recorded"
    )
    network: bool = Field(
        default=False, description="The smoke run needs the network; honoured only when a person approved the plan "
        "at the gate (or --network is given): the smoke container has no network by default"
    )
    dependencies: DependencySection | None = Field(
        default=None,
        description="What the environment installs, as data (rendered before install_steps and source_steps); "
        "None: the steps say it all",
    )

    @field_validator("base_image", "smoke_command")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()

    @field_validator("system_packages")
    @classmethod
    def _package_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or any(ch.isspace() for ch in name) or name.startswith("-"):
                raise ValueError(f"not a Debian package name: {name!r}")
        return value

    @field_validator("workdir")
    @classmethod
    def _absolute_workdir(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("workdir must be an absolute path")
        return value

    def fingerprint(self) -> str:
        """A stable identity for 'the same plan', used to refuse repairs that repeat a failed plan."""
        import hashlib

        # A plan without a dependency section keeps the fingerprint it had before the section existed.
        payload = self.model_dump_json(exclude={"notes"} if self.dependencies else {"notes", "dependencies"})
        return hashlib.sha256(payload.encode()).hexdigest()[:16]
