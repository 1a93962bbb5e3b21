"""Scripted scenes for the TUI's tests, snapshots and README screenshots.

Two kinds of drivers, both going through the app's real sink and real gate:
- `events_job`: a constructed event stream (what a run emits), for widget-level tests and stable pictures;
- `FlakyExecutor` / `StreamingDiagnoser` / `FixedPlanner`: test implementations of the engine's ports, so the
  real `run_pipeline` drives the app (build fails on attempt 1, passes on attempt 2, with log events).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

from paper2run_tui.engine.build.base import (
    BuildRequest,
    BuildResult,
    PreflightReport,
    SmokeRequest,
    SmokeResult,
)
from paper2run_tui.engine.contracts import (
    AttemptFinished,
    AttemptSummary,
    BuildProgress,
    DecisionMade,
    DiagnosisDecision,
    DiagnosisDelta,
    DiagnosisReady,
    EnvPlan,
    FactsReady,
    GateOpened,
    GateRequest,
    LogLine,
    Message,
    PhaseChanged,
    PlanProposed,
    RepoFacts,
    RunFinished,
    RunMetadata,
    RunStarted,
)
from paper2run_tui.engine.contracts.facts import (
    Dependency,
    GpuMarker,
    LanguageShare,
    Manifest,
    PythonHint,
    SmokeCandidate,
)
from paper2run_tui.engine.diagnose.base import DiagnosisContext
from paper2run_tui.engine.pipeline import RunOutcome
from paper2run_tui.engine.plan.base import PlanContext, PlanResult
from paper2run_tui.engine.ports import Cancelled, CancelToken, EventSink, Reviewer
from paper2run_tui.engine.record.run_folder import RunFolder

DEMO_REPO = {
    "requirements.txt": "six==1.16.0\nnumpy==1.26.4\n",
    "demo/__init__.py": "import six\n",
    "demo/__main__.py": "print('demo ok')\n",
    "README.md": "# Demo\n\nRun `python -m demo`.\n",
}

PLAN = EnvPlan(
    base_image="python:3.11-slim",
    install_steps=["pip install -r requirements.txt"],
    smoke_command="python -m demo",
    python_version="3.11",
    notes="deterministic: Python 3.11 from requirements.txt",
)
REPAIRED = PLAN.model_copy(update={
    "system_packages": ["build-essential"],
    "install_steps": ["pip install --upgrade pip", "pip install -r requirements.txt"],
    "notes": "repair: numpy needs a compiler on slim images",
})
DIAGNOSIS_TEXT = [
    "The build **failed** on attempt 1 at `RUN pip install -r requirements.txt`:\n\n",
    "`numpy` tried to compile from source and no C compiler was found.\n\n",
    "- install `build-essential`\n- upgrade pip so a wheel is picked\n",
]
DIAGNOSIS = DiagnosisDecision(
    decision="repair", reason="numpy builds from source and the slim image has no compiler", confidence="high",
    new_plan=REPAIRED, failure_class="missing-compiler", matched_rules=["missing-compiler", "old-pip"], source="rules",
)
FACTS = RepoFacts(
    name="demo", commit="3f2a9c1d0b7e4a1f", is_python=True, primary_language="Python", files_seen=4, has_tests=False,
    languages=[LanguageShare(language="Python", files=2, bytes=60, share=0.9),
               LanguageShare(language="Markdown", files=1, bytes=7, share=0.1)],
    managers=["pip"],
    manifests=[Manifest(kind="requirements", manager="pip", source="requirements.txt")],
    dependencies=[Dependency(name="six", specifier="==1.16.0", raw="six==1.16.0", source="requirements.txt", line=1),
                  Dependency(name="numpy", specifier="==1.26.4", raw="numpy==1.26.4", source="requirements.txt", line=2)],
    python_hints=[PythonHint(spec="3.11", kind="readme", source="README.md", line=3)],
    smoke_candidates=[SmokeCandidate(command="python -m demo", kind="module-main", reason="demo/__main__.py",
                                     score=80, source="demo/__main__.py"),
                      SmokeCandidate(command="python -c 'import demo'", kind="import", reason="top-level package",
                                     score=40, source="demo/__init__.py")],
    gpu_markers=[GpuMarker(marker="torch.cuda.is_available", source="demo/train.py", line=12)],
)
BUILD_LOG_FAIL = [
    "Step 1/4 : FROM python:3.11-slim",
    "Step 2/4 : WORKDIR /repo",
    "Step 3/4 : COPY requirements.txt ./",
    "Step 4/4 : RUN pip install -r requirements.txt",
    "Collecting numpy==1.26.4",
    "\x1b[31mERROR: Failed building wheel for numpy\x1b[0m",
    "error: command 'gcc' failed: No such file or directory",
]
BUILD_LOG_OK = [
    "Step 1/5 : FROM python:3.11-slim",
    "Step 2/5 : RUN apt-get install -y build-essential",
    "Step 3/5 : COPY requirements.txt ./",
    "Step 4/5 : RUN pip install --upgrade pip && pip install -r requirements.txt",
    "Successfully installed numpy-1.26.4 six-1.16.0",
    "Step 5/5 : COPY . .",
]


# --- ports implemented for tests: the real pipeline drives the app -------------------------------------------


class FlakyExecutor:
    """Executor whose build fails for PLAN (no compiler) and passes for REPAIRED, streaming build and smoke logs.

    In a run that is attempt 1 failing and attempt 2 (the repair) passing; a resume from the repair passes at once.

    `hold` (if set) keeps the first build running until the cancel token fires: a live run to interrupt.
    """

    def __init__(self, *, hold: bool = False, extra_lines: int = 0) -> None:
        self.hold = hold
        self.extra_lines = extra_lines
        self.building = threading.Event()
        self.attempts: list[int] = []
        self.dockerfiles: list[str] = []

    def local_images(self) -> list[str]:
        return ["python:3.11-slim"]

    def gpu_runtime(self) -> bool:
        return False

    def preflight(self, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
        return PreflightReport(engine_version="scripted", base_image_present=True)

    def build(self, request: BuildRequest, sink: EventSink, cancel: CancelToken) -> BuildResult:
        self.attempts.append(request.attempt)
        self.dockerfiles.append(request.dockerfile)
        fails = "build-essential" not in request.dockerfile
        lines = BUILD_LOG_FAIL if fails else BUILD_LOG_OK
        steps = [line for line in lines if line.startswith("Step ")]
        for line in lines:
            sink.emit(LogLine(source="build", text=line, attempt=request.attempt))
            if line.startswith("Step "):
                sink.emit(BuildProgress(attempt=request.attempt, step=steps.index(line) + 1, total=len(steps),
                                        instruction=line.split(" : ", 1)[1]))
        for i in range(self.extra_lines):
            sink.emit(LogLine(source="build", text=f"progress line {i}", attempt=request.attempt))
        self.building.set()
        if self.hold:
            while not cancel.wait(0.02):
                pass
        cancel.raise_if_cancelled()
        if fails:
            return BuildResult(ok=False, seconds=1.0, steps_total=len(steps), failing_step=steps[-1],
                               error="RUN pip install -r requirements.txt returned 1")
        return BuildResult(ok=True, image_tag=request.tag, seconds=2.0, steps_total=len(steps), steps_cached=1)

    def smoke(self, request: SmokeRequest, sink: EventSink, cancel: CancelToken) -> SmokeResult:
        sink.emit(LogLine(source="smoke", text="demo ok", attempt=request.attempt))
        return SmokeResult(ok=True, outcome="exit-0", exit_code=0, seconds=0.5, highest_rung="entrypoint-help")


class StreamingDiagnoser:
    """Writes its diagnosis in chunks (DiagnosisDelta), like a model streaming, then proposes REPAIRED."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    def diagnose(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken) -> DiagnosisDecision:
        self.seen.append(ctx.attempt.number)
        for chunk in DIAGNOSIS_TEXT:
            sink.emit(DiagnosisDelta(attempt=ctx.attempt.number, text=chunk))
        return DIAGNOSIS


