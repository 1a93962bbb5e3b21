"""Scripted implementations of the engine's ports, for tests of the loop and of the TUI.

They are clients' test doubles of the *ports* (Executor, Diagnoser, Reviewer), the seams the engine is built
around — the real DockerExecutor, rules and LLM are tested against a real engine and a real HTTP server in their
own tests. A scripted executor emits the same events a real build does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from paper2run_tui.engine.build.base import (
    BuildRequest,
    BuildResult,
    PreflightReport,
    SmokeRequest,
    SmokeResult,
)
from paper2run_tui.engine.contracts import (
    BuildProgress,
    DiagnosisDecision,
    EnvPlan,
    GateRequest,
    HumanDecision,
    LogLine,
)
from paper2run_tui.engine.diagnose.base import DiagnosisContext
from paper2run_tui.engine.errors import PreflightError
from paper2run_tui.engine.ports import CancelToken, EventSink


@dataclass
class Step:
    """What the scripted executor does for one attempt."""

    build_ok: bool = True
    build_log: list[str] = field(default_factory=lambda: ["Step 1/2 : FROM python:3.11-slim", "Step 2/2 : CMD x"])
    smoke_outcome: str = "exit-0"  # exit-0 | alive-at-timeout | failed
    smoke_log: list[str] = field(default_factory=lambda: ["ok"])
    exit_code: int = 0
    raise_in_build: BaseException | None = None
    wait_for_cancel: bool = False
    #: For a failed smoke command: the highest rung below it that the image still passed (the run's floor).
    floor_rung: str | None = None


class ScriptedExecutor:
    """Plays one Step per attempt; records the requests it received."""

    def __init__(self, steps: list[Step], *, preflight_error: str | None = None) -> None:
        self.steps = steps
        self.preflight_error = preflight_error
        self.builds: list[BuildRequest] = []
        self.smokes: list[SmokeRequest] = []
        self.building = threading.Event()

    def local_images(self) -> list[str]:
        return ["python:3.11-slim", "python:3.9-slim", "python:3.13-slim"]

    def gpu_runtime(self) -> bool:
        return False

    def preflight(self, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
        if self.preflight_error:
            raise PreflightError(self.preflight_error, "start the Docker engine")
        return PreflightReport(engine_version="scripted", base_image_present=True)

    def _step(self, attempt: int) -> Step:
        return self.steps[min(attempt, len(self.steps)) - 1]

    def build(self, request: BuildRequest, sink: EventSink, cancel: CancelToken) -> BuildResult:
        self.builds.append(request)
        step = self._step(request.attempt)
        self.building.set()
        total = len(step.build_log)
        for i, line in enumerate(step.build_log, 1):
            sink.emit(LogLine(source="build", text=line, attempt=request.attempt))
            if line.startswith("Step "):
                sink.emit(BuildProgress(attempt=request.attempt, step=i, total=total, instruction=line))
        if step.wait_for_cancel:
            while not cancel.wait(0.05):
                pass
        cancel.raise_if_cancelled()
        if step.raise_in_build is not None:
            raise step.raise_in_build
        if not step.build_ok:
            return BuildResult(ok=False, seconds=0.1, steps_total=total, failing_step="RUN pip install -r x",
                               error="The command returned a non-zero code: 1")
        return BuildResult(ok=True, image_tag=request.tag, seconds=0.1, steps_total=total, steps_cached=0)

    def smoke(self, request: SmokeRequest, sink: EventSink, cancel: CancelToken) -> SmokeResult:
        self.smokes.append(request)
        step = self._step(request.attempt)
        stream = "stdout" if step.smoke_outcome != "failed" else "stderr"
        for line in step.smoke_log:
            sink.emit(LogLine(source="smoke", stream=stream, text=line, attempt=request.attempt))
        ok = step.smoke_outcome in ("exit-0", "alive-at-timeout")
        return SmokeResult(ok=ok, outcome=step.smoke_outcome, exit_code=None if step.smoke_outcome ==  # type: ignore[arg-type]
                           "alive-at-timeout" else step.exit_code, seconds=0.1,
                           highest_rung="import-package" if ok else step.floor_rung)  # type: ignore[arg-type]


class ScriptedDiagnoser:
    """Returns the queued decisions in order, and records the contexts it saw."""

    def __init__(self, decisions: list[DiagnosisDecision]) -> None:
        self.decisions = list(decisions)
        self.contexts: list[DiagnosisContext] = []

    def diagnose(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken) -> DiagnosisDecision:
        self.contexts.append(ctx)
        return self.decisions.pop(0)


class ScriptedReviewer:
    """Answers the gate from a list (or a function of the request); records every request."""

    def __init__(self, answers: list[HumanDecision] | Callable[[GateRequest], HumanDecision]) -> None:
        self.answers = answers
        self.requests: list[GateRequest] = []

    def review(self, request: GateRequest, cancel: CancelToken) -> HumanDecision:
        self.requests.append(request)
        if callable(self.answers):
            return self.answers(request)
        return self.answers.pop(0)


def repair(plan: EnvPlan, reason: str = "install the missing module", **changes: object) -> DiagnosisDecision:
    return DiagnosisDecision(decision="repair", reason=reason, confidence="high", source="rules",
                             matched_rules=["missing-module"], new_plan=plan.model_copy(update=changes))


class FixedPlanner:
    """Proposes the given plans in order (the last one repeats); records the contexts."""

    def __init__(self, *plans: EnvPlan) -> None:
        self.plans = list(plans)
        self.contexts: list[object] = []

    def plan(self, ctx, sink, cancel):  # type: ignore[no-untyped-def]
        from paper2run_tui.engine.plan.base import PlanResult

        self.contexts.append(ctx)
        plan = self.plans.pop(0) if len(self.plans) > 1 else self.plans[0]
        return PlanResult(plan=plan, source="test")


BASE_PLAN = EnvPlan(
    base_image="python:3.11-slim",
    install_steps=["pip install -r requirements.txt"],
    smoke_command='python -c "import demo"',
)
