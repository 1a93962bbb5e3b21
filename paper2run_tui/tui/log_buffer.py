"""Log lines between the engine's thread and the screen: normalised, buffered, bounded.

The engine can emit 50k+ lines a second. Writing each to a widget would starve the event loop, so
lines are normalised on the emitting thread, parked in a buffer, and the log pane drains the buffer
on a timer (~80 ms) with one `Log.write_lines` call. The buffer is bounded: if the screen falls
behind, the oldest unshown lines are dropped (and counted) — the full log is on disk in the run folder.
"""

from __future__ import annotations

import re
import threading
from collections import deque

#: CSI / OSC / single-character escape sequences, as terminals and docker build output them.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
#: Any remaining C0 control character except tab (tabs are expanded by the Log widget).
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Anything that needs work: escapes, \r, \n and other control characters. Most lines have none.
_SPECIAL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")

#: A line longer than this is cut: one giant line must not hang the renderer (Textualize/toolong#55).
MAX_LINE_CHARS = 2000


def normalise_line(text: str, max_chars: int = MAX_LINE_CHARS) -> list[str]:
    """One raw chunk of output -> the lines a terminal would show.

    `\\r` rewinds the line (progress bars): only the last segment survives. ANSI escapes and control
    characters are removed. Embedded newlines split the chunk. Over-long lines are cut with a marker.
    """
    if len(text) <= max_chars and not _SPECIAL.search(text):
        return [text]  # the fast path: a plain line
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    out: list[str] = []
    for raw in text.split("\n"):
        if "\r" in raw:
            segments = [s for s in raw.split("\r") if s]
            raw = segments[-1] if segments else ""
        if _CONTROL.search(raw):
            raw = _CONTROL.sub("", raw)
        if len(raw) > max_chars:
            raw = f"{raw[:max_chars]} … [{len(raw) - max_chars} more characters; full line in the run folder]"
        out.append(raw)
    if len(out) > 1 and out[-1] == "":
        out.pop()
    return out


class LineBuffer:
    """Thread-safe FIFO of display lines with a hard cap; `drain` hands everything over at once."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._lines: deque[str] = deque()
        self._lock = threading.Lock()
        self._dropped = 0
        self.total = 0

    def extend(self, lines: list[str]) -> None:
        with self._lock:
            self._lines.extend(lines)
            self.total += len(lines)
            over = len(self._lines) - self.capacity
            if over > 0:
                for _ in range(over):
                    self._lines.popleft()
                self._dropped += over

    def drain(self) -> tuple[list[str], int]:
        """All pending lines and how many were dropped since the last drain."""
        with self._lock:
            lines = list(self._lines)
            self._lines.clear()
            dropped, self._dropped = self._dropped, 0
        return lines, dropped

    def __len__(self) -> int:
        return len(self._lines)