class FixedPlanner:
    """Proposes PLAN first; after a rejection, REPAIRED with the reason in its notes."""

    uses_rejection_reason = True

    def __init__(self) -> None:
        self.contexts: list[PlanContext] = []

    def plan(self, ctx: PlanContext, sink: EventSink, cancel: CancelToken) -> PlanResult:
        self.contexts.append(ctx)
        if ctx.rejected:
            reason = ctx.rejected[-1][1]
            return PlanResult(plan=REPAIRED.model_copy(update={"notes": f"asked again: {reason}"}), source="test")
        return PlanResult(plan=PLAN, source="deterministic")


# --- a constructed event stream (no pipeline): the same events a run emits --------------------------------


def engine_gate_request() -> GateRequest:
    """The repair gate as the engine asks it: both Dockerfiles rendered, the inputs to re-render, the verdict."""
    from paper2run_tui.engine.contracts import DockerfileInputs, PolicyContext
    from paper2run_tui.engine.policy import check_plan
    from paper2run_tui.engine.render.dockerfile import render_from_inputs

    inputs = DockerfileInputs(repo_name="demo", attempt=2)
    policy = PolicyContext(person_reviews=True)
    return GateRequest(
        attempt=2, kind="repair", proposed=REPAIRED, previous=PLAN, diagnosis=DIAGNOSIS, plan_source="rules",
        verdict=check_plan(REPAIRED, policy, source="rules"), dockerfile=render_from_inputs(REPAIRED, inputs),
        previous_dockerfile=render_from_inputs(PLAN, inputs.model_copy(update={"attempt": 1})),
        render_inputs=inputs, policy=policy,
    )



