"""Past-run log search: the engine's search over a run folder (file, line, ANSI removed, regex, cap) and the app's
`/` from the runs browser and a past run, down to the file opened at the hit's line."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input, OptionList, TextArea
from tui_scenes import wait_until, write_past_runs

from paper2run_tui.engine.record.search import log_files, search_logs
from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.screens.run_detail import RunDetailScreen
from paper2run_tui.tui.screens.search import LogFileScreen, LogSearchScreen
from paper2run_tui.tui.widgets.runs_table import RunsTable


@pytest.fixture
def out(tmp_path: Path) -> Path:
    write_past_runs(tmp_path / "runs")
    return tmp_path / "runs"


def test_the_search_names_file_and_line_of_every_hit(out: Path) -> None:
    run = out / "nanogpt-20260104T180000Z"
    (run / "run.log").write_text("started\nphase build\n")
    (run / "attempts" / "02" / "smoke_stderr.log").write_bytes(b"ok\n\xff\xfe gcc FAILED here\r\n")
    found = search_logs(run, "gcc")
    assert [(h.file, h.line) for h in found.hits] == [
        ("attempts/01/build_stdout.log", 7), ("attempts/02/build_stdout.log", 7),
        ("attempts/02/smoke_stderr.log", 2), ("attempts/03/build_stdout.log", 7)]
    assert found.hits[2].text == "\ufffd\ufffd gcc FAILED here"
    assert [p.relative_to(run).as_posix() for p in log_files(run)][0] == "run.log"
    wheel = search_logs(run, "failed BUILDING")  # case-insensitive; the ANSI colour is not in the text
    assert wheel.hits[0].text == "ERROR: Failed building wheel for numpy"
    assert [h.line for h in search_logs(run, r"^Step [34]/4", regex=True).hits][:2] == [3, 4]
    capped = search_logs(run, "step", max_hits=5)
    assert len(capped.hits) == 5 and capped.truncated
    with pytest.raises(ValueError, match="not a regular expression"):
        search_logs(run, "(", regex=True)
    assert search_logs(run, "").hits == []


async def test_slash_searches_a_past_runs_logs_and_opens_the_file_at_the_hit(out: Path) -> None:
    app = Paper2RunApp("runs", None, out)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        table.move_cursor(row=[r.run_id for r in table.shown].index("nanogpt-20260104T180000Z"))
        await pilot.press("slash")
        await pilot.pause()
        search = app.screen
        assert isinstance(search, LogSearchScreen) and search.run_dir.name == "nanogpt-20260104T180000Z"
        box = search.query_one("#search-input", Input)
        assert box.has_focus
        await pilot.press(*"wheel", "enter")
        await wait_until(pilot, lambda: search.result is not None)
        hits = search.query_one("#search-hits", OptionList)
        assert hits.option_count == 3 and hits.has_focus
        assert "3 lines in 3 log files" in str(search.query_one("#search-summary").render())
        await pilot.press("down", "enter")
        await pilot.pause()
        shown = app.screen
        assert isinstance(shown, LogFileScreen) and shown.hit.file == "attempts/02/build_stdout.log"
        assert shown.cursor_line == 6
        area = shown.query_one("#logfile-text", TextArea)
        assert area.selected_text.rstrip("\n") == "ERROR: Failed building wheel for numpy"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is search
        await pilot.press("escape")
        await pilot.pause()
        # the same from a run's own view, through the command palette's action
        app.open_run(out / "demo-20260103T120000Z")
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)
        assert "Search logs" in [c.title for c in app.get_system_commands(app.screen)]
        await app.run_action("search_logs", app.screen)
        await pilot.pause()
        assert isinstance(app.screen, LogSearchScreen) and app.screen.run_dir.name == "demo-20260103T120000Z"
        app.screen.query_one("#search-input", Input).value = "nothing-like-this"
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.screen.result is not None)  # type: ignore[attr-defined]
        assert "no line holds 'nothing-like-this' in 2 log files" in str(app.screen.query_one("#search-summary").render())
