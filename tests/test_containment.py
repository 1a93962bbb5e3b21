"""Containment on the real engine: what untrusted code can do in a build step and in the smoke run.

The limits are small here (256 MB, 64 processes) so that each hostile input hits them fast; probes of the network
are DNS resolution and the container's own interfaces only, never traffic to any address.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from docker_support import cgroup_parent_possible, docker_or_fail, managed
from scripted import FixedPlanner

from paper2run_tui.engine.build.build_cgroup import CGROUP_ROOT, PREFIX
from paper2run_tui.engine.config import DockerLimits, RunConfig
from paper2run_tui.engine.contracts import EnvPlan, Event
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import ListSink
from paper2run_tui.engine.record.store import load_run

pytestmark = pytest.mark.docker
SMALL = DockerLimits(memory="256m", cpus=1, pids=64, write_cap="64m")
MB = 1024 * 1024


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return docker_or_fail()


class Inspecting(ListSink):
    """Records every event, and inspects the container a build step or the smoke run is in while it runs."""

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client
        self.build_step: dict[str, Any] | None = None
        self.build_cgroup: str | None = None  # pids.max of the step's cgroup parent, read on this host while it ran
        self.smoke: dict[str, Any] | None = None

    def emit(self, event: Event) -> None:
        super().emit(event)
        if event.kind != "log":
            return
        text = event.text  # type: ignore[union-attr]
        if event.source == "build" and text.startswith(" ---> Running in ") and self.build_step is None:  # type: ignore[union-attr]
            cid = text.split()[-1]
            threading.Thread(target=self._inspect_step, args=(cid,), daemon=True).start()
        if event.source == "smoke" and self.smoke is None and "smoke-start" in text:  # type: ignore[union-attr]
            run_id = event.run_id
            found = self.client.containers.list(filters={"label": f"org.paper2run.run={run_id}"})
            if found:
                self.smoke = found[0].attrs

    def _inspect_step(self, cid: str) -> None:
        time.sleep(1.0)  # the step sleeps 4 s; the pids limit is set as soon as its container is named
        step = self.client.api.inspect_container(cid)
        parent = step["HostConfig"].get("CgroupParent") or ""
        if parent.startswith("/") and ".." not in parent:
            with contextlib.suppress(OSError):
                self.build_cgroup = (CGROUP_ROOT / "pids" / parent.lstrip("/") / "pids.max").read_text().strip()
        self.build_step = step


def _run(make_repo, tmp_path: Path, files: dict[str, str], plan: EnvPlan, sink: ListSink, timeout: int = 30,
         limits: DockerLimits = SMALL):  # type: ignore[no-untyped-def]
    repo = make_repo(files, name=f"contained-{uuid.uuid4().hex[:8]}")  # run ids unique on a shared engine
    config = RunConfig(repo=str(repo), out=tmp_path / "runs", timeout=timeout, no_ca=True, max_attempts=1,
                       limits=limits)
    return run_pipeline(config, sink, planner=FixedPlanner(plan))


def test_build_steps_and_the_smoke_container_run_under_every_limit(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    plan = EnvPlan(base_image="python:3.11-slim", install_steps=["sleep 4"],
                   smoke_command="python -c \"print('smoke-start', flush=True); import time; time.sleep(3)\"")
    sink = Inspecting(client)
    outcome = _run(make_repo, tmp_path, {"demo/__init__.py": ""}, plan, sink)
    assert outcome.status == "success", outcome.reason
    step = sink.build_step
    assert step is not None, "the build step's container was not seen"
    host = step["HostConfig"]
    assert host["Memory"] == 256 * MB and host["MemorySwap"] == 256 * MB  # swap equal to memory: none on top
    assert host["CpuQuota"] == 100_000 and host["CpuPeriod"] == 100_000
    assert host["PidsLimit"] == 64
    smoke = sink.smoke
    assert smoke is not None, "the smoke container was not seen"
    shost = smoke["HostConfig"]
    assert shost["Memory"] == 256 * MB and shost["MemorySwap"] == 256 * MB and shost["PidsLimit"] == 64
    assert shost["NanoCpus"] == 1_000_000_000
    assert shost["CapDrop"] == ["ALL"] and "no-new-privileges" in shost["SecurityOpt"]
    assert not shost["Privileged"] and not shost.get("Binds") and not shost.get("Mounts")
    assert "/tmp" in (shost.get("Tmpfs") or {}) and "size=256m" in shost["Tmpfs"]["/tmp"]
    assert smoke["Config"].get("NetworkDisabled") is True
    assert smoke["Config"]["User"] == "10001:10001" and not shost.get("CapAdd")  # non-root by default
    recorded = json.loads((outcome.run_dir / "limits.json").read_text())  # type: ignore[operator]
    assert recorded["memory_bytes"] == recorded["memory_swap_bytes"] == 256 * MB and recorded["pids"] == 64
    assert recorded["build_pids_mechanism"] in ("cgroup-parent", "update-api")
    assert recorded["build_pids"] == load_run(outcome.run_dir).metadata.attempts[0].build_pids_limit  # type: ignore[arg-type]
    assert recorded["smoke_network"] is False
    assert "no network" in (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]


def test_the_build_process_limit_is_a_cgroup_parent_in_place_before_the_step_starts(make_repo, tmp_path: Path,
                                                                                   client) -> None:  # type: ignore[no-untyped-def]
    """On an engine on this machine with the cgroupfs driver, each step container is created inside a cgroup with
    pids.max set before the build starts (no race with a step that forks at once); the cgroup is gone afterwards."""
    possible = cgroup_parent_possible(client)
    plan = EnvPlan(base_image="python:3.11-slim", install_steps=["cat /proc/self/cgroup && sleep 4"],
                   smoke_command="python -c 'print(1)'")
    sink = Inspecting(client)
    outcome = _run(make_repo, tmp_path, {"demo/__init__.py": ""}, plan, sink)
    assert outcome.status == "success", outcome.reason
    if not possible:  # remote engine, systemd driver, read-only cgroups: the record says it was best effort
        meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
        assert (meta.attempts[0].build_pids_limit or "").startswith("update-api: best effort"), meta.attempts[0]
        assert "best effort" in (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]
        return
    step = sink.build_step
    assert step is not None, "the build step's container was not seen"
    parent = step["HostConfig"]["CgroupParent"]
    assert parent.startswith(f"/{PREFIX}"), parent
    assert sink.build_cgroup == "64"  # read from this host's cgroup tree while the step ran
    lines = [e.text for e in sink.events if e.kind == "log" and e.source == "build"]  # type: ignore[union-attr]
    assert any(f"pids:{parent}/" in line for line in lines), lines  # the step's own view: inside ours
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert (meta.attempts[0].build_pids_limit or "").startswith("cgroup-parent:"), meta.attempts[0].build_pids_limit
    recorded = json.loads((outcome.run_dir / "limits.json").read_text())  # type: ignore[operator]
    assert recorded["build_pids_mechanism"] == "cgroup-parent" and parent in recorded["build_pids"]
    left = [h / parent.lstrip("/") for h in CGROUP_ROOT.iterdir() if (h / parent.lstrip("/")).exists()]
    assert left == []  # removed in every hierarchy runc made it in


FORK_BOMB = """import os, sys, time
children = []
try:
    for _ in range(500):
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        children.append(pid)
except OSError as exc:
    print(f"fork refused after {len(children)} children: {exc}", flush=True)
