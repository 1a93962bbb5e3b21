"""Snapshots of the main screens (pytest-textual-snapshot): home, live run, gate with an invalid edit, runs browser.

Clocks are frozen, run ids fixed, cursor blink off, and each picture is taken in a settled state.
Update after an intended change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tui_scenes import (
    scene_app,
    settle_gate_invalid,
    settle_home,
    settle_live_run,
    settle_runs,
    write_past_runs,
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a fresh folder with past runs in ./runs, so paths on screen are the same every time."""
    monkeypatch.chdir(tmp_path)
    write_past_runs(Path("runs"))
    return tmp_path


def test_home(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app("home"), run_before=settle_home, terminal_size=(120, 40))


def test_live_run(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app("home"), run_before=settle_live_run, terminal_size=(120, 40))


def test_gate_with_an_invalid_edit(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app("home"), run_before=settle_gate_invalid, terminal_size=(120, 40))


def test_runs_browser(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app("runs"), run_before=settle_runs, terminal_size=(120, 40))


def test_live_run_at_80x24(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app("home"), run_before=settle_live_run, terminal_size=(80, 24))
