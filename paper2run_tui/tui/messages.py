"""Textual messages that carry the engine's events onto the app's event loop."""

from __future__ import annotations

from textual.message import Message

from ..engine.contracts import Event


class EngineEvent(Message):
    """One typed engine event (anything but a log line; those go through the log buffer)."""

    def __init__(self, event: Event) -> None:
        super().__init__()
        self.event = event


class LogsPending(Message):
    """The log buffer went from empty to non-empty: flush soon (sent at most once per flush)."""
