"""Run folder, atomic writes, event recording and replay, and the run store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from paper2run_tui.engine.contracts import (
    EnvPlan,
    LogLine,
    Message,
    PhaseChanged,
    RunFinished,
    RunMetadata,
    parse_event,
)
from paper2run_tui.engine.errors import UserError
from paper2run_tui.engine.ports import ListSink
from paper2run_tui.engine.record.atomic import write_text_atomic
from paper2run_tui.engine.record.recorder import RecordingSink
from paper2run_tui.engine.record.run_folder import RunFolder
from paper2run_tui.engine.record.store import list_runs, load_run, replay_events


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "a" / "file.txt"
    write_text_atomic(target, "one")
    write_text_atomic(target, "two")
    assert target.read_text() == "two"
    assert [p.name for p in target.parent.iterdir()] == ["file.txt"]


def test_atomic_write_keeps_old_content_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "file.json"
    write_text_atomic(target, "old")

    class Boom:
        def encode(self, *_: object) -> bytes:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_text_atomic(target, Boom())  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.json"]


def test_run_folder_names_are_unique_and_have_layout(tmp_path: Path) -> None:
    a = RunFolder.create(tmp_path, "my repo!", run_id="my-repo-20260101T000000Z")
    b = RunFolder.create(tmp_path, "my repo!", run_id="my-repo-20260101T000000Z")
    assert a.root.name == "my-repo-20260101T000000Z"
    assert b.root.name == "my-repo-20260101T000000Z-2"
    assert (a.root / "logs").is_dir() and (a.root / "attempts").is_dir()
    auto = RunFolder.create(tmp_path, "github.com/x/y")
    assert auto.root.name.startswith("github.com-x-y-") and auto.root.name.endswith("Z")


def test_unwritable_out_is_a_user_error() -> None:
    # /sys refuses new folders even to root, so this holds on CI machines that run as root.
    with pytest.raises(UserError, match="cannot create the output folder /sys/p2r-runs"):
        RunFolder.create(Path("/sys/p2r-runs"), "x")


def test_out_that_is_a_file_is_a_user_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot create the output folder"):
        RunFolder.create(blocker / "runs", "x")


def test_recorder_numbers_events_writes_jsonl_runlog_and_attempt_logs(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "demo", run_id="demo-1")
    downstream = ListSink()
    sink = RecordingSink(folder, downstream)
    sink.emit(PhaseChanged(phase="build", attempt=1))
    sink.emit(LogLine(source="build", stream="stdout", text="Step 1/3 : FROM x", attempt=1))
    sink.emit(LogLine(source="smoke", stream="stderr", text="Traceback", attempt=1))
    sink.emit(Message(level="warning", text="careful"))
    sink.close()
    assert [e.seq for e in downstream.events] == [1, 2, 3, 4]
    assert all(e.run_id == "demo-1" for e in downstream.events)
    replayed = list(replay_events(folder.root))
    assert [e.kind for e in replayed] == ["phase", "log", "log", "message"]
    assert replayed[1].text == "Step 1/3 : FROM x"
    assert (folder.root / "attempts/01/build_stdout.log").read_text() == "Step 1/3 : FROM x\n"
    assert (folder.root / "attempts/01/smoke_stderr.log").read_text() == "Traceback\n"
    runlog = (folder.root / "run.log").read_text()
    assert "phase build (attempt 1)" in runlog and "warning: careful" in runlog


def test_replay_skips_a_torn_last_line(tmp_path: Path) -> None:
    folder = RunFolder.create(tmp_path, "demo", run_id="demo-1")
    sink = RecordingSink(folder)
    sink.emit(Message(text="hello"))
    sink.close()
    with open(folder.events_path, "a") as fh:
        fh.write('{"kind": "message", "te')
    assert [e.text for e in replay_events(folder.root)] == ["hello"]


def test_store_lists_newest_first_and_loads_back(tmp_path: Path) -> None:
    for i, status in enumerate(["success", "stopped-by-rules"]):
        folder = RunFolder.create(tmp_path, "demo", run_id=f"demo-{i}")
        meta = RunMetadata(run_id=folder.run_id, repo="x", status=status, started_at=datetime(2026, 1, 1 + i, tzinfo=UTC))
        folder.write_json("metadata.json", meta)
        plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python -V")
        folder.write_json("attempts/01/plan.json", plan)
        folder.write_text("attempts/01/Dockerfile", "FROM python:3.11-slim\n")
    (tmp_path / "junk").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    rows = list_runs(tmp_path)
    assert [r.run_id for r in rows if r.status != "unreadable"] == ["demo-1", "demo-0"]
    assert [r.status for r in rows if r.run_id == "broken"] == ["unreadable"]
    loaded = load_run(tmp_path / "demo-1")
    assert loaded.metadata.status == "stopped-by-rules"
    assert loaded.attempts[0].plan is not None and loaded.attempts[0].plan.smoke_command == "python -V"
    assert loaded.attempts[0].dockerfile == "FROM python:3.11-slim\n"


def test_every_event_round_trips_through_json() -> None:
    events = [
        PhaseChanged(phase="plan"),
        LogLine(source="build", text="x", attempt=2),
        RunFinished(status="success", run_dir="/tmp/x", exit_code=0),
    ]
    for event in events:
        assert parse_event(event.model_dump_json()) == event


def test_a_running_run_without_a_live_process_is_abandoned(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys
    from datetime import UTC, datetime, timedelta

    from paper2run_tui.engine.contracts import RunMetadata
    from paper2run_tui.engine.record.store import ABANDONED_AFTER_S, abandoned, list_runs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = datetime.now(UTC)
    here = socket.gethostname()
    cases = {
        "dead-pid-here": (dead.pid, here, now, True),
        "live-pid-fresh": (__import__("os").getpid(), here, now, False),
        "other-host-fresh": (1, "elsewhere", now, False),
        "other-host-stale": (1, "elsewhere", now - timedelta(seconds=ABANDONED_AFTER_S + 5), True),
    }
    for name, (pid, host, beat, expected) in cases.items():
        meta = RunMetadata(run_id=name, repo="r", started_at=now, pid=pid, host=host, heartbeat_at=beat)
        folder = tmp_path / name
        folder.mkdir()
        (folder / "metadata.json").write_text(meta.model_dump_json())
        assert abandoned(meta, folder / "metadata.json") is expected, name
    shown = {r.run_id: r.status for r in list_runs(tmp_path)}
    assert shown == {"dead-pid-here": "abandoned", "live-pid-fresh": "running", "other-host-fresh": "running",
                     "other-host-stale": "abandoned"}
    finished = RunMetadata(run_id="done", repo="r", started_at=now, status="success", pid=dead.pid, host=here)
    assert not abandoned(finished, tmp_path / "none.json")
