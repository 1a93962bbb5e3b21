"""Render the main screens to screenshots/*.svg for the README, from the same scripted scenes as the snapshots.

    .venv/bin/python scripts/export_screenshots.py [dest]

Each scene runs the real app headless at 120x40 (frozen clock, fixed run ids, past runs written in the run
store's format in a scratch folder) and saves the settled screen with `App.save_screenshot`.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from tui_scenes import (  # noqa: E402
    scene_app,
    settle_compare,
    settle_gate_invalid,
    settle_help,
    settle_home,
    settle_live_run,
    settle_log_search,
    settle_resumed_gate,
    settle_runs,
    write_past_runs,
)

SIZE = (120, 40)
SCENES: list[tuple[str, str, Callable[..., Awaitable[None]]]] = [
    ("home.svg", "home", settle_home),
    ("live-run.svg", "home", settle_live_run),
    ("gate-invalid-edit.svg", "home", settle_gate_invalid),
    ("runs-browser.svg", "runs", settle_runs),
    ("help.svg", "home", settle_help),
    ("resumed-run-gate.svg", "home", settle_resumed_gate),
    ("log-search.svg", "runs", settle_log_search),
    ("compare-attempts.svg", "runs", settle_compare),
]


async def render(name: str, start: str, settle: Callable[..., Awaitable[None]], dest: Path) -> Path:
    app = scene_app(start)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.save_screenshot(filename=name, path=str(dest))
    return dest / name


def main() -> None:
    dest = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT / "screenshots"
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="p2r-shots-") as scratch:
        os.chdir(scratch)  # paths on screen read "runs/..." whatever machine renders them
        write_past_runs(Path("runs"))
        for name, start, settle in SCENES:
            print(asyncio.run(render(name, start, settle, dest)))


if __name__ == "__main__":
    main()
