"""The table of past runs: sortable by any column, filterable by text; a row opens the run."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from ...engine.record.store import RunSummary
from .log_pane import format_elapsed

STATUS_STYLE = {"success": "green", "dry-run": "cyan", "running": "yellow", "interrupted": "yellow",
                "engine-lost": "red", "abandoned": "red"}
#: (key, label) in display order.
COLUMNS = [("started", "Started"), ("status", "Status"), ("repo", "Repo"), ("attempts", "Att."),
           ("duration", "Duration"), ("run_id", "Run")]
SHORT_COLUMNS = ("started", "status", "repo")


def short_repo(repo: str) -> str:
    """'https://github.com/owner/name(.git)' -> 'owner/name'; anything else as given."""
    for prefix in ("https://github.com/", "http://github.com/", "git@github.com:"):
        if repo.startswith(prefix):
            return repo.removeprefix(prefix).removesuffix(".git").rstrip("/")
    return repo


def _sort_value(row: RunSummary, key: str) -> object:
    if key == "started":
        return row.started_at or datetime.min.replace(tzinfo=None)
    if key == "duration":
        return row.duration_s if row.duration_s is not None else -1.0
    return getattr(row, key)


class RunsTable(DataTable[object]):
    """Rows are RunSummary objects from the run store; the row key is the run folder's path."""

    class Open(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    def __init__(self, id: str | None = None, columns: tuple[str, ...] | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.column_keys = [k for k, _ in COLUMNS if columns is None or k in columns]
        self.rows_all: list[RunSummary] = []
        self.shown: list[RunSummary] = []
        self.filter_text = ""
        self.sort_key = "started"
        self.sort_reverse = True

    def on_mount(self) -> None:
        labels = dict(COLUMNS)
        for key in self.column_keys:
            self.add_column(labels[key], key=key)

    def load(self, rows: list[RunSummary]) -> None:
        self.rows_all = list(rows)
        self.refresh_rows()

    def set_filter(self, text: str) -> None:
        self.filter_text = text.strip().lower()
        self.refresh_rows()

    def sort_by(self, key: str) -> None:
        """Sort by a column; choosing the same column again flips the order."""
        if key == self.sort_key:
            self.sort_reverse = not self.sort_reverse
        else:
            self.sort_key, self.sort_reverse = key, key in ("started", "duration", "attempts")
        self.refresh_rows()

    def refresh_rows(self) -> None:
        needle = self.filter_text
        rows = [r for r in self.rows_all
                if not needle or needle in f"{r.run_id} {r.repo} {r.status}".lower()]
        rows.sort(key=lambda r: _sort_value(r, self.sort_key), reverse=self.sort_reverse)  # type: ignore[arg-type,return-value]
        self.shown = rows
        self.clear()
        for r in rows:
            when = r.started_at.strftime("%Y-%m-%d %H:%M") if r.started_at else "?"
            took = format_elapsed(r.duration_s) if r.duration_s is not None else "–"
            cells = {"started": when, "status": Text(r.status, style=STATUS_STYLE.get(r.status, "red")),
                     "repo": short_repo(r.repo), "attempts": str(r.attempts), "duration": took, "run_id": r.run_id}
            self.add_row(*(cells[k] for k in self.column_keys), key=str(r.path))
        arrow = "▼" if self.sort_reverse else "▲"
        label = dict(COLUMNS)[self.sort_key]
        self.border_subtitle = f"{len(rows)} of {len(self.rows_all)} runs · sorted by {label} {arrow}"

    @property
    def selected_path(self) -> Path | None:
        if not self.shown or self.cursor_row < 0 or self.cursor_row >= len(self.shown):
            return None
        return self.shown[self.cursor_row].path

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Open(Path(event.row_key.value)))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_key.value is not None:
            self.sort_by(event.column_key.value)
