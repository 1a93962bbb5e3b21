"""Compare any two attempts (of one run or two) or two runs: the engine's comparison (the gate's plan diff, the
Dockerfile diff, how each ended) and the app's m / v in a run's view and in the runs browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_scenes import write_past_runs

from paper2run_tui.engine.record.compare import compare_attempts, compare_runs
from paper2run_tui.engine.record.store import load_run
from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.screens.compare import CompareScreen
from paper2run_tui.tui.screens.run_detail import RunDetailScreen
from paper2run_tui.tui.widgets.runs_table import RunsTable


@pytest.fixture
def out(tmp_path: Path) -> Path:
    write_past_runs(tmp_path / "runs")
    return tmp_path / "runs"


def test_two_attempts_and_two_runs_compare_as_diffs(out: Path) -> None:
    nano = load_run(out / "nanogpt-20260104T180000Z")
    (nano.path / "attempts" / "03" / "Dockerfile").write_text("FROM python:3.11-slim\nWORKDIR /src\n")
    nano = load_run(nano.path)
    c = compare_attempts(nano, 1, nano, 3)
    assert (c.a, c.b) == ("attempt 1", "attempt 3")
    assert '+    "build-essential"' in c.plan_diff
    assert "-WORKDIR /repo\n+WORKDIR /src\n" in c.dockerfile_diff
    assert c.summary == ["attempt 1: build-failed", "attempt 3: build-failed · gate: approve"]
    assert compare_attempts(nano, 2, nano, 3).plan_diff == ""  # the same plan
    micro = load_run(out / "micrograd-20260105T093000Z")
    across = compare_attempts(micro, 1, nano, 2)
    assert (across.a, across.b) == ("micrograd-20260105T093000Z#1", "nanogpt-20260104T180000Z#2")
    runs = compare_runs(micro, nano)
    assert runs.summary[0].startswith("micrograd-20260105T093000Z: success · 1 attempt(s) · 142.0 s")
    assert runs.summary[1].startswith("nanogpt-20260104T180000Z: max-attempts-exhausted · 3 attempt(s)")
    assert "--- micrograd-20260105T093000Z" in runs.plan_diff and "build-essential" in runs.plan_diff


async def test_mark_and_compare_attempts_then_runs(out: Path) -> None:
    app = Paper2RunApp("runs", None, out)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("v")  # nothing marked: says what to do
        await pilot.pause()
        assert not isinstance(app.screen, CompareScreen)
        app.open_run(out / "nanogpt-20260104T180000Z")
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.selected == 3
        detail.query_one("#attempt-list").focus()
        await pilot.press("m", "up", "up", "v")
        await pilot.pause()
        shown = app.screen
        assert isinstance(shown, CompareScreen)
        assert (shown.comparison.a, shown.comparison.b) == ("attempt 3", "attempt 1")
        plan = str(shown.query_one("#compare-plan").render())
        assert '-    "build-essential"' in plan
        assert "the same dockerfile on both sides" in str(shown.query_one("#compare-dockerfile").render())
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("escape")  # back to the browser: compare two runs
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        ids = [r.run_id for r in table.shown]
        table.move_cursor(row=ids.index("micrograd-20260105T093000Z"))
        await pilot.press("m")
        table.move_cursor(row=ids.index("demo-20260103T120000Z"))
        await pilot.press("v")
        await pilot.pause()
        shown = app.screen
        assert isinstance(shown, CompareScreen)
        assert (shown.comparison.a, shown.comparison.b) == ("micrograd-20260105T093000Z", "demo-20260103T120000Z")
        assert "micrograd-20260105T093000Z: success" in str(shown.query_one("#compare-summary").render())
        assert "Compare with marked" in [c.title for c in app.get_system_commands(app.screen_stack[-2])]