finally:
    for pid in children:
        os.kill(pid, 9)
print(f"forked {len(children)}", flush=True)
"""

MEMORY_HOG = """chunks = []
for i in range(64):
    chunks.append(bytearray(32 * 1024 * 1024))
    print(f"holding {(i + 1) * 32} MB", flush=True)
print("held 2 GB", flush=True)
"""


def test_a_fork_bomb_in_setup_py_meets_the_build_process_limit(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    plan = EnvPlan(base_image="python:3.11-slim", source_steps=["python setup.py"],
                   smoke_command="python -c 'print(1)'")
    sink = ListSink()
    outcome = _run(make_repo, tmp_path, {"setup.py": FORK_BOMB}, plan, sink)
    lines = [e.text for e in sink.events if e.kind == "log" and e.source == "build"]  # type: ignore[union-attr]
    forked = [line for line in lines if line.startswith("forked ")]
    assert forked, "\n".join(lines[-20:])
    assert int(forked[0].split()[1]) < 64, forked  # the limit held: far fewer than the 500 it tried
    assert any("fork refused" in line for line in lines)
    if cgroup_parent_possible(client):  # the limit was there before the step's first fork, not set after it
        mechanism = load_run(outcome.run_dir).metadata.attempts[0].build_pids_limit or ""  # type: ignore[arg-type]
        assert mechanism.startswith("cgroup-parent:"), mechanism


def test_a_memory_hog_in_setup_py_is_killed_at_the_build_memory_limit(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    plan = EnvPlan(base_image="python:3.11-slim", source_steps=["python setup.py"],
                   smoke_command="python -c 'print(1)'")
    sink = ListSink()
    outcome = _run(make_repo, tmp_path, {"setup.py": MEMORY_HOG}, plan, sink)
    lines = [e.text for e in sink.events if e.kind == "log" and e.source == "build"]  # type: ignore[union-attr]
    assert not any("held 2 GB" in line for line in lines)
    held = [int(line.split()[1]) for line in lines if line.startswith("holding ")]
    assert held and max(held) <= 256, held[-3:]
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.attempts[0].outcome == "build-failed"
    assert "137" in (outcome.run_dir / "attempts/01/build_stderr.log").read_text()  # type: ignore[operator]  # OOM kill


def test_an_endless_printer_is_cut_to_head_and_tail_and_the_report_says_so(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    printer = "import itertools\nfor i in itertools.count():\n    print(f'line {i} ' + 'x' * 90)\n"
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python printer.py")
    sink = ListSink()
    outcome = _run(make_repo, tmp_path, {"printer.py": printer}, plan, sink, timeout=8)
    assert outcome.status == "success", outcome.reason  # alive at the timeout, as any long run
    run_dir = outcome.run_dir
    assert run_dir is not None
    smoke = [e for e in sink.events if e.kind == "log" and e.source == "smoke"]
    assert len(smoke) < 1024 * 1024 // 100 + 250  # the head (1 MB) and the tail (200 lines), no more
    log = (run_dir / "attempts/01/smoke_stdout.log").stat().st_size
    assert log < 1.2 * 1024 * 1024, log
    cut = [e.text for e in smoke if "smoke output cut" in e.text]  # type: ignore[union-attr]
    assert cut and "lines (" in cut[0]
    last = int(smoke[-1].text.split()[1])  # type: ignore[union-attr]
    assert last > len(smoke) + 1000  # the tail is the real end of the output, far past the head
    assert "smoke output cut" in (run_dir / "report.md").read_text()


def test_a_build_step_printing_forever_is_cut_to_head_and_tail_and_the_report_says_so(make_repo, tmp_path: Path,
                                                                                     client) -> None:  # type: ignore[no-untyped-def]
    printer = "import itertools\nfor i in itertools.count():\n    print(f'line {i} ' + 'x' * 90, flush=True)\n"
    plan = EnvPlan(base_image="python:3.11-slim", source_steps=["python printer.py"],
                   smoke_command="python -c 'print(1)'")
    sink = ListSink()
    repo = make_repo({"printer.py": printer}, name=f"contained-{uuid.uuid4().hex[:8]}")
    config = RunConfig(repo=str(repo), out=tmp_path / "runs", timeout=30, build_timeout=25, no_ca=True,
                       max_attempts=1, limits=SMALL)
    outcome = run_pipeline(config, sink, planner=FixedPlanner(plan))
    run_dir = outcome.run_dir
    assert run_dir is not None
    meta = load_run(run_dir).metadata
    assert meta.attempts[0].outcome == "build-failed"  # stopped at the build timeout, as any endless step
    build = [e for e in sink.events if e.kind == "log" and e.source == "build"]  # type: ignore[union-attr]
    printed = [e.text for e in build if e.text.startswith("line ")]  # type: ignore[union-attr]
    assert len(build) < 2 * 1024 * 1024 // 100 + 600  # the head (2 MB) and the tail (400 lines), no more
    cut = [e.text for e in build if "build output cut" in e.text]  # type: ignore[union-attr]
    assert cut and "lines (" in cut[0], [e.text for e in build[-5:]]  # type: ignore[union-attr]
    last = max(int(t.split()[1]) for t in printed)
    assert last > len(printed) + 10_000  # the tail is the real end of the output, far past the head
    logs = sum(p.stat().st_size for p in (run_dir / "attempts/01").glob("build_*.log"))
    assert logs < 2.5 * 1024 * 1024, logs
    assert (run_dir / "events.jsonl").stat().st_size < 8 * 1024 * 1024  # ~20k events of the head, whatever the time
    assert "build output cut" in (run_dir / "report.md").read_text()
    assert managed(client, run_dir.name)[0] == []  # type: ignore[union-attr]


def test_a_disk_filler_meets_the_tmpfs_and_the_write_cap(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    filler = ("import time\ntry:\n    f = open('/tmp/fill', 'wb')\n    for _ in range(400):\n"
              "        f.write(b'0' * 2**20)\n        f.flush()\nexcept OSError as exc:\n"
              "    print('tmp full:', exc, flush=True)\ng = open('/repo/fill', 'wb')\nfor _ in range(400):\n"
              "    g.write(b'0' * 2**20)\n    g.flush()\nprint('wrote 400 MB', flush=True)\ntime.sleep(60)\n")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python filler.py")
    sink = ListSink()
    # tmpfs pages count against the memory limit: this one has room for a full /tmp
    outcome = _run(make_repo, tmp_path, {"filler.py": filler}, plan, sink, timeout=40,
                   limits=SMALL.model_copy(update={"memory": "1g"}))
    lines = [e.text for e in sink.events if e.kind in ("log", "message")]  # type: ignore[union-attr]
    assert any("tmp full:" in line and "No space left" in line for line in lines)
    assert outcome.status != "success"
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.attempts[0].outcome == "smoke-failed"
    assert any("over the cap of 67 MB: stopped" in line for line in lines), lines[-5:]
    assert managed(client, outcome.run_dir.name)[0] == []  # type: ignore[union-attr]


def test_the_smoke_run_has_no_network_unless_asked(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    """Probes: the container's interfaces and a DNS lookup (no traffic to any address)."""
    probe = ("import os, socket\nprint('smoke-start ifaces', sorted(os.listdir('/sys/class/net')), flush=True)\n"
             "try:\n    socket.getaddrinfo('pypi.org', 443)\n    print('dns ok')\n"
             "except OSError as exc:\n    print('dns failed:', exc)\n")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python probe.py")
    files = {"probe.py": probe}
    sink = ListSink()
    outcome = _run(make_repo, tmp_path, files, plan, sink)
    assert outcome.status == "success", outcome.reason
    lines = [e.text for e in sink.events if e.kind == "log" and e.source == "smoke"]  # type: ignore[union-attr]
    assert any("ifaces ['lo']" in line for line in lines), lines
    assert any(line.startswith("dns failed:") for line in lines), lines
    # A plan asking for the network, approved by no person, still gets none; the report says why.
    asking = plan.model_copy(update={"network": True})
    sink = ListSink()
    outcome = _run(make_repo, tmp_path / "asking", files, asking, sink)
    lines = [e.text for e in sink.events if e.kind == "log" and e.source == "smoke"]  # type: ignore[union-attr]
    assert any("ifaces ['lo']" in line for line in lines), lines
    assert "no person approved it" in (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]
    # --network: the container gets an interface (no address is contacted here; DNS only)
    sink = ListSink()
    outcome = _run(make_repo, tmp_path / "flag", files, plan, sink,
                   limits=SMALL.model_copy(update={"network": True}))
    lines = [e.text for e in sink.events if e.kind == "log" and e.source == "smoke"]  # type: ignore[union-attr]
    assert any("eth0" in line for line in lines if "ifaces" in line), lines
    assert "network access (--network)" in (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]


