"""`/` on a past run: search every log of its folder, hits as file:line, enter opens the file at that line.
The searching is engine/record/search.py; this screen only shows it."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, OptionList, Static, TextArea
from textual.widgets.option_list import Option

from ...engine.record.search import LogHit, LogSearch, read_window, search_logs


class LogSearchScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "close", "Close", id="search.close"),
        Binding("ctrl+t", "toggle_regex", "Regex on/off", id="search.regex"),
    ]

    def __init__(self, run_dir: Path, query: str = "") -> None:
        super().__init__()
        self.run_dir = run_dir
        self.initial = query
        self.regex = False
        self.result: LogSearch | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="search"):
            yield Static(f"[b]Search the logs of[/b] {escape(self.run_dir.name)} · enter on a hit opens the file "
                         "there · ctrl+t regex · esc close", id="search-title")
            yield Input(value=self.initial, placeholder="text to find in run.log and every attempt's logs",
                        id="search-input")
            yield Static("", id="search-summary")
            yield OptionList(id="search-hits")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()
        if self.initial:
            self.run_search(self.initial)

    @on(Input.Submitted, "#search-input")
    def _submitted(self, event: Input.Submitted) -> None:
        self.run_search(event.value)

    @work(thread=True, exclusive=True, exit_on_error=False, group="log-search")
    def run_search(self, query: str) -> None:
        try:
            result = search_logs(self.run_dir, query, regex=self.regex)
        except ValueError as err:
            self.app.call_from_thread(self._show_error, str(err))
            return
        self.app.call_from_thread(self.show_result, result)

    def _show_error(self, message: str) -> None:
        self.query_one("#search-summary", Static).update(f"[red]{escape(message)}[/red]")
        self.query_one("#search-hits", OptionList).clear_options()

    def show_result(self, result: LogSearch) -> None:
        self.result = result
        hits = self.query_one("#search-hits", OptionList)
        hits.clear_options()
        hits.add_options([Option(f"[b]{escape(h.file)}[/b]:{h.line}  {escape(h.text)}", id=str(i))
                          for i, h in enumerate(result.hits)])
        more = " (the first ones; narrow the search)" if result.truncated else ""
        self.query_one("#search-summary", Static).update(
            f"{len(result.hits)} lines in {result.files} log files{more}" if result.hits
            else f"no line holds {escape(result.query)!r} in {result.files} log files" if result.query else "")
        if result.hits:
            hits.highlighted = 0
            hits.focus()

    @on(OptionList.OptionSelected, "#search-hits")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if self.result is not None and event.option.id is not None:
            self.app.push_screen(LogFileScreen(self.run_dir, self.result.hits[int(event.option.id)]))

    def action_toggle_regex(self) -> None:
        self.regex = not self.regex
        self.notify(f"regular expressions {'on' if self.regex else 'off'}")
        query = self.query_one("#search-input", Input).value
        if query:
            self.run_search(query)

    def action_close(self) -> None:
        self.dismiss(None)


class LogFileScreen(ModalScreen[None]):
    """One log file around a hit, the hit's line under the cursor, numbered as in the file."""

    BINDINGS = [Binding("escape", "close", "Back to the hits", id="logfile.close"),
                Binding("e", "edit", "Open in $EDITOR", id="logfile.edit",
                        tooltip="The file at the line under the cursor ($EDITOR +LINE where it understands it)")]

    def __init__(self, run_dir: Path, hit: LogHit) -> None:
        super().__init__()
        self.path = run_dir / hit.file
        self.hit = hit

    def compose(self) -> ComposeResult:
        start, lines = read_window(self.path, self.hit.line)
        self.start = start
        with Vertical(id="logfile"):
            yield Static(f"[b]{escape(self.hit.file)}[/b]:{self.hit.line} · {escape(str(self.path))}",
                         id="logfile-title")
            yield TextArea("\n".join(lines), read_only=True, show_line_numbers=True, line_number_start=start,
                           id="logfile-text")
        yield Footer()

    def on_mount(self) -> None:
        area = self.query_one("#logfile-text", TextArea)
        row = self.hit.line - self.start
        area.focus()
        area.select_line(row)
        area.scroll_cursor_visible(center=True, animate=False)

    @property
    def cursor_line(self) -> int:
        """The file's line number under the cursor."""
        return self.query_one("#logfile-text", TextArea).cursor_location[0] + self.start

    def action_close(self) -> None:
        self.dismiss(None)

    def action_edit(self) -> None:
        from ..editor import open_in_editor

        open_in_editor(self.app, self.path, self.cursor_line)
