"""Textual messages that carry the engine's events onto the app's event loop."""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message

from ..engine.contracts import Event, GateRequest, HumanDecision


class EngineEvent(Message):
    """One typed engine event (anything but a log line; those go through the log buffer)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class LogsPending(Message):
    """The log buffer went from empty to non-empty: flush soon (sent at most once per flush)."""


class GateRequested(Message):
    """The engine waits for a decision. Posted to the run screen, so it is handled after every earlier event
    (the panes show everything up to the gate before the modal opens)."""

    def __init__(self, request: GateRequest, resolve: Callable[[HumanDecision | None], None]) -> None:
        super().__init__()
        self.request = request
        self.resolve = resolve


class GateAbandoned(Message):
    """The cancel token fired while the gate was open: close it without a decision."""