def test_cleanup_removes_only_the_runs_of_its_folder_and_a_failed_builds_leftovers(make_repo, tmp_path: Path,
                                                                                   client) -> None:  # type: ignore[no-untyped-def]
    import io
    import subprocess
    import sys

    from paper2run_tui.engine.build.cleanup import run_leftovers

    marker = uuid.uuid4().hex
    plan = EnvPlan(base_image="python:3.11-slim",
                   install_steps=[f"echo {marker} > /repo/layer.txt", "echo failing && false"],
                   smoke_command="python -c 'print(1)'")
    outcome = _run(make_repo, tmp_path, {"demo/__init__.py": ""}, plan, ListSink())
    run_dir = outcome.run_dir
    assert run_dir is not None and load_run(run_dir).metadata.attempts, outcome.reason
    assert load_run(run_dir).metadata.attempts[0].outcome == "build-failed"
    leftovers = run_leftovers(run_dir)
    dangling = [ref for ref in leftovers if _untagged_image(client, ref)]
    assert dangling, leftovers  # the layer with the marker, made before the failing step, carries no label
    other_id = f"someone-else-{marker[:8]}"
    client.images.build(fileobj=io.BytesIO(b"FROM python:3.11-slim\nLABEL x=2\n"), tag=f"paper2run/{other_id}:1",
                        rm=True, labels={"org.paper2run.managed": "true", "org.paper2run.run": other_id})
    try:
        cli = [sys.executable, "-m", "paper2run_tui", "cleanup", "--out", str(tmp_path / "runs")]
        asked = subprocess.run(cli, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)
        assert asked.returncode == 2 and "pass --yes" in asked.stderr  # no terminal to ask on: nothing removed
        assert all(_untagged_image(client, ref) for ref in dangling)
        done = subprocess.run([*cli, "--yes"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert other_id not in done.stdout
        assert not _untagged_image(client, dangling[-1])  # the failed build's own top layer (with the marker) went;
        # earlier untagged layers that other images are built on stay: they are the cache
        assert client.images.get(f"paper2run/{other_id}:1")  # another runs folder's image is left alone
    finally:
        client.images.remove(f"paper2run/{other_id}:1", force=True)


def _untagged_image(client: Any, ref: str) -> bool:
    try:
        return not client.images.get(ref).tags
    except Exception:  # noqa: BLE001 - gone, or a container id
        return False


WHO = ("import os\nstatus = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
       "print('who', os.getuid(), os.getgid(), status['CapEff'].strip(), os.environ.get('HOME'), flush=True)\n")


def _who(sink: ListSink) -> list[list[str]]:
    return [e.text.split()[1:] for e in sink.events  # type: ignore[union-attr]
            if e.kind == "log" and e.source == "smoke" and e.text.startswith("who ")]  # type: ignore[union-attr]


def test_the_smoke_runs_as_an_unprivileged_user_without_capabilities(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python who.py && touch /tmp/ok && ls /repo")
    sink = ListSink()
    outcome = _run(make_repo, tmp_path, {"who.py": WHO}, plan, sink)
    assert outcome.status == "success", outcome.reason
    assert _who(sink) == [["10001", "10001", "0000000000000000", "/tmp"]]  # no capability at all; HOME writable
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.attempts[0].smoke_user == "uid 10001:10001, no capabilities"
    report = (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]
    assert "ran as uid 10001:10001, no capabilities" in report and "ran again as root" not in report
    instructions = (outcome.run_dir / "INSTRUCTIONS.md").read_text()  # type: ignore[operator]
    assert "--user 10001:10001 --cap-drop ALL" in instructions and f"--user 0 {meta.image_tag} /bin/bash" in instructions


def test_a_smoke_that_needs_root_falls_back_to_root_with_a_minimal_capability_set(make_repo, tmp_path: Path,
                                                                                 client) -> None:  # type: ignore[no-untyped-def]
    """Writing into /repo (root's, from COPY) fails as uid 10001; the smoke runs again as root with six
    capabilities, and the report, metadata and INSTRUCTIONS.md say the result is root's."""
    plan = EnvPlan(base_image="python:3.11-slim",
                   smoke_command="python who.py && python -c \"open('/repo/results.txt', 'w').write('ok')\"")
    sink = ListSink()
    outcome = _run(make_repo, tmp_path, {"who.py": WHO}, plan, sink)
    assert outcome.status == "success", outcome.reason
    # first as uid 10001 (refused), then as root with CHOWN, DAC_OVERRIDE, FOWNER, FSETID, SETGID, SETUID only
    assert _who(sink) == [["10001", "10001", "0000000000000000", "/tmp"], ["0", "0", "00000000000000db", "/root"]]
    lines = [e.text for e in sink.events if e.kind == "log" and e.source == "smoke"]  # type: ignore[union-attr]
    assert any("PermissionError" in line for line in lines)
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    user = meta.attempts[0].smoke_user or ""
    assert user.startswith("root (the smoke command exited 1 as uid 10001:10001 with a permission error"), user
    report = (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]
    assert "so it ran again as root" in report and "ran as root (" in report
    instructions = (outcome.run_dir / "INSTRUCTIONS.md").read_text()  # type: ignore[operator]
    assert "**root**, after failing as uid 10001:10001" in instructions and "--user 0" in instructions
    assert managed(client, outcome.run_dir.name)[0] == []  # type: ignore[union-attr]  # both containers removed


def test_a_failed_builds_leftovers_are_its_own_layers_only_and_go_with_its_run(make_repo, tmp_path: Path,
                                                                                 client) -> None:  # type: ignore[no-untyped-def]
    """Run A fails after a step of its own; run B (another runs folder) takes that step from the cache, adds a layer
    and fails too. B's leftovers are B's layer and step containers, not A's cached layer nor the FROM image: its
    cleanup removes its layer and leaves A's (someone else's) in place."""
    import subprocess
    import sys

    from paper2run_tui.engine.build.cleanup import cleanup, run_leftovers

    marker = uuid.uuid4().hex
    shared = f"echo {marker} > /repo/shared.txt"
    files = {"demo/__init__.py": ""}
    plan_a = EnvPlan(base_image="python:3.11-slim", install_steps=[shared, "echo failing && false"],
                     smoke_command="python -c 'print(1)'")
    plan_b = plan_a.model_copy(update={"install_steps": [shared, f"echo {marker}-b > /repo/mine.txt", "false"]})
    run_a = _run(make_repo, tmp_path / "a", files, plan_a, ListSink()).run_dir
    sink_b = ListSink()
    run_b = _run(make_repo, tmp_path / "b", files, plan_b, sink_b).run_dir
    assert run_a is not None and run_b is not None
    assert load_run(run_b).metadata.attempts[0].outcome == "build-failed"
    a_layers = [ref for ref in run_leftovers(run_a) if _untagged_image(client, ref)]
    b_layers = [ref for ref in run_leftovers(run_b) if _untagged_image(client, ref)]
    assert a_layers and b_layers, (run_leftovers(run_a), run_leftovers(run_b))
    lines = [e.text for e in sink_b.events if e.kind == "log" and e.source == "build"]  # type: ignore[union-attr]
    assert any("Using cache" in line for line in lines)  # B took A's step from the cache ...
    assert not set(a_layers) & set(run_leftovers(run_b))  # ... and does not count A's layer as its own
    base = client.images.get("python:3.11-slim").id.split(":")[1][:12]
    assert not any(base.startswith(ref) or ref.startswith(base) for ref in run_leftovers(run_b))
    try:
        done = subprocess.run([sys.executable, "-m", "paper2run_tui", "cleanup", "--out", str(tmp_path / "b" / "runs"),
                               "--run", run_b.name, "--yes"], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert not any(_untagged_image(client, ref) for ref in b_layers)  # B's own layer went with its run
        assert all(_untagged_image(client, ref) for ref in a_layers)  # A's, which B used as cache, stays
    finally:
        cleanup(client, run_ids=[run_a.name], leftovers=run_leftovers(run_a))
    assert not any(_untagged_image(client, ref) for ref in a_layers)


def test_a_stopped_build_records_the_layers_it_made(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    """Stopped mid-build (Ctrl-C, a benchmark's budget): the layers committed before the stop are recorded too."""
    from paper2run_tui.engine.build.cleanup import cleanup, run_leftovers
    from paper2run_tui.engine.ports import CancelToken

    marker = uuid.uuid4().hex
    cancel = CancelToken()

    class StopAtSleep(ListSink):
        def emit(self, event: Event) -> None:
            super().emit(event)
            if event.kind == "log" and event.text.strip() == f"{marker}-sleeping":  # type: ignore[union-attr]
                cancel.cancel("stopped by the test")

    plan = EnvPlan(base_image="python:3.11-slim",
                   install_steps=[f"echo {marker} > /repo/stopped.txt", f"echo {marker}-sleeping && sleep 60"],
                   smoke_command="python -c 'print(1)'")
    repo = make_repo({"demo/__init__.py": ""}, name=f"contained-{uuid.uuid4().hex[:8]}")
    config = RunConfig(repo=str(repo), out=tmp_path / "runs", timeout=30, no_ca=True, max_attempts=1, limits=SMALL)
    outcome = run_pipeline(config, StopAtSleep(), None, cancel, planner=FixedPlanner(plan))
    assert outcome.status == "interrupted", outcome.reason
    run_dir = outcome.run_dir
    assert run_dir is not None
    left = run_leftovers(run_dir)
    layers = [ref for ref in left if _untagged_image(client, ref)]
    assert layers, left  # the layer with the marker, committed before the stop
    cleanup(client, run_ids=[run_dir.name], leftovers=left)
    assert not any(_untagged_image(client, ref) for ref in layers)
