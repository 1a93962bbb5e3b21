"""The batch screen: a live table of the batch's repositories (status, rung, attempt, elapsed, engine or job),
fed by the engine's batch scheduler from a worker thread; enter opens a repository's run folder."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from ...engine.batch.scheduler import BatchSpec, run_batch
from ...engine.batch.state import BatchRow
from ...engine.batch.summary import write_summary
from ...engine.config import RunConfig
from ...engine.contracts import HumanDecision
from ...engine.ports import CancelToken
from ..bridge import TuiReviewer
from ..messages import GateRequested
from .gate import GateScreen

COLUMNS = [("key", "repository"), ("status", "status"), ("phase", "phase"), ("rung", "rung"),
           ("attempt", "attempt"), ("elapsed", "elapsed"), ("where", "engine / job")]


class _ScreenSink:
    """The scheduler's callbacks, marshalled onto the app's thread."""

    def __init__(self, screen: BatchScreen) -> None:
        self.screen = screen

    def _call(self, fn: Callable[..., Any], *args: Any) -> None:
        self.screen.app.call_from_thread(fn, *args)

    def row_changed(self, row: BatchRow) -> None:
        self._call(self.screen.show_row, row.model_copy(deep=True))

    def row_finished(self, row: BatchRow, done: int, total: int) -> None:
        self._call(self.screen.row_done, row.model_copy(deep=True), done, total)

    def message(self, text: str) -> None:
        self._call(self.screen.notify, text)


class BatchScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "open_selected", "Open run", id="batch.open"),
        Binding("g", "next_gate", "Next gate", id="batch.next-gate"),
        Binding("x", "stop", "Stop batch", id="batch.stop"),
        Binding("escape", "back", "Back", id="batch.back"),
    ]

    def __init__(self, spec: BatchSpec, base: RunConfig, run: Callable[..., Any] | None = None) -> None:
        super().__init__()
        self.spec, self.base, self.runner = spec, base, run
        self.cancel = CancelToken()
        self.rows: dict[str, BatchRow] = {}
        self.done = 0
        self.finished = False
        #: Gates of --approve ask, oldest first: each holds one run's worker until it is decided.
        self.gates: list[GateRequested] = []
        self.gate_open = False

    def compose(self) -> ComposeResult:
        yield Static(f"[b]Batch[/b] {len(self.spec.items)} repositories · {self.spec.folder}", id="batch-title")
        yield Static("", id="batch-progress")
        yield Static("", id="batch-gates")
        yield DataTable(id="batch-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(label, key=key)
        for item in self.spec.items:
            row = BatchRow(item=item)
            self.rows[item.key] = row
            table.add_row(*self._cells(row), key=item.key)
        table.focus()
        self.set_interval(1.0, self._tick)
        self.run_worker(self._run, thread=True, group="batch", exit_on_error=False)

    def _run(self) -> None:
        reviewer = TuiReviewer(self) if self.base.approve == "ask" else None
        state = run_batch(self.spec, self.base, _ScreenSink(self), self.cancel, run=self.runner, reviewer=reviewer)
        write_summary(state, self.spec.folder)
        self.app.call_from_thread(self._batch_done, [r.model_copy(deep=True) for r in state.rows])

    @staticmethod
    def _elapsed(row: BatchRow) -> str:
        if row.seconds is not None and row.state != "running":
            return f"{row.seconds:.0f}s"
        if row.started_at is not None and row.state == "running":
            return f"{(datetime.now(UTC) - row.started_at).total_seconds():.0f}s"
        return "-"

    def _cells(self, row: BatchRow) -> list[str]:
        where = (row.engine or "-") + (f" job {row.job}" if row.job else "")
        return [row.item.key, row.status or row.state, row.phase or "-", row.rung or "-",
                str(row.attempt) if row.attempt else "-", self._elapsed(row), where]

    def show_row(self, row: BatchRow) -> None:
        self.rows[row.item.key] = row
        table = self.query_one(DataTable)
        for (key, _), value in zip(COLUMNS, self._cells(row), strict=True):
            table.update_cell(row.item.key, key, value)

    def row_done(self, row: BatchRow, done: int, total: int) -> None:
        self.done = done
        self.show_row(row)
        self.query_one("#batch-progress", Static).update(f"{done}/{total} finished")

    def _batch_done(self, rows: list[BatchRow]) -> None:
        for row in rows:
            self.show_row(row)
        self.finished = True
        self.query_one("#batch-progress", Static).update(
            f"{sum(r.state == 'done' for r in rows)}/{len(rows)} finished · summary in {self.spec.folder}/summary.md")

    def _tick(self) -> None:
        for row in self.rows.values():
            if row.state == "running":
                self.query_one(DataTable).update_cell(row.item.key, "elapsed", self._elapsed(row))

    @property
    def selected(self) -> BatchRow | None:
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return self.rows.get(str(key))

    def action_open_selected(self) -> None:
        row = self.selected
        if row is None or not row.run_dir or not (Path(row.run_dir) / "metadata.json").is_file():
            self.notify("That repository has no run folder yet.")
            return
        self.app.open_run(Path(row.run_dir))  # type: ignore[attr-defined]

    @on(GateRequested)
    def _gate_requested(self, message: GateRequested) -> None:
        self.gates.append(message)
        self._show_gates()
        self.notify(f"A plan waits for you (attempt {message.request.attempt}): g opens it.")

    def _show_gates(self) -> None:
        self.query_one("#batch-gates", Static).update(
            f"{len(self.gates)} gate(s) waiting · g opens the next" if self.gates else "")

    def action_next_gate(self) -> None:
        if self.gate_open:
            return
        if not self.gates:
            self.notify("No gate is waiting.")
            return
        message = self.gates.pop(0)
        self.gate_open = True
        self._show_gates()

        def decided(decision: HumanDecision | None) -> None:
            self.gate_open = False
            message.resolve(decision)

        self.app.push_screen(GateScreen(message.request), decided)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row (the table takes the key first): open that repository's run."""
        self.action_open_selected()

    def action_stop(self) -> None:
        self.cancel.cancel("stopped from the batch screen")
        for message in self.gates:  # the waiting runs stop as interrupted
            message.resolve(None)
        self.gates.clear()
        self.notify("Stopping: the running repositories end as interrupted and are re-queued next time.")

    def action_back(self) -> None:
        if self.finished:
            self.app.pop_screen()
        else:
            self.notify("The batch is running: x stops it first.")


def run_batch_app(spec: BatchSpec, base: RunConfig, run: Callable[..., Any] | None = None) -> int:
    """`paper2run-tui batch` in a terminal: the app with the batch screen on top of home."""
    from ..app import Paper2RunApp

    class BatchApp(Paper2RunApp):
        def on_mount(self) -> None:
            super().on_mount()
            self.push_screen(BatchScreen(spec, base, run))

    app = BatchApp("home", None, spec.folder / "runs", handle_signals=True)
    app.run()
    return 0