def events_job(run_dir: str = "runs/demo-20260101T000000Z", *, gate: bool = True, hold: threading.Event | None = None,
               finish: bool = True):  # type: ignore[no-untyped-def]
    """A JobFn that plays attempt 1 (build fails), the diagnosis, the gate, then attempt 2 (passes).

    `hold`: wait on it (or on cancel) after the first build logs — the run stays live.
    """

    def job(sink: EventSink, reviewer: Reviewer, cancel: CancelToken) -> RunOutcome:
        run_id = Path(run_dir).name
        try:
            sink.emit(RunStarted(run_dir=run_dir, repo="./demo", run_id=run_id, max_attempts=3))
            sink.emit(PhaseChanged(phase="analyze"))
            sink.emit(FactsReady(facts=FACTS))
            sink.emit(PhaseChanged(phase="plan"))
            sink.emit(PlanProposed(attempt=1, plan=PLAN, source="deterministic"))
            sink.emit(Message(level="warning", text="no CA bundle found; the build uses the image's own"))
            sink.emit(PhaseChanged(phase="build", attempt=1))
            steps = [line for line in BUILD_LOG_FAIL if line.startswith("Step ")]
            for line in BUILD_LOG_FAIL:
                sink.emit(LogLine(source="build", text=line, attempt=1))
                if line.startswith("Step "):
                    sink.emit(BuildProgress(attempt=1, step=steps.index(line) + 1, total=len(steps)))
            if hold is not None:
                while not hold.is_set():
                    if cancel.wait(0.02):
                        raise Cancelled(cancel.reason)
            cancel.raise_if_cancelled()
            sink.emit(AttemptFinished(attempt=1, outcome="build-failed", detail="pip install returned 1"))
            sink.emit(PhaseChanged(phase="diagnose", attempt=1))
            for chunk in DIAGNOSIS_TEXT:
                sink.emit(DiagnosisDelta(attempt=1, text=chunk))
            sink.emit(DiagnosisReady(attempt=1, diagnosis=DIAGNOSIS))
            plan = REPAIRED
            if gate:
                request = engine_gate_request()
                sink.emit(PhaseChanged(phase="gate", attempt=2))
                sink.emit(GateOpened(request=request))
                decision = reviewer.review(request, cancel)
                sink.emit(DecisionMade(attempt=2, decision=decision))
                if decision.action == "reject":
                    sink.emit(RunFinished(status="rejected-by-user", run_dir=run_dir, exit_code=8,
                                          reason=decision.reason or ""))
                    return RunOutcome("rejected-by-user", Path(run_dir), 8, decision.reason or "")
                plan = decision.plan or REPAIRED
            sink.emit(PlanProposed(attempt=2, plan=plan, source="rules"))
            if not finish:
                return RunOutcome("running", Path(run_dir), 1, "")
            sink.emit(PhaseChanged(phase="build", attempt=2))
            for line in BUILD_LOG_OK:
                sink.emit(LogLine(source="build", text=line, attempt=2))
            sink.emit(AttemptFinished(attempt=2, outcome="smoke-ok", smoke_rung="entrypoint-help"))
            sink.emit(RunFinished(status="success", run_dir=run_dir, reason="smoke run passed on attempt 2"))
            return RunOutcome("success", Path(run_dir), 0, "smoke run passed on attempt 2")
        except Cancelled as exc:
            sink.emit(RunFinished(status="interrupted", run_dir=run_dir, exit_code=130, reason=str(exc)))
            return RunOutcome("interrupted", Path(run_dir), 130, f"interrupted: {exc}")

    return job


