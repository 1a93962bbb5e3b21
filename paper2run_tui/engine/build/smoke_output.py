"""Output capped per attempt, of the smoke run and of the build: the head as it comes, the tail kept aside, the
middle only counted.

A smoke command (or a build step: setup.py is the repository's code too) that prints forever would otherwise fill
events.jsonl, the attempt's logs and the headless stdout (megabytes a second, for up to the whole timeout). What was
left out is said in a log line and in the report.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from typing import Any, Literal

from ..contracts import LogLine
from ..ports import EventSink
from .limits import OUTPUT_HEAD_BYTES, OUTPUT_TAIL_LINES

#: A "line" longer than this (output without newlines) is cut into pieces of this size.
MAX_LINE_CHARS = 16 * 1024
#: What a program prints when it runs as a user without root's rights: EACCES / EPERM in their usual spellings.
PERMISSION_ERROR = re.compile(r"Permission denied|PermissionError|\[Errno 13\]|EACCES|Operation not permitted")


class OutputCap:
    """Shared by the stdout and stderr pumps of one container (or the lines of one build). Thread-safe."""

    def __init__(self, sink: EventSink, attempt: int, head_bytes: int = OUTPUT_HEAD_BYTES,
                 tail_lines: int = OUTPUT_TAIL_LINES, source: Literal["smoke", "build", "toy-run"] = "smoke") -> None:
        self.sink, self.attempt, self.head_bytes, self.source = sink, attempt, head_bytes, source
        self._tail: deque[tuple[str, str]] = deque(maxlen=tail_lines)
        self._lock = threading.Lock()
        self.emitted_bytes = 0
        self.cut_lines = 0
        self.cut_bytes = 0
        self.permission_error: str | None = None  # the first line that reads like one (head, tail or cut)

    def line(self, stream: str, text: str) -> None:
        with self._lock:
            if self.permission_error is None and PERMISSION_ERROR.search(text):
                self.permission_error = text.strip()[:200]
            size = len(text.encode("utf-8", errors="replace")) + 1
            if self.emitted_bytes + size <= self.head_bytes and not self._tail:
                self.emitted_bytes += size
                self._emit(stream, text)
                return
            if len(self._tail) == self._tail.maxlen:
                _, dropped = self._tail[0]
                self.cut_lines += 1
                self.cut_bytes += len(dropped.encode("utf-8", errors="replace")) + 1
            self._tail.append((stream, text))

    def finish(self) -> str | None:
        """Emit the kept tail after a note of what was left out; returns that note (None when nothing was cut)."""
        with self._lock:
            tail, self._tail = list(self._tail), deque(maxlen=self._tail.maxlen)
            if not self.cut_lines:
                for stream, text in tail:
                    self._emit(stream, text)
                return None
            note = (f"{self.source} output cut: the first {self.emitted_bytes / 1e6:.1f} MB and the last {len(tail)} lines "
                    f"are kept; {self.cut_lines} lines ({self.cut_bytes / 1e6:.1f} MB) in between were left out")
            self._emit("stderr", f"[paper2run] {note}")
            for stream, text in tail:
                self._emit(stream, text)
            return note

    def _emit(self, stream: str, text: str) -> None:
        self.sink.emit(LogLine(source=self.source, stream=stream, text=text, attempt=self.attempt))  # type: ignore[arg-type]


def pump(container: Any, stream_name: str, cap: OutputCap) -> None:
    """Follow one stream of the container's logs into the cap, line by line."""
    try:
        buffer = ""
        for chunk in container.logs(stream=True, follow=True, stdout=stream_name == "stdout",
                                    stderr=stream_name == "stderr"):
            buffer += chunk.decode("utf-8", errors="replace")
            *lines, buffer = buffer.split("\n")
            while len(buffer) > MAX_LINE_CHARS:
                lines.append(buffer[:MAX_LINE_CHARS])
                buffer = buffer[MAX_LINE_CHARS:]
            for line in lines:
                cap.line(stream_name, line.rstrip("\r"))
        if buffer:
            cap.line(stream_name, buffer)
    except Exception:  # noqa: BLE001 - the container went away; its exit is handled by the caller
        return
