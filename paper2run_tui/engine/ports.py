"""The engine's ports: events out (EventSink), decisions in (Reviewer), and a CancelToken.

The TUI, the headless CLI and the tests each provide their own implementations; the
engine never knows which client drives it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol

from .contracts import Event, GateRequest, HumanDecision


class Cancelled(Exception):
    """Raised inside the engine when the cancel token fires (Ctrl-C, the person quit)."""

    #: Set by a build that was stopped: the ids of the step containers and layers it had made (cleanup's).
    build_leftovers: tuple[str, ...] = ()


class CancelToken:
    """Thread-safe cancellation flag that blocking steps poll between chunks of work."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""

    def cancel(self, reason: str = "cancelled") -> None:
        self.reason = reason
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled(self.reason or "cancelled")

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; return True early if cancelled."""
        return self._event.wait(seconds)


class EventSink(Protocol):
    """Receives every event. `emit` may be called from any thread and must not block for long."""

    def emit(self, event: Event) -> None: ...


class Reviewer(Protocol):
    """The human gate. Blocks the engine's thread until a decision is made (or cancel fires)."""

    def review(self, request: GateRequest, cancel: CancelToken) -> HumanDecision: ...


class CallbackSink:
    """Adapts a plain function to an EventSink."""

    def __init__(self, fn: Callable[[Event], None]) -> None:
        self._fn = fn

    def emit(self, event: Event) -> None:
        self._fn(event)


class ListSink:
    """Collects events in memory (tests, replays)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def emit(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]