# --- past runs on disk, in the run store's format -----------------------------------------------------------


def write_past_run(out: Path, run_id: str, *, repo: str, status: str, started: datetime, duration: float,
                   attempts: int = 2) -> Path:
    """A run folder as the engine leaves it (metadata, plans, Dockerfiles, logs, diagnosis, report)."""
    folder = RunFolder.create(out, repo, run_id)
    summaries = []
    for n in range(1, attempts + 1):
        plan = PLAN if n == 1 else REPAIRED
        last = n == attempts
        outcome = ("smoke-ok" if status == "success" else "build-failed") if last else "build-failed"
        folder.write_json(f"attempts/{n:02d}/plan.json", plan)
        folder.write_text(f"attempts/{n:02d}/Dockerfile", f"FROM {plan.base_image}\nWORKDIR /repo\n")
        log = BUILD_LOG_OK if outcome == "smoke-ok" else BUILD_LOG_FAIL
        folder.write_text(f"attempts/{n:02d}/build_stdout.log", "\n".join(log) + "\n")
        if outcome == "build-failed":
            folder.write_json(f"attempts/{n:02d}/diagnosis.json", DIAGNOSIS)
        if n > 1:
            folder.write_json(f"attempts/{n:02d}/decision.json", {"action": "approve", "decided_by": "person"})
        summaries.append(AttemptSummary(number=n, plan_source="rules" if n > 1 else "deterministic",
                                        outcome=outcome, decision="approve" if n > 1 else None))  # type: ignore[arg-type]
    final = REPAIRED if attempts > 1 else PLAN
    folder.write_json("plan.json", final)
    meta = RunMetadata(run_id=run_id, status=status, repo=repo, repo_name=Path(repo).name, started_at=started,  # type: ignore[arg-type]
                       finished_at=started, duration_s=duration, attempts=summaries, approve="ask",
                       image_tag=f"paper2run/{run_id.lower()}:attempt-{attempts:02d}" if status == "success" else None,
                       reason="smoke run passed" if status == "success" else "3 attempt(s) failed")
    folder.write_json("metadata.json", meta)
    folder.write_text("report.md", f"# {run_id}\n\nStatus: **{status}**\n")
    folder.write_text("INSTRUCTIONS.md", f"# How to run {repo}\n\n```sh\ndocker run --rm {meta.image_tag}\n```\n")
    return folder.root


