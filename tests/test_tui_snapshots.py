"""Snapshots of every screen (pytest-textual-snapshot) at 120x40 and at 80x24 (nothing may be cut off there): home,
live run, gate with an invalid edit, runs browser, a past run, help, a resumed run's gate, an empty runs folder.

Clocks are frozen, run ids fixed, cursor blink off, and each picture is taken in a settled state.
Update after an intended change with: pytest tests/test_tui_snapshots.py --snapshot-update
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from tui_scenes import (
    scene_app,
    settle_empty_home,
    settle_gate_invalid,
    settle_help,
    settle_home,
    settle_live_run,
    settle_resumed_gate,
    settle_run_detail,
    settle_runs,
    write_past_runs,
)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from a fresh folder with past runs in ./runs, so paths on screen are the same every time."""
    monkeypatch.chdir(tmp_path)
    write_past_runs(Path("runs"))
    return tmp_path


@pytest.fixture
def in_fixed_tmp(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Like in_tmp, in a folder whose path has the same length every time: a resumed run logs the absolute path of
    the checkout it copies, and the log's horizontal scrollbar follows the longest line."""
    with tempfile.TemporaryDirectory(prefix="p2r-snap-") as folder:
        monkeypatch.chdir(folder)
        write_past_runs(Path("runs"))
        yield Path(folder)


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


def test_help(in_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app("home"), run_before=settle_help, terminal_size=(120, 40))


def test_resumed_run_gate(in_fixed_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app("home"), run_before=settle_resumed_gate, terminal_size=(120, 40))


SMALL = [("home", settle_home), ("runs", settle_runs), ("home", settle_gate_invalid), ("home", settle_help),
         ("home", settle_run_detail), ("home", settle_resumed_gate)]


@pytest.mark.parametrize(("start", "settle"), SMALL, ids=[s.__name__.removeprefix("settle_") for _, s in SMALL])
def test_every_screen_at_80x24(start: str, settle, in_fixed_tmp: Path, snap_compare) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(scene_app(start), run_before=settle, terminal_size=(80, 24))


def test_an_empty_runs_folder_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              snap_compare) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    assert snap_compare(scene_app("home"), run_before=settle_empty_home, terminal_size=(80, 24))
