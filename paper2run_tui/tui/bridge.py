"""Adapters between the engine's ports and the app: the sink, the reviewer, and the jobs run in a worker.

The engine runs on a worker thread. Nothing here touches a widget from that thread: events become
posted messages, log lines go to a thread-safe buffer, and the gate opens its modal with
`call_from_thread` and waits on a Future while polling the cancel token.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.config import RunConfig
from ..engine.contracts import Event, GateRequest, HumanDecision, LogLine
from ..engine.ports import Cancelled, CancelToken, EventSink, Reviewer
from .log_buffer import LineBuffer, normalise_line
from .messages import EngineEvent, GateAbandoned, GateRequested

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

    from ..engine.pipeline import RunOutcome


def format_log_line(event: LogLine) -> list[str]:
    """The lines shown for one LogLine: build output as is, other sources tagged with where they came from."""
    lines = normalise_line(event.text)
    if event.source == "build":
        return lines
    tag = f"{event.source}{'!' if event.stream == 'stderr' else ''}│ "
    return [tag + line for line in lines]


def event_lines(event: Event) -> list[str]:
    """What an event adds to the log pane (besides updating its own pane): one line, or none."""
    k = event.kind
    if k == "log":
        return format_log_line(event)  # type: ignore[arg-type]
    if k == "run-started":
        return [f"▶ run {event.run_id} → {event.run_dir}"]  # type: ignore[union-attr]
    if k == "phase":
        at = f" · attempt {event.attempt}" if event.attempt else ""  # type: ignore[union-attr]
        return [f"── {event.phase}{at}{' · ' + event.detail if event.detail else ''}"]  # type: ignore[union-attr]
    if k == "message":
        mark = {"info": "ℹ", "warning": "▲", "error": "✗"}[event.level]  # type: ignore[union-attr]
        return normalise_line(f"{mark} {event.text}")  # type: ignore[union-attr]
    if k == "paper":
        return [f"ℹ paper: {event.paper.title or event.paper.source}"]  # type: ignore[union-attr]
    if k == "plan":
        return [f"ℹ plan for attempt {event.attempt} ({event.source}): {event.plan.base_image}"]  # type: ignore[union-attr]
    if k == "policy":
        v = event.verdict  # type: ignore[union-attr]
        if not v.findings:
            return []
        head = f"{'✗' if v.blocks else '⚑'} plan policy on the {v.source} plan for attempt {event.attempt}: {v.status}"  # type: ignore[union-attr]
        return [head, *(part for line in v.lines() for part in normalise_line(f"  {line}"))]
    if k == "diagnosis":
        d = event.diagnosis  # type: ignore[union-attr]
        return [f"ℹ diagnosis of attempt {event.attempt}: {d.decision} ({d.confidence}, {d.source})"]  # type: ignore[union-attr]
    if k == "gate":
        return [f"? the plan for attempt {event.request.attempt} waits for your decision"]  # type: ignore[union-attr]
    if k == "decision":
        d = event.decision  # type: ignore[union-attr]
        why = f" — {d.reason} (then: {d.then})" if d.reason else ""
        return [f"✔ decision on attempt {event.attempt}: {d.action} by {d.decided_by}{why}"]  # type: ignore[union-attr]
    if k == "attempt-finished":
        detail = f" — {event.detail}" if event.detail else ""  # type: ignore[union-attr]
        return normalise_line(f"■ attempt {event.attempt}: {event.outcome}{detail}")  # type: ignore[union-attr]
    if k == "llm-call":
        c = event.call  # type: ignore[union-attr]
        failed = "" if c.ok else f" — failed: {c.error or ''}"
        return [f"ℹ model call ({c.purpose}, {c.model}): {c.prompt_tokens}+{c.completion_tokens} tokens, "
                f"{c.latency_s:.1f}s{failed}"]
    if k == "run-finished":
        reason = f" — {event.reason}" if event.reason else ""  # type: ignore[union-attr]
        return normalise_line(f"■ run finished: {event.status}{reason}")  # type: ignore[union-attr]
    return []


class TuiSink:
    """EventSink for the app. Called on the engine's thread.

    Every event's log-pane lines go into the LineBuffer at once, so the log keeps the engine's order;
    every event except a log line is also posted as an EngineEvent for the pane it updates. Both
    `buffer.extend` and `post_message` are thread-safe.
    """

    def __init__(self, target: MessagePump, buffer: LineBuffer) -> None:
        self.target = target
        self.buffer = buffer

    def emit(self, event: Event) -> None:
        if isinstance(event, LogLine):
            self.buffer.extend(format_log_line(event))
            return
        lines = event_lines(event)
        if lines:
            self.buffer.extend(lines)
        self.target.post_message(EngineEvent(event))


class TuiReviewer:
    """The human gate as the engine sees it: blocks its thread until the person decides in the modal.

    The request is posted to the run screen as a message (thread-safe, and ordered after the events emitted
    before it); the screen opens the modal, whose result resolves a Future this thread waits on while it
    polls the cancel token.
    """

    def __init__(self, target: MessagePump) -> None:
        self.target = target

    def review(self, request: GateRequest, cancel: CancelToken) -> HumanDecision:
        decided: Future[HumanDecision | None] = Future()

        def resolve(decision: HumanDecision | None) -> None:
            if not decided.done():
                decided.set_result(decision)

        if not self.target.post_message(GateRequested(request, resolve)):
            raise Cancelled("the app closed before the plan was decided")
        while True:
            try:
                decision = decided.result(timeout=0.1)
            except FutureTimeout:
                if cancel.cancelled:
                    self.target.post_message(GateAbandoned())
                    raise Cancelled(cancel.reason or "cancelled at the gate") from None
                continue
            if decision is None:
                raise Cancelled(cancel.reason or "the gate was closed without a decision")
            return decision


#: What the worker runs: (sink, reviewer, cancel) -> RunOutcome.
JobFn = Callable[[EventSink, Reviewer, CancelToken], "RunOutcome"]


@dataclass
class EngineParts:
    """Injected engine steps (tests and screenshots pass scripted ones); None = the engine's defaults."""

    planner: Any = None
    diagnoser: Any = None
    executor: Any = None

    def kwargs(self) -> dict[str, Any]:
        return {"planner": self.planner, "diagnoser": self.diagnoser, "executor": self.executor}


@dataclass
class EngineJob:
    """One engine run for the run screen: a title and the call that drives it."""

    title: str
    run: JobFn
    config: RunConfig | None = None
    resumed_from: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def new_run_job(config: RunConfig, parts: EngineParts) -> EngineJob:
    def run(sink: EventSink, reviewer: Reviewer, cancel: CancelToken) -> RunOutcome:
        from ..engine.pipeline import run_pipeline

        return run_pipeline(config, sink, reviewer, cancel, **parts.kwargs())

    return EngineJob(title=config.repo, run=run, config=config)


def resume_job(run_dir: Path, attempt: int, parts: EngineParts, config: RunConfig) -> EngineJob:
    """Resume from the app: the old run's configuration (a person is watching, so `config` asks at the gate),
    and the gate opens before the first build so the plan can be edited."""

    def run(sink: EventSink, reviewer: Reviewer, cancel: CancelToken) -> RunOutcome:
        from ..engine.resume import resume_run

        return resume_run(run_dir, attempt, sink, reviewer, cancel, config=config, gate=True, **parts.kwargs())

    return EngineJob(title=f"{run_dir.name} from attempt {attempt}", run=run, config=config,
                     resumed_from=f"{run_dir.name}/{attempt:02d}")