def write_past_runs(out: Path) -> list[Path]:
    base = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    return [
        write_past_run(out, "micrograd-20260105T093000Z", repo="https://github.com/karpathy/micrograd",
                       status="success", started=base, duration=142.0, attempts=1),
        write_past_run(out, "nanogpt-20260104T180000Z", repo="https://github.com/karpathy/nanoGPT",
                       status="max-attempts-exhausted", started=base.replace(day=4, hour=18), duration=1210.0,
                       attempts=3),
        write_past_run(out, "demo-20260103T120000Z", repo="./demo", status="success",
                       started=base.replace(day=3, hour=12), duration=65.5, attempts=2),
        write_past_run(out, "transformer-20260102T080000Z", repo="https://github.com/harvardnlp/annotated-transformer",
                       status="interrupted", started=base.replace(day=2, hour=8), duration=30.0, attempts=1),
    ]


# --- settled scenes for snapshots and README screenshots ----------------------------------------------------


def no_blink(app) -> None:  # type: ignore[no-untyped-def]
    """Cursor blink off everywhere, so a picture does not depend on when it was taken."""
    for screen in app.screen_stack:
        for widget in screen.query("Input, TextArea"):
            widget.cursor_blink = False
            widget.refresh()  # repaint the cursor's line: it may have been drawn in the blink's "off" phase


async def wait_until(pilot, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("the scene did not settle in time")


def scene_app(start: str = "home", out: Path = Path("runs")):  # type: ignore[no-untyped-def]
    """The app with a frozen clock (elapsed stays 00:00) reading run folders from `out`."""
    from paper2run_tui.tui.app import Paper2RunApp

    return Paper2RunApp(start, None, out, clock=lambda: 0.0)  # type: ignore[arg-type]


async def settle_home(pilot) -> None:  # type: ignore[no-untyped-def]
    app = pilot.app
    await pilot.pause()
    await pilot.press(*"./does-not-exist")  # the inline validation at work
    await pilot.pause(0.2)
    no_blink(app)
    await pilot.pause()


async def settle_live_run(pilot, hold: threading.Event | None = None) -> None:  # type: ignore[no-untyped-def]
    """Attempt 1's build logs streaming, facts and first plan shown; the engine waits (still live)."""
    from textual.widgets import Log

    from paper2run_tui.tui.bridge import EngineJob

    app = pilot.app
    await pilot.pause()
    screen = app.start_job(EngineJob(title="./demo", run=events_job(hold=hold or threading.Event())))
    await wait_until(pilot, lambda: screen.is_mounted and screen.query(Log)
                     and any("gcc" in line for line in screen.query_one(Log).lines))
    await pilot.pause(0.3)
    screen.query_one(Log).focus()
    no_blink(app)
    await pilot.pause()


async def settle_gate_invalid(pilot) -> None:  # type: ignore[no-untyped-def]
    """The repair gate with an edit that breaks the plan: errors under the editor, approve disabled."""
    from textual.widgets import TextArea

    from paper2run_tui.tui.bridge import EngineJob
    from paper2run_tui.tui.screens.gate import GateScreen

    app = pilot.app
    await pilot.pause()
    app.start_job(EngineJob(title="./demo", run=events_job()))
    await wait_until(pilot, lambda: isinstance(app.screen, GateScreen))
    await pilot.pause(0.2)
    no_blink(app)
    area = app.screen.query_one("#plan-editor-text", TextArea)
    broken = REPAIRED.model_dump_json(indent=2).replace('"workdir": "/repo"', '"workdir": "repo"').replace(
        '"python -m demo"', '""')
    area.load_text(broken)
    area.move_cursor((3, 14))
    await pilot.pause(0.4)  # let the debounced check fire, then check at once so the picture never races it
    gate = app.screen
    gate.editor.validate_now()
    await wait_until(pilot, lambda: gate.query_one("#approve").disabled and gate.editor.errors)
    no_blink(app)
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()


async def settle_runs(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause(0.2)
    no_blink(pilot.app)
    await pilot.pause()


async def settle_help(pilot) -> None:  # type: ignore[no-untyped-def]
    """The help screen over the home screen (F1)."""
    from paper2run_tui.tui.screens.help import HelpScreen

    await pilot.pause()
    await pilot.press("f1")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, HelpScreen))
    await pilot.pause(0.3)
    no_blink(pilot.app)


