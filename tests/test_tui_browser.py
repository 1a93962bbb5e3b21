"""The runs browser and one past run: sort, filter, open, attempts one by one, diff, copy the docker command."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Log, OptionList, TabbedContent, TextArea
from tui_scenes import REPAIRED, write_past_runs

from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.screens.run_detail import RunDetailScreen, read_tail
from paper2run_tui.tui.screens.runs import RunsScreen
from paper2run_tui.tui.widgets.runs_table import RunsTable


@pytest.fixture
def out(tmp_path: Path) -> Path:
    write_past_runs(tmp_path / "runs")
    return tmp_path / "runs"


async def test_browser_lists_sorts_and_filters_runs(out: Path) -> None:
    app = Paper2RunApp("runs", None, out)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)
        table = app.screen.query_one(RunsTable)
        assert [r.run_id for r in table.shown] == ["micrograd-20260105T093000Z", "nanogpt-20260104T180000Z",
                                                    "demo-20260103T120000Z", "transformer-20260102T080000Z"]
        assert table.row_count == 4
        app.screen.table.sort_by("duration")
        assert [r.duration_s for r in table.shown] == [1210.0, 142.0, 65.5, 30.0]
        app.screen.table.sort_by("duration")  # again: ascending
        assert [r.duration_s for r in table.shown] == [30.0, 65.5, 142.0, 1210.0]
        await pilot.press("s")  # cycle to the next column
        assert table.sort_key == "run_id"
        await pilot.press("ctrl+f", *"karpathy")
        await pilot.pause()
        assert {r.run_id for r in table.shown} == {"micrograd-20260105T093000Z", "nanogpt-20260104T180000Z"}
        await pilot.press("enter")  # back to the table
        await pilot.pause()
        assert table.has_focus and "2 of 4 runs" in str(table.border_subtitle)


async def test_open_a_past_run_and_walk_its_attempts(out: Path) -> None:
    app = Paper2RunApp("runs", None, out)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        table.move_cursor(row=[r.run_id for r in table.shown].index("nanogpt-20260104T180000Z"))
        await pilot.press("enter")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.run.metadata.run_id == "nanogpt-20260104T180000Z"
        assert detail.selected == 3
        attempts = detail.query_one("#attempt-list", OptionList)
        assert attempts.option_count == 3
        detail.query_one("#detail-tabs", TabbedContent).active = "tab-attempts"
        attempts.focus()
        await pilot.press("up")
        await pilot.pause()
        assert detail.selected == 2
        assert detail.query_one("#a-plan-text", TextArea).text == REPAIRED.model_dump_json(indent=2)
        assert "FROM python:3.11-slim" in detail.query_one("#a-dockerfile-text", TextArea).text
        logs = "\n".join(detail.query_one("#a-logs-text", Log).lines)
        assert "══ build_stdout.log ══" in logs and "\nERROR: Failed building wheel for numpy\n" in logs
        assert "\x1b" not in logs  # escapes in the file on disk are not shown raw
        assert "missing-compiler" in str(detail.query_one("#a-diagnosis-text").render())
        assert "approve by person" in str(detail.query_one("#a-decision-text").render())
        diff = str(detail.query_one("#diff-text").render())
        assert "--- attempt 1" in diff and '+    "build-essential"' in diff
        await pilot.press("up")
        await pilot.pause()
        assert "no attempt 0 to compare with" in str(detail.query_one("#diff-text").render())
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


async def test_copy_the_docker_run_command_names_the_file_too(out: Path) -> None:
    app = Paper2RunApp("home", None, out)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(out / "micrograd-20260105T093000Z")
        await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == "docker run --rm paper2run/micrograd-20260105t093000z:attempt-01"
        [note] = list(app._notifications)
        assert "INSTRUCTIONS.md" in note.message and str(out / "micrograd-20260105T093000Z") in note.message


async def test_a_broken_run_folder_is_an_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "runs" / "broken-1"
    bad.mkdir(parents=True)
    (bad / "metadata.json").write_text("{not json")
    app = Paper2RunApp("runs", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        assert [r.status for r in table.shown] == ["unreadable"]
        await pilot.press("enter")
        await pilot.pause()
        assert type(app.screen).__name__ == "ErrorScreen"
        assert "not a readable run folder" in str(app.screen.query_one("#error-message").render())


def test_read_tail_bounds_what_is_loaded(tmp_path: Path) -> None:
    log = tmp_path / "big.log"
    log.write_text("".join(f"line {i}\n" for i in range(100_000)))
    lines = read_tail(log, max_bytes=1000)
    assert lines[-1] == "line 99999" and lines[0].startswith("… the first") and len(lines) < 150


async def test_clicking_a_column_header_sorts_by_it(out: Path) -> None:
    app = Paper2RunApp("runs", None, out)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        assert table.sort_key == "started" and table.sort_reverse
        await pilot.click(RunsTable, offset=(3, 1))  # the "Started" header (inside the border)
        await pilot.pause()
        assert table.sort_key == "started" and not table.sort_reverse
        assert table.shown[0].run_id == "transformer-20260102T080000Z"
