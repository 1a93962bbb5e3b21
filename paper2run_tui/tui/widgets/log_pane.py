"""The streaming log pane: a status line, a bounded `Log` fed in batches, and a search box."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, Log, Static

from ..log_buffer import LineBuffer

#: Lines kept on screen. The full log is on disk (attempts/NN/*.log); memory stays flat whatever its length.
SCREEN_LINES = 5_000
FLUSH_SECONDS = 0.08


def format_elapsed(seconds: float) -> str:
    seconds = max(0, int(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class MatchHighlighter(Highlighter):
    """Marks every occurrence of the search query, case-insensitively, as `less` does."""

    STYLE = "bold black on yellow"
    #: The log line a fired rule matched: the whole line, so the cause stands out in a long build log.
    RULE_STYLE = "bold white on dark_red"

    def __init__(self) -> None:
        self.pattern: re.Pattern[str] | None = None
        self.rule_lines: set[str] = set()

    def set_query(self, query: str) -> None:
        self.pattern = re.compile(re.escape(query), re.IGNORECASE) if query else None

    def highlight(self, text: Text) -> None:
        if self.rule_lines and any(line in text.plain for line in self.rule_lines):
            text.stylize(self.RULE_STYLE)
        if self.pattern is not None:
            text.highlight_regex(self.pattern, style=self.STYLE)


class LogStatus(Static):
    """attempt · phase · build step n/N · elapsed — the line a person reads first."""

    attempt: reactive[int | None] = reactive(None)
    phase: reactive[str] = reactive("waiting")
    step: reactive[tuple[int, int] | None] = reactive(None)
    elapsed: reactive[float] = reactive(0.0)
    note: reactive[str] = reactive("")

    def render(self) -> str:
        parts = [f"attempt {self.attempt}" if self.attempt else "attempt –", self.phase]
        if self.step is not None:
            parts.append(f"step {self.step[0]}/{self.step[1]}")
        parts.append(format_elapsed(self.elapsed))
        if self.note:
            parts.append(self.note)
        return " · ".join(parts)


class LogPane(Vertical):
    """Drains a LineBuffer every ~80 ms into a Log with one `write_lines` call.

    Follows the tail unless the person has scrolled up; `/` or ctrl+f searches what is on screen.
    """

    ALLOW_MAXIMIZE = True

    BINDINGS = [
        Binding("ctrl+f", "search", "Search log", id="log.search"),
        Binding("n", "next_match", "Next match", id="log.next-match", show=False),
        Binding("end", "follow", "Follow tail", id="log.follow", show=False),
    ]

    def __init__(
        self,
        buffer: LineBuffer | None = None,
        *,
        max_lines: int = SCREEN_LINES,
        clock: Callable[[], float] = time.monotonic,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.buffer = buffer or LineBuffer()
        self.max_lines = max_lines
        self.clock = clock
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.lines_shown = 0
        self.lines_dropped = 0
        self.flushes = 0
        self._query = ""
        self._match_line = -1
        self.highlighter = MatchHighlighter()

    def compose(self) -> ComposeResult:
        yield LogStatus(id="log-status")
        log = Log(max_lines=self.max_lines, auto_scroll=True, highlight=True, id="log")
        log.highlighter = self.highlighter
        yield log
        yield Input(placeholder="search the log (enter: next match, esc: close)", id="log-search")

    def on_mount(self) -> None:
        self.border_title = "Logs"
        self.query_one("#log-search").display = False
        self.set_interval(FLUSH_SECONDS, self.flush)
        self.set_interval(1.0, self._tick)

    # --- streaming ---------------------------------------------------------------------
    def flush(self) -> int:
        """Move every pending line onto the screen. Returns how many were written."""
        lines, dropped = self.buffer.drain()
        if not lines and not dropped:
            return 0
        log = self.query_one(Log)
        at_end = log.is_vertical_scroll_end or log.max_scroll_y == 0
        if dropped:
            self.lines_dropped += dropped
            lines.insert(0, f"… {dropped} lines not shown (the screen fell behind); the full log is in the run folder")
        log.write_lines(lines, scroll_end=at_end)
        self.lines_shown += len(lines)
        self.flushes += 1
        return len(lines)

    def write_now(self, lines: list[str]) -> None:
        """Queue lines and show them at once (engine messages, replays)."""
        self.buffer.extend(lines)
        self.flush()

    # --- status line -----------------------------------------------------------------
    @property
    def status(self) -> LogStatus:
        return self.query_one(LogStatus)

    def start_clock(self) -> None:
        self.started_at = self.clock()
        self.finished_at = None
        self._tick()

    def stop_clock(self) -> None:
        self.finished_at = self.clock()
        self._tick()

    def _tick(self) -> None:
        if self.started_at is None:
            return
        end = self.finished_at if self.finished_at is not None else self.clock()
        self.status.elapsed = end - self.started_at

    # --- search ----------------------------------------------------------------------
    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.focus()

    def action_follow(self) -> None:
        self.query_one(Log).scroll_end(animate=False)

    def action_next_match(self) -> None:
        if self._query:
            self.find(self._query, after=self._match_line)

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        if query != self._query:
            self._query, self._match_line = query, -1
            self._show_matches(query)
        self.find(query, after=self._match_line)

    def _show_matches(self, query: str) -> None:
        self.highlighter.set_query(query)
        log = self.query_one(Log)
        log.refresh_lines(0, log.line_count)

    def on_key(self, event: object) -> None:
        key = getattr(event, "key", "")
        box = self.query_one("#log-search", Input)
        if key == "escape" and box.has_focus:
            box.display = False
            self._query, self._match_line = "", -1
            self._show_matches("")
            self.query_one(Log).focus()
            getattr(event, "stop", lambda: None)()

    def mark_rule_lines(self, lines: list[str]) -> None:
        """Highlight the log lines the fired rules matched (see the diagnosis pane: `l` jumps to them)."""
        self.highlighter.rule_lines = {line for line in lines if line}
        log = self.query_one(Log)
        log.refresh_lines(0, log.line_count)

    def show_line(self, line: str) -> int | None:
        """Scroll to the last on-screen line holding `line` (a rule's match is the failure, near the end)."""
        log = self.query_one(Log)
        for index in range(len(log.lines) - 1, -1, -1):
            if line in log.lines[index]:
                log.auto_scroll = False
                log.scroll_to(y=max(0, index - 2), animate=False)
                self.status.note = f"matched line {index + 1}"
                return index
        self.status.note = "the matched line is no longer on screen: it is in the attempt's log files"
        return None

    def find(self, query: str, after: int = -1) -> int | None:
        """Scroll to the next on-screen line containing `query` (case-insensitive), wrapping around."""
        if not query:
            return None
        log = self.query_one(Log)
        needle = query.lower()
        lines = log.lines
        total = len(lines)
        order = list(range(after + 1, total)) + list(range(0, min(after + 1, total)))
        for index in order:
            if needle in lines[index].lower():
                self._match_line = index
                log.auto_scroll = False
                log.scroll_to(y=max(0, index - 2), animate=False)
                self.status.note = f"“{query}” at line {index + 1}"
                return index
        self.status.note = f"“{query}” not found on screen"
        return None