async def settle_run_detail(pilot) -> None:  # type: ignore[no-untyped-def]
    """A past run (two attempts) opened from the browser, on its attempts tab."""
    await pilot.pause()
    pilot.app.open_run(Path("runs/demo-20260103T120000Z"))
    await pilot.pause(0.3)
    pilot.app.screen.query_one("#detail-tabs").active = "tab-attempts"
    await pilot.pause(0.3)
    no_blink(pilot.app)


async def settle_empty_home(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.pause(0.3)
    no_blink(pilot.app)


async def settle_resumed_gate(pilot) -> None:  # type: ignore[no-untyped-def]
    """Resuming the failed attempt 1 of a past run: the real pipeline opens the gate on the plan that failed, with
    its diagnosis, before attempt 2 is built (the repository is the past run's own checkout)."""
    from conftest import write_tree
    from textual.widgets import Log

    from paper2run_tui.settings import config_from_run
    from paper2run_tui.tui.bridge import EngineParts, resume_job
    from paper2run_tui.tui.screens.gate import GateScreen

    app = pilot.app
    await pilot.pause()
    past = Path("runs/nanogpt-20260104T180000Z")
    write_tree(past / "repo", DEMO_REPO)
    (past / "repo.json").write_text("{}")  # the old run's acquire completed: its checkout is whole
    config = config_from_run(past, {"approve": "ask"}).model_copy(update={"run_id": "nanogpt-20260106T100000Z", "no_ca": True})
    parts = EngineParts(planner=FixedPlanner(), diagnoser=StreamingDiagnoser(), executor=FlakyExecutor())
    app.start_job(resume_job(past, 1, parts, config))
    await wait_until(pilot, lambda: isinstance(app.screen, GateScreen), timeout=30)
    log = app.last_run.query_one(Log)
    await wait_until(pilot, lambda: log.lines and log.lines[-1].startswith("? the plan for attempt 2"))
    log.scroll_end(animate=False)
    await pilot.pause(0.5)  # the gate renders the Dockerfile through the editor's debounce: let it fire, then once more
    app.screen.editor.validate_now()
    await pilot.pause(0.3)
    # a settled editor: focused, cursor at the start (its cursor line is highlighted across the full width only
    # once the focus has arrived, which under load came after the snapshot)
    app.screen.editor.text_area.focus()
    app.screen.editor.text_area.move_cursor((0, 0))
    await pilot.pause(0.2)
    no_blink(app)
    await pilot.pause(0.2)
    await pilot.wait_for_scheduled_animations()


async def settle_log_search(pilot) -> None:  # type: ignore[no-untyped-def]
    """`/` on a past run: every log line holding "wheel", file and line."""
    from paper2run_tui.tui.screens.search import LogSearchScreen

    await pilot.pause()
    pilot.app.open_run(Path("runs/nanogpt-20260104T180000Z"))
    await pilot.pause(0.3)
    await pilot.press("slash")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LogSearchScreen))
    search = pilot.app.screen
    search.query_one("#search-input").value = "gcc"
    await pilot.press("enter")
    await wait_until(pilot, lambda: search.result is not None)
    await pilot.pause(0.3)
    no_blink(pilot.app)


async def settle_compare(pilot) -> None:  # type: ignore[no-untyped-def]
    """m on attempt 1 of a past run, v on attempt 3: how each ended, the plan and Dockerfile diffs."""
    from paper2run_tui.tui.screens.compare import CompareScreen

    await pilot.pause()
    pilot.app.open_run(Path("runs/nanogpt-20260104T180000Z"))
    await pilot.pause(0.3)
    detail = pilot.app.screen
    detail.query_one("#detail-tabs").active = "tab-attempts"
    detail.query_one("#attempt-list").focus()
    await pilot.press("up", "up", "m", "down", "down", "v")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, CompareScreen))
    await pilot.pause(0.3)
    no_blink(pilot.app)
