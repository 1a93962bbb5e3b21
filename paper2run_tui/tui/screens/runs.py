"""The runs browser: every run folder under --out, sortable and filterable."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from ...engine.record.store import list_runs
from ..widgets.runs_table import COLUMNS, EMPTY_HINT, RunsTable


class RunsScreen(Screen[None]):
    BINDINGS = [
        Binding("o", "open_selected", "Open run", id="runs.open"),
        Binding("ctrl+f", "filter", "Filter", id="runs.filter"),
        Binding("s", "cycle_sort", "Sort", id="runs.sort"),
        Binding("f5", "reload", "Reload", id="runs.reload", show=False),
        Binding("slash", "search_logs", "Search logs", id="runs.search", show=False,
                tooltip="Search every log of the selected run"),
        Binding("m", "mark", "Mark to compare", id="runs.mark", show=False,
                tooltip="Mark the selected run; v on another run compares their plans and Dockerfiles"),
        Binding("v", "compare", "Compare with marked", id="runs.compare", show=False),
        Binding("escape", "back", "Back", id="runs.back"),
    ]

    def compose(self) -> ComposeResult:
        yield Static(f"[b]Runs[/b] in {self.app.out}  ·  enter opens a run, click a header to sort",  # type: ignore[attr-defined]
                     id="runs-title")
        yield Input(placeholder="filter by repo, status or run id", id="runs-filter")
        yield Static("", id="runs-empty", classes="empty-state")
        yield RunsTable(id="runs-table")
        yield Footer()

    def on_mount(self) -> None:
        self.action_reload()
        self.query_one(RunsTable).focus()

    @property
    def table(self) -> RunsTable:
        return self.query_one(RunsTable)

    def action_reload(self) -> None:
        rows = list_runs(self.app.out)  # type: ignore[attr-defined]
        self.table.load(rows)
        empty = self.query_one("#runs-empty", Static)
        empty.update(EMPTY_HINT.format(out=self.app.out))  # type: ignore[attr-defined]
        empty.display = not rows

    def action_open_selected(self) -> None:
        path = self.table.selected_path
        if path is None:
            self.notify("No run selected.")
            return
        self.app.open_run(path)  # type: ignore[attr-defined]

    def action_mark(self) -> None:
        path = self.table.selected_path
        if path is not None:
            self.app.mark_for_compare(path, None)  # type: ignore[attr-defined]

    def action_compare(self) -> None:
        path = self.table.selected_path
        if path is not None:
            self.app.compare_with_mark(path, None)  # type: ignore[attr-defined]

    def action_search_logs(self) -> None:
        from .search import LogSearchScreen

        path = self.table.selected_path
        if path is None:
            self.notify("No run selected.")
            return
        self.app.push_screen(LogSearchScreen(path))

    def action_filter(self) -> None:
        self.query_one("#runs-filter", Input).focus()

    def action_cycle_sort(self) -> None:
        keys = [k for k, _ in COLUMNS]
        self.table.sort_by(keys[(keys.index(self.table.sort_key) + 1) % len(keys)])

    def action_back(self) -> None:
        box = self.query_one("#runs-filter", Input)
        if box.has_focus:
            self.table.focus()
            return
        self.app.pop_screen()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.table.set_filter(event.value)

    @on(Input.Submitted, "#runs-filter")
    def _filter_submitted(self) -> None:
        self.table.focus()

    @on(RunsTable.Open)
    def _open(self, event: RunsTable.Open) -> None:
        self.app.open_run(event.path)  # type: ignore[attr-defined]
