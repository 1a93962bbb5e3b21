"""The live run: facts, plan, logs and diagnosis, driven by the engine on a worker thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Log, Static
from textual.worker import Worker, WorkerState

from ...engine.contracts import (
    BuildProgress,
    DecisionMade,
    DiagnosisDelta,
    DiagnosisReady,
    Event,
    FactsReady,
    GateOpened,
    HumanDecision,
    Message,
    PaperReady,
    PhaseChanged,
    PlanProposed,
    RunFinished,
    RunStarted,
)
from ...engine.ports import CancelToken, EventSink, Reviewer
from ..bridge import EngineJob, TuiReviewer, TuiSink
from ..messages import EngineEvent, GateAbandoned, GateRequested
from ..widgets.diagnosis_pane import DiagnosisPane
from ..widgets.facts_pane import FactsPane
from ..widgets.log_pane import LogPane
from ..widgets.plan_pane import PlanPane
from .confirm import ConfirmScreen
from .gate import GateScreen

if TYPE_CHECKING:
    from ...engine.pipeline import RunOutcome

_GOOD = {"success", "dry-run"}


class RunScreen(Screen[None]):
    """One engine run. The engine's thread talks to it only through TuiSink and TuiReviewer."""

    BINDINGS = [
        Binding("x", "stop_run", "Stop run", id="run.stop"),
        Binding("z", "zoom", "Zoom pane", id="run.zoom"),
        Binding("p", "copy_folder", "Run folder", id="run.copy-folder", show=False),
        Binding("e", "copy_last_error", "Copy last error", id="run.copy-last-error", show=False),
        Binding("o", "open_folder", "Open run folder in $EDITOR", id="run.open-folder", show=False),
        Binding("escape", "back", "Back", id="run.back", show=False),
    ]

    def __init__(self, job: EngineJob, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.job = job
        self.clock = clock
        self.cancel = CancelToken()
        self.worker: Worker[RunOutcome] | None = None
        self.outcome: RunOutcome | None = None
        self.run_dir: str | None = None
        self.run_id = ""
        self.status = "starting"
        self.gate: GateScreen | None = None
        self.events_seen: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static(self._banner_text(), id="run-banner")
        with Vertical(id="panes"):
            with Horizontal(id="panes-top"):
                yield FactsPane(id="facts-pane")
                yield PlanPane(id="plan-pane")
            with Horizontal(id="panes-bottom"):
                yield LogPane(clock=self.clock, id="log-pane")
                yield DiagnosisPane(id="diagnosis-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.log_pane.start_clock()
        self.start()

    def on_unmount(self) -> None:
        # Closing under a live run (the app shut down without `exit`): a thread cannot be killed, so stop
        # the engine through its token; it records the run as interrupted instead of running on unwatched.
        if self.live:
            self.cancel.cancel("the app closed")

    # --- parts -----------------------------------------------------------------------------
    @property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    @property
    def plan_pane(self) -> PlanPane:
        return self.query_one(PlanPane)

    @property
    def live(self) -> bool:
        return self.worker is not None and self.worker.state in (WorkerState.PENDING, WorkerState.RUNNING)

    # --- the engine on its thread ------------------------------------------------------------
    def start(self) -> None:
        sink = TuiSink(self, self.log_pane.buffer)
        reviewer = TuiReviewer(self)
        self.worker = self._drive(sink, reviewer)

    @work(thread=True, exclusive=True, exit_on_error=False, group="engine")
    def _drive(self, sink: EventSink, reviewer: Reviewer) -> RunOutcome:
        return self.job.run(sink, reviewer, self.cancel)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.worker:
            return
        if event.state == WorkerState.SUCCESS:
            self.outcome = event.worker.result
            self._finished()
        elif event.state == WorkerState.ERROR:
            self.status = "exception"
            self._finished()
            error = event.worker.error
            self.app.show_error(f"The engine stopped with an error: {type(error).__name__}: {error}")  # type: ignore[attr-defined]

    def _finished(self) -> None:
        self.log_pane.flush()
        self.log_pane.stop_clock()
        if self.outcome is not None:
            self.status = self.outcome.status
            if self.outcome.run_dir is not None:
                self.run_dir = str(self.outcome.run_dir)
            if self.outcome.run_dir is None and self.outcome.reason:
                self.log_pane.write_now([f"✗ {self.outcome.reason}"])
        self.log_pane.status.phase = self.status
        self.log_pane.status.step = None
        self._update_banner()
        self.app.run_finished(self)  # type: ignore[attr-defined]

    # --- the gate: the engine's thread posts GateRequested and waits -----------------------------
    @on(GateRequested)
    def _gate_requested(self, message: GateRequested) -> None:
        self.log_pane.flush()  # everything up to the gate is on screen before the question is asked
        self.gate = GateScreen(message.request, log_lines=lambda: list(self.query_one(Log).lines))

        def decided(decision: HumanDecision | None) -> None:
            self.gate = None
            message.resolve(decision)

        self.app.push_screen(self.gate, decided)

    @on(GateAbandoned)
    def _gate_abandoned(self) -> None:
        self._close_gate()

    def _close_gate(self) -> None:
        if self.gate is not None:
            self.gate.abandon()

    @on(DiagnosisPane.ShowLine)
    def _show_line(self, message: DiagnosisPane.ShowLine) -> None:
        self.log_pane.show_line(message.line)
        self.log_pane.query_one(Log).focus()

    # --- events --------------------------------------------------------------------------------
    @on(EngineEvent)
    async def _engine_event(self, message: EngineEvent) -> None:
        await self.apply(message.event)

    async def apply(self, event: Event) -> None:
        """Update the panes for one engine event (its log line is already in the log buffer, in order)."""
        self.events_seen.append(event.kind)
        status = self.log_pane.status
        if isinstance(event, RunStarted):
            self.run_dir, self.run_id, self.status = event.run_dir, event.run_id, "running"
        elif isinstance(event, PhaseChanged):
            status.phase = event.phase
            if event.attempt is not None:
                status.attempt = event.attempt
            if event.phase != "build":
                status.step = None
            status.note = ""
        elif isinstance(event, BuildProgress):
            status.attempt, status.step = event.attempt, (event.step, event.total)
        elif isinstance(event, Message) and event.level == "error":
            self.notify(event.text, severity="error")
        elif isinstance(event, PaperReady):
            self.query_one(FactsPane).show_paper(event.paper)
        elif isinstance(event, FactsReady):
            self.query_one(FactsPane).show_facts(event.facts)
        elif isinstance(event, PlanProposed):
            self.plan_pane.show_plan(event.plan, event.attempt, event.source)
            self.plan_pane.show_dockerfile(event.attempt, event.dockerfile or "")
        elif isinstance(event, DiagnosisDelta):
            await self.query_one(DiagnosisPane).add_delta(event.attempt, event.text)
        elif isinstance(event, DiagnosisReady):
            await self.query_one(DiagnosisPane).show_decision(event.attempt, event.diagnosis)
            self.log_pane.mark_rule_lines(list(event.diagnosis.matched_lines.values()))
        elif isinstance(event, GateOpened):
            status.note = "waiting for your decision"
        elif isinstance(event, DecisionMade):
            status.note = ""
        elif isinstance(event, RunFinished):
            self.status, self.run_dir = event.status, event.run_dir
            status.step = None
        self._update_banner()

    def _banner_text(self) -> str:
        colour = "green" if self.status in _GOOD else ("yellow" if self.status in ("running", "starting") else "red")
        where = f" · {self.run_dir}" if self.run_dir else ""
        reason = ""
        if self.outcome is not None and self.outcome.reason and self.status not in ("running",):
            reason = f"\n{self.outcome.reason}"
        return f"[b]{self.job.title}[/b] · [{colour}]{self.status}[/{colour}]{where}{reason}"

    def _update_banner(self) -> None:
        self.query_one("#run-banner", Static).update(self._banner_text())

    # --- actions ----------------------------------------------------------------------------
    def action_stop_run(self) -> None:
        if not self.live:
            self.notify("The run has ended; nothing to stop.")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.abandon("stopped by the person")

        self.app.push_screen(
            ConfirmScreen("Stop this run? It will be recorded as interrupted.", yes="Stop run", no="Keep running"),
            answered,
        )

    def abandon(self, reason: str) -> None:
        """Fire the cancel token; the engine stops at its next check and records the run as interrupted."""
        self.cancel.cancel(reason)
        self.log_pane.status.note = "stopping…"
        self._close_gate()

    def action_zoom(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        focused = self.focused
        pane = None
        while focused is not None:
            if focused.parent is not None and focused.parent.id in ("panes-top", "panes-bottom"):
                pane = focused
                break
            focused = focused.parent  # type: ignore[assignment]
        self.maximize(pane or self.log_pane, container=False)

    def action_copy_folder(self) -> None:
        if not self.run_dir:
            self.notify("No run folder yet.")
            return
        self.app.copy_to_clipboard(self.run_dir)
        self.notify(f"Run folder: {self.run_dir} (copied)", timeout=8)

    def action_open_folder(self) -> None:
        from pathlib import Path

        from ..editor import open_in_editor

        if not self.run_dir:
            self.notify("No run folder yet.")
            return
        open_in_editor(self.app, Path(self.run_dir))

    def last_error(self) -> str | None:
        """The last line on screen that reads like an error (what a person pastes into an issue)."""
        for line in reversed(self.query_one(Log).lines):
            lowered = line.lower()
            if line.startswith("✗") or "error" in lowered or "traceback" in lowered or "failed" in lowered:
                return line
        return None

    def action_copy_last_error(self) -> None:
        line = self.last_error()
        if line is None:
            self.notify("No error on screen.")
            return
        self.app.copy_to_clipboard(line)
        where = f"; the full logs are in {self.run_dir}/attempts/ and run.log" if self.run_dir else ""
        self.notify(f"Copied: {line}{where}", timeout=10)

    def action_back(self) -> None:
        if self.live:
            self.notify("The run is live: stop it first (x), or quit (q) to abandon it.", severity="warning")
            return
        self.app.pop_screen()
