"""RunMetadata: the machine-readable summary of a run (metadata.json)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from .plan import SmokeRungName

RunStatus = Literal[
    "running",
    "success",
    "dry-run",
    "preflight-failed",
    "stopped-by-llm",
    "stopped-by-rules",
    "max-attempts-exhausted",
    "smoke-failed",
    "rejected-by-user",
    "refused-by-plan-policy",
    "rejected-by-policy",
    "interrupted",
    "engine-lost",
    "unsupported",
    "input-error",
    "exception",
]

#: Exit code of the headless CLI for each final status. 2 is kept for usage errors.
EXIT_CODES: dict[str, int] = {
    "success": 0,
    "dry-run": 0,
    "preflight-failed": 3,
    "stopped-by-llm": 4,
    "stopped-by-rules": 5,
    "max-attempts-exhausted": 6,
    "smoke-failed": 7,
    "rejected-by-user": 8,
    "refused-by-plan-policy": 10,
    "rejected-by-policy": 8,
    "unsupported": 9,
    "input-error": 2,
    "exception": 70,
    "interrupted": 130,
    "engine-lost": 11,
    "running": 1,
}

Phase = Literal[
    "acquire", "analyze", "plan", "render", "gate", "preflight", "build", "smoke", "diagnose", "record", "done"
]

AttemptOutcome = Literal[
    "smoke-ok", "smoke-alive-at-timeout", "build-failed", "smoke-failed", "preflight-failed", "cancelled", "error",
    "not-run",
]


class PhaseTiming(BaseModel):
    phase: Phase
    attempt: int | None = None
    started_at: datetime
    seconds: float


class LlmCall(BaseModel):
    purpose: Literal["plan", "diagnose", "implement", "fix-citations", "other"]
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    ok: bool = True
    error: str | None = None
    streamed: bool = False
    #: The endpoint's context window the prompt was fitted to (None: not known), and what was cut to fit it.
    context_window: int | None = None
    prompt_cuts: list[str] = Field(default_factory=list)


class RungResult(BaseModel):
    """One rung of the smoke ladder as it ran: the report shows each, so "green" says exactly how green."""

    rung: SmokeRungName
    command: str
    outcome: Literal["passed", "failed", "alive-at-timeout"]
    exit_code: int | None = None
    seconds: float = 0.0
    counted: bool = Field(description="Whether it counts for the highest rung: a pass, or a toy run still going "
                                      "at its time limit without an error")
    as_root: bool = Field(default=False, description="It ran as root: as uid 10001 it failed with a permission "
                                                     "error (or the smoke command had fallen back already)")
    output: str = Field(default="", description="The end of a failed rung's output (stdout and stderr): what its "
                        "diagnosis reads (attempts/NN/rung_<rung>.log)")


class FloorResult(BaseModel):
    """The run ended green at a lower rung than its smoke command: an attempt whose smoke command failed while the
    rungs below it passed, kept as the result when the repairs that aimed higher did not get there."""

    attempt: int = Field(description="The attempt whose image is the result")
    rung: SmokeRungName = Field(description="The highest rung that attempt's image passed")
    command: str = Field(description="That rung's command")
    top_rung: SmokeRungName | None = Field(default=None, description="The rung the smoke command aimed at")
    top_command: str = Field(default="", description="The smoke command that failed")
    needs: str = Field(default="", description="Why the smoke command failed: the last diagnosis of it")


class AttemptSummary(BaseModel):
    number: int
    plan_source: str = ""
    plan_fingerprint: str = ""
    outcome: AttemptOutcome = "not-run"
    build_seconds: float | None = None
    smoke_seconds: float | None = Field(default=None, description="The whole smoke phase: the smoke command and "
                                        "the ladder's rungs (the smoke phase's timing)")
    smoke_command_seconds: float | None = Field(default=None, description="The smoke command alone")
    exit_code: int | None = None
    steps_total: int | None = None
    steps_cached: int | None = None
    cached_steps: list[int] = Field(default_factory=list, description="Dockerfile step numbers taken from the cache")
    smoke_rung: SmokeRungName | None = None
    rungs: list[RungResult] = Field(default_factory=list, description="Each smoke-ladder rung that ran")
    failing_step: str | None = None
    diagnosis: str | None = None
    matched_rules: list[str] = Field(default_factory=list)
    decision: str | None = Field(default=None, description="The gate's decision on the plan this attempt ran")
    smoke_user: str | None = Field(default=None, description="Who the smoke run ran as: uid 10001 (no "
                                   "capabilities), or root after a permission error, with why")
    build_pids_limit: str | None = Field(default=None, description="How the build's process limit reached its "
                                         "steps: cgroup-parent, or update-api (best effort), with why")


class RunMetadata(BaseModel):
    run_id: str
    status: RunStatus = "running"
    reason: str = Field(default="", description="One line: why the run ended as it did")
    tool_version: str = ""
    repo: str = Field(description="The repository as given")
    repo_name: str = ""
    ref: str | None = None
    commit_sha: str | None = None
    commit_date: datetime | None = None
    paper: str | None = None
    dry_run: bool = False
    approve: str = "auto"
    started_at: datetime
    finished_at: datetime | None = None
    duration_s: float | None = None
    phases: list[PhaseTiming] = Field(default_factory=list)
    attempts: list[AttemptSummary] = Field(default_factory=list)
    max_attempts: int = 3
    model: str | None = None
    base_url: str | None = None
    llm_calls: list[LlmCall] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    image_tag: str | None = None
    smoke_outcome: Literal["exit-0", "alive-at-timeout"] | None = None
    highest_smoke_rung: SmokeRungName | None = None
    floor: FloorResult | None = Field(default=None, description="Set when the run is green at the floor: a lower "
                                      "rung than its smoke command, which failed")
    resumed_from: str | None = Field(default=None, description="run_id/attempt this run was resumed from")
    pid: int | None = Field(default=None, description="Process id of the run while it runs (abandoned-run check)")
    host: str | None = Field(default=None, description="Host name of the machine the run runs on")
    heartbeat_at: datetime | None = Field(default=None, description="Last time the live run wrote this file; a "
                                          "'running' run whose heartbeat stopped was abandoned")
    implement_of: str | None = Field(default=None, description="For paper-to-code runs: the generated folder")
