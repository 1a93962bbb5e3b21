"""RecordingSink: numbers every event, appends it to events.jsonl and run.log, tees log lines
into attempts/NN/<source>_<stream>.log, then forwards it to the client's sink."""

from __future__ import annotations

import threading
from typing import IO

from ..contracts import Event, LogLine
from ..ports import EventSink
from .run_folder import RunFolder

#: The log sources an attempt keeps in its own files (the rest go to run.log).
ATTEMPT_LOG_SOURCES = ("build", "smoke", "toy-run")


def attempt_log_name(source: str, stream: str) -> str:
    """attempts/NN/<source>_<stream>.log, e.g. smoke_stderr.log, toy_run_stdout.log (file names keep to _)."""
    return f"{source.replace('-', '_')}_{stream}.log"


def describe(event: Event) -> str:
    """One human line per event: run.log and the headless CLI print the same words."""
    # Comparing event.kind itself (not a copy) lets the type checker narrow the union.
    if event.kind == "run-started":
        return f"run {event.run_id} started for {event.repo} -> {event.run_dir}"
    if event.kind == "phase":
        at = f" (attempt {event.attempt})" if event.attempt else ""
        return f"phase {event.phase}{at}{': ' + event.detail if event.detail else ''}"
    if event.kind == "log":
        at = f"#{event.attempt} " if event.attempt else ""
        return f"{at}{event.source}/{event.stream}: {event.text}"
    if event.kind == "build-progress":
        return f"#{event.attempt} step {event.step}/{event.total}{' (cached)' if event.cached else ''} {event.instruction}"
    if event.kind == "message":
        return f"{event.level}: {event.text}"
    if event.kind == "paper":
        return f"paper: {event.paper.title or event.paper.source} ({len(event.paper.sections)} sections)"
    if event.kind == "facts":
        f = event.facts
        langs = ", ".join(f"{x.language} {x.share:.0%}" for x in f.languages[:3]) or "no code"
        return f"facts: {langs}; managers: {', '.join(f.managers) or 'none'}; {len(f.dependencies)} dependencies"
    if event.kind == "plan":
        return f"plan for attempt {event.attempt} ({event.source}): {event.plan.base_image}; smoke: {event.plan.smoke_command}"
    if event.kind == "policy":
        v = event.verdict
        head = f"policy on the {v.source or 'proposed'} plan for attempt {event.attempt}: {v.status}"
        return "\n".join([head, *(f"  policy: {line}" for line in v.lines())])
    if event.kind == "diagnosis-delta":
        return f"#{event.attempt} diagnosis…"
    if event.kind == "diagnosis":
        d = event.diagnosis
        return f"diagnosis of attempt {event.attempt}: {d.decision} ({d.confidence}, {d.source}): {d.reason}"
    if event.kind == "gate":
        return f"gate: {event.request.kind} plan for attempt {event.request.attempt} awaits a decision"
    if event.kind == "decision":
        h = event.decision
        return f"decision on attempt {event.attempt}: {h.action} by {h.decided_by}{': ' + h.reason if h.reason else ''}"
    if event.kind == "attempt-finished":
        return f"attempt {event.attempt} finished: {event.outcome}{' — ' + event.detail if event.detail else ''}"
    if event.kind == "run-finished":
        return f"run finished: {event.status}{' — ' + event.reason if event.reason else ''} ({event.run_dir})"
    return event.kind


class RecordingSink:
    """Thread-safe. Every event is on disk before the client sees it."""

    def __init__(self, folder: RunFolder, downstream: EventSink | None = None) -> None:
        self.folder = folder
        self.downstream = downstream
        self._lock = threading.Lock()
        self._seq = 0
        self._events: IO[str] = open(folder.events_path, "a", encoding="utf-8")  # noqa: SIM115
        self._runlog: IO[str] = open(folder.run_log_path, "a", encoding="utf-8")  # noqa: SIM115
        self._attempt_logs: dict[tuple[int, str, str], IO[str]] = {}
        self._closed = False
        self._client_failed = False

    def emit(self, event: Event) -> None:
        with self._lock:
            if self._closed:
                return
            self._seq += 1
            event.seq = self._seq
            event.run_id = self.folder.run_id
            self._events.write(event.model_dump_json() + "\n")
            self._events.flush()
            if event.kind == "diagnosis-delta":
                pass  # the full text lands with the DiagnosisReady event; keep run.log readable
            elif isinstance(event, LogLine) and event.attempt and event.source in ATTEMPT_LOG_SOURCES:
                self._attempt_log(event).write(event.text + "\n")
            else:
                self._runlog.write(f"{event.ts.strftime('%Y-%m-%dT%H:%M:%SZ')} {describe(event)}\n")
                self._runlog.flush()
        if self.downstream is not None:
            try:
                self.downstream.emit(event)
            except Exception as exc:  # noqa: BLE001 - a failing display must not lose the run; it is on disk
                self._client_error(exc)

    def _client_error(self, exc: Exception) -> None:
        with self._lock:
            if self._closed or self._client_failed:
                return
            self._client_failed = True
            self._runlog.write(f"client display failed ({type(exc).__name__}: {exc}); the run goes on, recorded here\n")
            self._runlog.flush()

    def _attempt_log(self, event: LogLine) -> IO[str]:
        key = (event.attempt or 0, event.source, event.stream)
        fh = self._attempt_logs.get(key)
        if fh is None:
            path = self.folder.attempt_dir(key[0]) / attempt_log_name(event.source, event.stream)
            fh = open(path, "a", encoding="utf-8")  # noqa: SIM115
            self._attempt_logs[key] = fh
        return fh

    def flush(self) -> None:
        with self._lock:
            for fh in self._attempt_logs.values():
                fh.flush()

    def close_attempt(self, attempt: int) -> None:
        """Flush and close one attempt's log files (before they are read for diagnosis)."""
        with self._lock:
            for key in [k for k in self._attempt_logs if k[0] == attempt]:
                self._attempt_logs.pop(key).close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fh in self._attempt_logs.values():
                fh.close()
            self._attempt_logs.clear()
            self._events.close()
            self._runlog.close()
