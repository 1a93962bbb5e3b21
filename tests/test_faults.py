"""Fault injection on the real engine: every phase × {SIGINT, SIGTERM, engine lost}.

A run is driven through the real pipeline and the real Docker executor, connected to the engine through a unix-
socket proxy the test can cut (engine loss without stopping the shared daemon). The fault fires when the run reaches
the phase (for build and smoke: when the first log line of that phase arrives, so the engine is mid-work). Signals are
real: the CLI's own handlers (cli.StopSignals) are installed and the test process sends itself the signal.

Each case promises: a complete run folder (metadata.json with a final status and finished_at, a run-finished
event as the last line of events.jsonl, report.md), the right status (`interrupted` after a signal; after engine
loss `engine-lost` once the build or smoke had started, `preflight-failed` when the engine was already gone at
preflight), no container of the run left once `resume` has run, and `resume` from that folder ends the run with a
final status of its own (not interrupted, not engine-lost, not an internal error).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from docker_support import docker_or_fail, managed
from engine_proxy import EngineProxy
from scripted import FixedPlanner

from paper2run_tui.cli import StopSignals
from paper2run_tui.engine.build.docker_executor import DockerExecutor
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import DiagnosisDecision, EnvPlan, Event
from paper2run_tui.engine.pipeline import RunOutcome, run_pipeline
from paper2run_tui.engine.ports import CancelToken
from paper2run_tui.engine.record.store import load_run
from paper2run_tui.engine.resume import resume_run

pytestmark = pytest.mark.docker

#: Attempt 1 prints, sleeps and fails (so diagnose and the gate of attempt 2 happen); attempt 2 passes.
FAILING = EnvPlan(base_image="python:3.11-slim",
                  smoke_command="python -c \"print('smoke-start', flush=True); import time; time.sleep(2); "
                                "raise SystemExit(3)\"")
PASSING = FAILING.model_copy(update={"smoke_command": "python -c \"print('smoke-ok')\""})
PHASES = ["acquire", "analyze", "plan", "preflight", "build", "smoke", "diagnose", "gate"]
FAULTS = ["SIGINT", "SIGTERM", "engine-lost"]
FINAL = {"success", "max-attempts-exhausted", "stopped-by-rules", "smoke-failed"}


class RepairTo:
    """A diagnoser (a port a test may provide) that always proposes the passing plan."""

    def diagnose(self, ctx, sink, cancel):  # type: ignore[no-untyped-def]
        return DiagnosisDecision(decision="repair", reason="use the passing command", confidence="high",
                                 source="rules", new_plan=PASSING)


class Trap:
    """A client sink that fires the fault once, when the run reaches `phase`."""

    def __init__(self, phase: str, fire) -> None:  # type: ignore[no-untyped-def]
        self.phase, self.fire, self.fired = phase, fire, False

    def _hit(self, event: Event) -> bool:
        if self.phase in ("build", "smoke"):
            return event.kind == "log" and event.source == self.phase and event.attempt == 1  # type: ignore[union-attr]
        if self.phase in ("diagnose", "gate"):
            return event.kind == "phase" and event.phase == self.phase  # type: ignore[union-attr]
        return event.kind == "phase" and event.phase == self.phase  # type: ignore[union-attr]

    def emit(self, event: Event) -> None:
        if not self.fired and self._hit(event):
            self.fired = True
            self.fire()


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return docker_or_fail()


@pytest.fixture
def proxy(tmp_path: Path):  # type: ignore[no-untyped-def]
    p = EngineProxy(Path(f"/tmp/p2r-proxy-{os.getpid()}-{time.monotonic_ns()}.sock"))
    yield p
    p.cut()


@pytest.fixture
def stop_signals():  # type: ignore[no-untyped-def]
    assert threading.current_thread() is threading.main_thread(), "signals are delivered to the main thread"
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    yield
    for s, handler in saved.items():
        signal.signal(s, handler)


def _run_in_thread(fn) -> RunOutcome:  # type: ignore[no-untyped-def]
    """Run the engine on a thread, as the TUI does; the main thread keeps running bytecode so that a signal's
    handler runs at once."""
    box: dict[str, RunOutcome] = {}
    worker = threading.Thread(target=lambda: box.setdefault("out", fn()), daemon=True)
    worker.start()
    deadline = time.monotonic() + 240
    while worker.is_alive() and time.monotonic() < deadline:
        worker.join(timeout=0.05)
    assert not worker.is_alive(), "the run did not end within 240 s"
    return box["out"]


def _assert_complete(run_dir: Path, status: str) -> None:
    meta = load_run(run_dir).metadata
    assert meta.status == status, (meta.status, meta.reason)
    assert meta.finished_at is not None and meta.reason
    last = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "run-finished" and last["status"] == status
    assert (run_dir / "report.md").is_file() and status in (run_dir / "report.md").read_text()


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("phase", PHASES)
def test_every_phase_and_fault_ends_truthfully_and_resumes(phase: str, fault: str, make_repo, tmp_path: Path,
                                                            client, proxy, stop_signals) -> None:  # type: ignore[no-untyped-def]
    # a name of its own: run ids (and the engine labels made from them) are only unique within a runs folder, and
    # other suites on a shared engine run "demo" repositories at the same second
    repo = make_repo({"demo/__init__.py": "X = 1\n"}, git=True, name=f"faults-{uuid.uuid4().hex[:8]}")
    cancel = CancelToken()
    signals = StopSignals(cancel)
    if fault == "engine-lost":
        fire = proxy.cut
    else:
        signum = getattr(signal, fault)

        def fire() -> None:
            os.kill(os.getpid(), signum)
    trap = Trap(phase, fire)
    config = RunConfig(repo=str(repo), out=tmp_path / "runs", timeout=60, no_ca=True, max_attempts=2)
    outcome = _run_in_thread(lambda: run_pipeline(config, trap, None, cancel, planner=FixedPlanner(FAILING),
                                                  diagnoser=RepairTo(), executor=DockerExecutor(host=proxy.url)))
    assert trap.fired, f"the run never reached {phase}"
    run_dir = outcome.run_dir
    assert run_dir is not None
    if fault == "engine-lost":
        expected = "engine-lost" if phase in ("build", "smoke", "diagnose", "gate") else "preflight-failed"
    else:
        expected = "interrupted"
        assert signals.exit_code(outcome.exit_code) == (130 if fault == "SIGINT" else 143)
    _assert_complete(run_dir, expected)
    meta = load_run(run_dir).metadata
    if fault != "engine-lost":
        assert meta.phases[-1].phase == phase, [p.phase for p in meta.phases]  # it stopped in that phase
    proxy.restore()
    resumed = resume_run(run_dir, None, Trap("never", lambda: None), planner=FixedPlanner(FAILING),
                         diagnoser=RepairTo(), executor=DockerExecutor(host=proxy.url), no_ca=True, timeout=60)
    assert resumed.status in FINAL, (resumed.status, resumed.reason)
    assert resumed.run_dir is not None
    for rid in (run_dir.name, resumed.run_dir.name):
        containers, _ = managed(client, rid)
        assert containers == [], f"containers of {rid} left: {[c.name for c in containers]}"


def test_the_headless_cli_stops_on_sigterm_at_smoke_with_exit_143(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    """The real process: SIGTERM while the smoke container runs; the process records the run and exits 143."""
    repo = make_repo({"slow/__init__.py": "import time\nprint('smoke-start', flush=True)\ntime.sleep(120)\n"},
                     name=f"slow-{uuid.uuid4().hex[:8]}")
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "paper2run_tui", "run", "--repo", str(repo), "--out", str(out), "--headless",
         "--no-ca", "--timeout", "100", "--max-attempts", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if "phase smoke" in line:
            time.sleep(2)  # the container is up
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=60)
    assert proc.returncode == 143, "".join(seen) + rest
    run_dir = next(out.iterdir())
    _assert_complete(run_dir, "interrupted")
    assert "SIGTERM" in load_run(run_dir).metadata.reason
    containers, _ = managed(client, run_dir.name)
    assert containers == []


def test_a_killed_run_is_abandoned_in_the_browser_and_its_resume_removes_its_container(make_repo, tmp_path: Path,
                                                                                       client) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL cannot be handled: the folder says `running`, but the browser shows it as abandoned (its pid is gone
    on this host), and a resume from it removes the smoke container the dead process left running."""
    from paper2run_tui.engine.record.store import list_runs

    repo = make_repo({"slow/__init__.py": "import time\nprint('smoke-start', flush=True)\ntime.sleep(120)\n"},
                     name=f"killed-{uuid.uuid4().hex[:8]}")
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "paper2run_tui", "run", "--repo", str(repo), "--out", str(out), "--headless",
         "--no-ca", "--timeout", "100", "--max-attempts", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "phase smoke" in line:
            time.sleep(2)
            proc.kill()
            break
    proc.wait(timeout=30)
    run_dir = next(out.iterdir())
    meta = load_run(run_dir).metadata
    assert meta.status == "running" and meta.pid == proc.pid and meta.heartbeat_at is not None
    assert [r.status for r in list_runs(out)] == ["abandoned"]
    assert managed(client, run_dir.name)[0], "the dead process's smoke container should still be there"
    resumed = resume_run(run_dir, None, Trap("never", lambda: None), no_ca=True, timeout=5, max_attempts=1)
    assert resumed.status in FINAL, (resumed.status, resumed.reason)
    assert any(f"left by {run_dir.name}" in line for line in (resumed.run_dir / "run.log").read_text().splitlines())  # type: ignore[operator]
    assert managed(client, run_dir.name)[0] == []
