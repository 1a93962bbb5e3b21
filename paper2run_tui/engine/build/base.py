"""The executor port: preflight, build an image, smoke-run it. Docker implements it (build/docker_*.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from ..contracts import EnvPlan, RungResult, SmokeRung
from ..contracts.plan import SmokeRungName
from ..ports import CancelToken, EventSink
from .build_cgroup import BuildPidsLimit


class BuildRequest(BaseModel):
    attempt: int
    context_dir: Path = Field(description="The repository checkout (run_dir/repo); never written to")
    dockerfile: str = Field(description="The rendered Dockerfile text")
    extra_files: dict[str, bytes] = Field(
        default_factory=dict, description="Files added to the build context under .paper2run/ (e.g. the CA bundle)"
    )
    tag: str
    labels: dict[str, str] = Field(default_factory=dict)
    build_args: dict[str, str] = Field(default_factory=dict, description="e.g. HTTP_PROXY, HTTPS_PROXY, NO_PROXY")
    timeout_s: int = 3600


class BuildResult(BaseModel):
    ok: bool
    image_tag: str | None = None
    image_id: str | None = None
    seconds: float = 0.0
    steps_total: int | None = None
    steps_cached: int = 0
    cached_steps: list[int] = Field(default_factory=list)
    failing_step: str | None = Field(default=None, description="The Dockerfile instruction that failed")
    intermediates: list[str] = Field(default_factory=list, description="Ids of the step containers and layers the "
                                     "build made, in order: what a failed build leaves behind without a label")
    error: str | None = None
    output_cut: str | None = Field(default=None, description="Set when the build output was over its cap: what was "
                                                            "kept and how much was left out")
    pids_limit: BuildPidsLimit | None = Field(default=None, description="How the process limit reached the steps")


class SmokeRequest(BaseModel):
    attempt: int
    image_tag: str
    plan: EnvPlan
    timeout_s: int
    labels: dict[str, str] = Field(default_factory=dict)
    ladder: list[SmokeRung] = Field(default_factory=list)
    network: bool = Field(default=False, description="Give the smoke container network access (--network, or a "
                                                     "plan with network: true that a person approved)")


class SmokeResult(BaseModel):
    ok: bool
    outcome: Literal["exit-0", "alive-at-timeout", "failed", "gpu-unavailable", "error"]
    exit_code: int | None = None
    seconds: float = 0.0
    ran_on_cpu: bool = False
    highest_rung: SmokeRungName | None = None
    rungs: list[RungResult] = Field(default_factory=list)
    error: str | None = None
    output_cut: str | None = Field(default=None, description="Set when the smoke output was over its cap: what was "
                                                            "kept and how much was left out")
    user: str = Field(default="10001:10001", description="Who the counted smoke run ran as: the unprivileged uid, "
                                                         "or root after the permission fallback")
    root_reason: str | None = Field(default=None, description="Why it fell back to root (the permission error)")


class PreflightReport(BaseModel):
    engine_version: str = ""
    free_disk_gb: float | None = None
    base_image_present: bool = False
    gpu_runtime: bool = False
    capabilities: str = Field(default="", description="What the engine can do (GPU, BuildKit, cache mounts, limits)")
    warnings: list[str] = Field(default_factory=list)


class Executor(Protocol):
    def preflight(self, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
        """Raise PreflightError with an actionable message when the build cannot start."""
        ...

    def build(self, request: BuildRequest, sink: EventSink, cancel: CancelToken) -> BuildResult: ...

    def smoke(self, request: SmokeRequest, sink: EventSink, cancel: CancelToken) -> SmokeResult: ...

    def local_images(self) -> list[str]: ...

    def gpu_runtime(self) -> bool: ...
