"""The current Dockerfile in the live run's plan pane (f), through the real pipeline; the run folder and a file
opened in $EDITOR from a past run and from a search hit (the editor: a real program that records its argv)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from textual.widgets import Input
from tui_scenes import DEMO_REPO, FixedPlanner, FlakyExecutor, StreamingDiagnoser, wait_until, write_past_runs

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.bridge import EngineParts
from paper2run_tui.tui.editor import editor_command
from paper2run_tui.tui.screens.run_detail import RunDetailScreen
from paper2run_tui.tui.screens.search import LogFileScreen, LogSearchScreen
from paper2run_tui.tui.widgets.plan_pane import PlanPane

RECORDER = "import json, sys\nopen(sys.argv[1], 'a').write(json.dumps(sys.argv[2:]) + '\\n')\n"


@pytest.fixture
def editor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$EDITOR = a script that appends the arguments it got to calls.jsonl."""
    script, calls = tmp_path / "rec.py", tmp_path / "calls.jsonl"
    script.write_text(RECORDER)
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script} {calls}")
    return calls


def calls(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_the_editor_command_puts_the_line_where_the_editor_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VISUAL", raising=False)
    monkeypatch.setenv("EDITOR", "vim -R")
    assert editor_command(Path("a.log"), 12) == ["vim", "-R", "+12", "a.log"]
    monkeypatch.setenv("VISUAL", "code --wait")
    assert editor_command(Path("a.log"), 12) == ["code", "--wait", "a.log"]
    monkeypatch.delenv("VISUAL")
    monkeypatch.delenv("EDITOR")
    assert editor_command(Path("a.log")) is None


async def test_f_shows_the_dockerfile_of_the_attempt_being_run(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    demo = make_repo(DEMO_REPO, git=True, name="demo")
    parts = EngineParts(planner=FixedPlanner(), diagnoser=StreamingDiagnoser(), executor=FlakyExecutor(hold=True))
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="auto"))
        await pilot.pause()
        pane = run.query_one(PlanPane)
        await wait_until(pilot, lambda: pane.dockerfile_attempt == 1, timeout=30)
        pane.focus()
        await pilot.press("f")
        await pilot.pause()
        assert pane.showing_dockerfile and "Dockerfile of attempt 1" in str(pane.border_subtitle)
        on_disk = (Path(run.run_dir or "") / "attempts" / "01" / "Dockerfile").read_text()
        assert pane.dockerfile == on_disk and "FROM python:" in on_disk
        assert "FROM" in app.export_screenshot()  # on screen, highlighted
        await pilot.press("f")
        await pilot.pause()
        assert not pane.showing_dockerfile
        run.abandon("test over")
        await wait_until(pilot, lambda: run.outcome is not None, timeout=30)


async def test_e_and_o_open_files_and_the_run_folder_in_the_editor(tmp_path: Path, editor: Path) -> None:
    out = tmp_path / "runs"
    write_past_runs(out)
    nano = out / "nanogpt-20260104T180000Z"
    app = Paper2RunApp("runs", None, out)
    async with app.run_test(size=(120, 40)) as pilot:
        app.open_run(nano)
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        await pilot.press("o")
        await pilot.pause()
        assert calls(editor) == [[str(nano)]]
        detail.query_one("#detail-tabs").active = "tab-attempts"  # type: ignore[attr-defined]
        detail.query_one("#attempt-tabs").active = "a-dockerfile"  # type: ignore[attr-defined]
        detail.query_one("#attempt-list").focus()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert calls(editor)[-1] == [str(nano / "attempts" / "03" / "Dockerfile")]
        await pilot.press("slash")
        await pilot.pause()
        search = app.screen
        assert isinstance(search, LogSearchScreen)
        search.query_one("#search-input", Input).value = "gcc"
        await pilot.press("enter")
        await wait_until(pilot, lambda: search.result is not None)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, LogFileScreen)
        await pilot.press("e")
        await pilot.pause()
        # the recorder is not an editor that reads +LINE, so it gets the file alone
        assert calls(editor)[-1] == [str(nano / "attempts" / "01" / "build_stdout.log")]
        assert "Open in $EDITOR" in [c.title for c in app.get_system_commands(app.screen)]
