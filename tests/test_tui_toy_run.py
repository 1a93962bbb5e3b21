"""The toy run in the app, on the real engine: its lines stream into the live log as `toy-run│` and the past run's
Logs tab holds them from attempts/NN/toy_run_stdout.log."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_support import docker_or_fail
from textual.widgets import Log
from tui_scenes import wait_until

from paper2run_tui.engine.build.cleanup import cleanup
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.screens.run import RunScreen
from paper2run_tui.tui.screens.run_detail import RunDetailScreen

pytestmark = pytest.mark.docker

TOY_MAIN = ("import argparse\nif __name__ == '__main__':\n    p = argparse.ArgumentParser()\n"
            "    p.add_argument('--steps', type=int, default=1)\n    for i in range(p.parse_args().steps):\n"
            "        print(f'toy step {i + 1}', flush=True)\n")


async def test_the_toy_run_streams_into_the_live_log_and_is_kept_in_the_past_run(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = docker_or_fail()
    repo = make_repo({"README.md": "# Toy\n\n```\npython -m toy --steps 3\n```\n", "toy/__init__.py": "",
                      "toy/__main__.py": TOY_MAIN}, git=True, name="toy-tui")
    config = RunConfig(repo=str(repo), out=tmp_path / "runs", timeout=60, no_ca=True)
    app = Paper2RunApp("run", config, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.last_run is not None and app.last_run.outcome is not None, timeout=240)
        await pilot.pause(0.3)
        run = app.last_run
        assert isinstance(run, RunScreen) and run.outcome is not None and run.outcome.status == "success"
        lines = list(run.query_one(Log).lines)
        assert [line for line in lines if line.startswith("toy-run│ ")] == [
            "toy-run│ toy step 1", "toy-run│ toy step 2", "toy-run│ toy step 3"]
        assert any("toy_run_*.log" in line for line in lines)
        run_dir = run.outcome.run_dir
        assert run_dir is not None
        app.open_run(run_dir)
        await pilot.pause(0.3)
        detail = app.screen
        assert isinstance(detail, RunDetailScreen)
        shown = list(detail.query_one("#a-logs-text", Log).lines)
        start = shown.index("══ toy_run_stdout.log ══")
        assert shown[start + 1:start + 4] == ["toy step 1", "toy step 2", "toy step 3"]
    cleanup(client, run_id=run_dir.name)
