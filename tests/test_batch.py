"""`batch`: the list formats, resuming after an interruption with nothing run twice, the summary matching the run
folders, and a pool whose engine dies mid-build (a cuttable socket proxy in front of the shared engine): the
repository finishes on the other engine and the summary says which engine ran what."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from docker_support import docker_or_fail
from engine_proxy import EngineProxy

from paper2run_tui.batch_cli import parse_pool
from paper2run_tui.engine.batch.listing import parse_list
from paper2run_tui.engine.batch.scheduler import BatchSpec, PoolMember, run_batch
from paper2run_tui.engine.batch.state import BatchRow
from paper2run_tui.engine.batch.summary import write_summary
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.errors import UserError
from paper2run_tui.engine.ports import CancelToken
from paper2run_tui.engine.record.store import load_run

APP = "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"


def test_a_list_takes_lines_with_ref_and_paper_or_a_csv() -> None:
    items = parse_list("# lab papers\nhttps://github.com/a/b ref=v1 paper=2101.00001\n./local  # a path\n"
                       "https://github.com/a/b main\nhttps://github.com/a/b ref=v1\n")
    assert [(i.key, i.repo, i.ref, i.paper) for i in items] == [
        ("b@v1", "https://github.com/a/b", "v1", "2101.00001"), ("local", "./local", None, None),
        ("b@main", "https://github.com/a/b", "main", None), ("b@v1-2", "https://github.com/a/b", "v1", None)]
    csv_items = parse_list("repo,ref,paper\nhttps://github.com/x/y.git,,paper.pdf\n/data/z,dev,\n")
    assert [(i.key, i.ref, i.paper) for i in csv_items] == [("y", None, "paper.pdf"), ("z@dev", "dev", None)]


@pytest.mark.parametrize(("text", "message"), [
    ("", "names no repository"), ("repo,ref\n,main\n", "line 2: no repository"),
    ("https://x/y colour=red\n", "unknown field 'colour'"), ("a b c d\n", "too many fields"),
])
def test_a_bad_list_says_which_line_and_why(text: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_list(text)


def test_a_pool_spec_is_read_or_refused_clearly() -> None:
    pool = parse_pool(["local=docker,slots=2", "remote=docker,host=tcp://h:2376,tls=/certs", "pod=podman"])
    assert [(m.name, m.engine, m.host, m.slots) for m in pool] == [
        ("local", "docker", None, 2), ("remote", "docker", "tcp://h:2376", 1), ("pod", "podman", None, 1)]
    for bad in (["local"], ["a=docker,slots=0"], ["a=docker,colour=red"], ["a=docker", "a=podman"]):
        with pytest.raises(UserError):
            parse_pool(bad)


class Recorder:
    def __init__(self, on_finished=None, on_changed=None) -> None:  # type: ignore[no-untyped-def]
        self.finished: list[tuple[str, str | None, int, int]] = []
        self.messages: list[str] = []
        self.on_finished, self.on_changed = on_finished, on_changed

    def row_changed(self, row: BatchRow) -> None:
        if self.on_changed:
            self.on_changed(row)

    def row_finished(self, row: BatchRow, done: int, total: int) -> None:
        self.finished.append((row.item.key, row.status, done, total))
        if self.on_finished:
            self.on_finished(row)

    def message(self, text: str) -> None:
        self.messages.append(text)


def _repos(make_repo, n: int) -> list[Path]:  # type: ignore[no-untyped-def]
    return [make_repo({f"pkg{i}/__init__.py": "", f"pkg{i}/__main__.py": APP}, git=True, name=f"demo{i}")
            for i in range(n)]


def test_an_interrupted_batch_resumes_with_nothing_run_twice(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repos = _repos(make_repo, 4)
    items = parse_list("".join(f"{r}\n" for r in repos))
    spec = BatchSpec(folder=tmp_path / "batch", items=items, pool=[PoolMember(name="local", slots=1)])
    base = RunConfig(repo=".", dry_run=True, no_ca=True)
    cancel = CancelToken()
    first = Recorder(on_finished=lambda row: cancel.cancel("Ctrl-C"))
    state = run_batch(spec, base, first, cancel)
    done_first = [r for r in state.rows if r.state == "done"]
    assert len(done_first) == 1 and state.finished_at is None
    assert all(r.state == "interrupted" for r in state.rows if r.state != "done")

    again = Recorder()
    state = run_batch(spec, base, again, CancelToken())
    assert any("1 of 4 repositories already done" in m for m in again.messages)
    assert sorted(k for k, *_ in again.finished) == sorted(i.key for i in items if i.key != done_first[0].item.key)
    assert [d for *_, d, _t in again.finished][-1] == 4
    assert state.finished_at is not None and all(r.status == "dry-run" for r in state.rows)
    # Nothing ran twice: one finished run folder per repository (an interrupted one may exist beside it).
    finished = [load_run(p).metadata for p in (spec.folder / "runs").iterdir() if (p / "metadata.json").is_file()]
    assert sorted(m.repo for m in finished if m.status == "dry-run") == sorted(str(r) for r in repos)

    data = write_summary(state, spec.folder)
    assert data["outcomes"] == {"dry-run": 4} and data["engines"] == {"local": 4}
    csv_lines = (spec.folder / "summary.csv").read_text().splitlines()
    assert csv_lines[0].startswith("key,repo,ref,state,status") and len(csv_lines) == 5
    md = (spec.folder / "summary.md").read_text()
    assert "dry-run  " in md and "| demo0 | dry-run |" in md
    assert json.loads((spec.folder / "summary.json").read_text())["total"] == 4


def test_the_batch_command_prints_a_line_per_repository_and_a_progress_bar(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repos = _repos(make_repo, 2)
    listing = tmp_path / "dev.txt"
    listing.write_text("".join(f"{r}\n" for r in repos))
    cmd = [sys.executable, "-m", "paper2run_tui", "batch", str(listing), "--out", str(tmp_path / "b"), "--jobs", "2",
           "--dry-run", "--no-ca", "--budget", "120"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PAPER2RUN_CONFIG_FILE": ""})
    assert done.returncode == 1, done.stderr  # dry runs are not successes
    lines = done.stdout.splitlines()
    assert sorted(line.split("\t")[0] for line in lines) == ["demo0", "demo1"]
    assert all(line.split("\t")[1] == "dry-run" for line in lines)
    assert "[##############################] 2/2" in done.stderr and "summary in" in done.stderr
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path,
                           env={**os.environ, "PAPER2RUN_CONFIG_FILE": ""})
    assert "2 of 2 repositories already done" in again.stderr and again.stdout == ""


@pytest.mark.docker
def test_a_repository_whose_engine_dies_mid_build_finishes_on_another(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = docker_or_fail()
    proxy = EngineProxy(Path(f"/tmp/p2r-batch-{os.getpid()}-{time.monotonic_ns()}.sock"))
    repos = _repos(make_repo, 2)
    items = parse_list("".join(f"{r}\n" for r in repos))
    pool = [PoolMember(name="doomed", engine="docker", host=proxy.url), PoolMember(name="local", engine="docker")]
    spec = BatchSpec(folder=tmp_path / "batch", items=items, pool=pool, keep_images=False)
    cut_once = threading.Event()

    def cut_during_build(row: BatchRow) -> None:
        if row.engine == "doomed" and row.phase == "build" and not cut_once.is_set():
            cut_once.set()
            proxy.cut()

    recorder = Recorder(on_changed=cut_during_build)
    try:
        state = run_batch(spec, RunConfig(repo=".", no_ca=True, timeout=60, max_attempts=1), recorder, CancelToken())
    finally:
        proxy.cut()
    assert cut_once.is_set(), "the doomed engine got a repository and was cut during its build"
    assert all(r.status == "success" for r in state.rows), [(r.item.key, r.status, r.reason) for r in state.rows]
    moved = [r for r in state.rows if r.engines_tried[:1] == ["doomed"]]
    assert len(moved) == 1 and moved[0].engines_tried == ["doomed", "local"] and moved[0].engine == "local"
    assert any("engine doomed is gone" in m for m in recorder.messages)
    data = write_summary(state, spec.folder)
    assert data["engines"] == {"local": 2} and data["outcomes"] == {"success": 2}
    for row in state.rows:  # keep_images=False: the successful runs' images were removed too
        assert client.images.list(filters={"label": [f"org.paper2run.run={Path(row.run_dir).name}"]}) == []  # type: ignore[arg-type]


def test_a_slurm_batch_of_three_repositories_runs_on_a_local_cluster(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from slurm_cluster import slurm_cluster

    repos = _repos(make_repo, 3)
    listing = tmp_path / "lab.txt"
    listing.write_text("".join(f"{r}\n" for r in repos))
    shared = Path(tempfile.mkdtemp(prefix="p2r-shared-"))  # the nodes' shared folder (here: the one node)
    try:
        with slurm_cluster() as env:
            cmd = [sys.executable, "-m", "paper2run_tui", "batch", str(listing), "--out", str(shared / "b"),
                   "--scheduler", "slurm", "--jobs", "3", "--dry-run", "--no-ca"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                                  env={**env, "PAPER2RUN_CONFIG_FILE": ""})
        lines = done.stdout.splitlines()
        assert sorted(line.split("\t")[0] for line in lines) == ["demo0", "demo1", "demo2"], done.stderr
        assert all(line.split("\t")[1] == "dry-run" and " job " in line.split("\t")[4] for line in lines), lines
        state = json.loads((shared / "b" / "batch.json").read_text())
        assert len({row["job"] for row in state["rows"]}) == 3
        for row in state["rows"]:  # each job wrote an ordinary run folder to the shared folder
            meta = load_run(Path(row["run_dir"])).metadata
            assert meta.status == "dry-run" and Path(row["run_dir"]).is_relative_to(shared)
        summary = json.loads((shared / "b" / "summary.json").read_text())
        assert summary["outcomes"] == {"dry-run": 3}
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def _squeue(job_ids: list[str]) -> dict[str, str]:
    out = subprocess.run(["squeue", "-h", "-j", ",".join(job_ids), "-o", "%i %T"], capture_output=True, text=True,
                         check=False).stdout
    return dict(line.split() for line in out.splitlines() if line.strip())


def test_an_interrupted_slurm_batch_follows_its_jobs_on_resume_with_nothing_run_twice(make_repo, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The batch client stops while its three jobs wait in the queue (the node drained): the jobs stay the
    cluster's. Before the resume, demo2's job is cancelled while still queued and demo0's runs to its end with no
    client following it; demo1's is held until the resumed batch has started. The resumed batch reads demo0's run,
    follows demo1's job, and submits only demo2 again: three repositories, three runs, one folder each."""
    from slurm_cluster import slurm_cluster

    from paper2run_tui.engine.batch.slurm import SlurmRunner

    repos = _repos(make_repo, 3)
    shared = Path(tempfile.mkdtemp(prefix="p2r-shared-"))
    spec = BatchSpec(folder=shared / "b", items=parse_list("".join(f"{r}\n" for r in repos)),
                     pool=[PoolMember(name="slurm", slots=3)])
    base = RunConfig(repo=".", dry_run=True, no_ca=True)

    def scontrol(*args: str) -> None:
        done = subprocess.run(["scontrol", *args], capture_output=True, text=True, check=False)
        assert done.returncode == 0, (args, done.stderr)

    try:
        with slurm_cluster() as env:
            monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
            node = socket.gethostname().split(".")[0]
            scontrol("update", f"nodename={node}", "state=drain", "reason=p2r-test")
            cancel = CancelToken()

            def stop_once_all_submitted(row: BatchRow) -> None:
                state = json.loads((spec.folder / "batch.json").read_text())
                if all(r["job"] for r in state["rows"]):
                    cancel.cancel("Ctrl-C")
            first = run_batch(spec, base, Recorder(on_changed=stop_once_all_submitted), cancel, run=SlurmRunner())
            jobs = {r.item.key: r.job for r in first.rows}
            assert all(r.state == "interrupted" and r.job for r in first.rows), [(r.item.key, r.state) for r in first.rows]
            assert _squeue(list(jobs.values())) == dict.fromkeys(jobs.values(), "PENDING"), "the jobs stayed queued"
            # While no client follows: demo2's job is cancelled before it ever ran, demo0's runs to its end.
            subprocess.run(["scancel", jobs["demo2"]], check=True)
            scontrol("hold", jobs["demo1"])
            scontrol("update", f"nodename={node}", "state=resume")
            deadline = time.monotonic() + 120
            while jobs["demo0"] in _squeue([jobs["demo0"]]) and time.monotonic() < deadline:
                time.sleep(0.5)
            assert jobs["demo0"] not in _squeue([jobs["demo0"]]), "demo0's job ended"
            assert _squeue([jobs["demo1"]]) == {jobs["demo1"]: "PENDING"}

            def release_demo1(row: BatchRow) -> None:
                if row.item.key == "demo1" and row.state == "running" and not released:
                    released.append(True)
                    scontrol("release", jobs["demo1"])
            released: list[bool] = []
            recorder = Recorder(on_changed=release_demo1)
            resumed = run_batch(spec, base, recorder, CancelToken(), run=SlurmRunner())
        rows = {r.item.key: r for r in resumed.rows}
        assert all(r.state == "done" and r.status == "dry-run" for r in rows.values()), \
            [(k, r.status, r.reason) for k, r in rows.items()]
        assert rows["demo0"].job == jobs["demo0"] and rows["demo1"].job == jobs["demo1"], "followed, not resubmitted"
        assert rows["demo2"].job != jobs["demo2"], "the job cancelled before it ran was submitted again"
        assert sorted(key for key, *_ in recorder.finished) == ["demo0", "demo1", "demo2"]
        runs = sorted((spec.folder / "runs").glob("slurm-*/*/metadata.json"))
        assert len(runs) == 3, runs  # one run each: nothing ran twice
        assert {Path(r.run_dir).parent.name for r in rows.values()} == {p.parent.parent.name for p in runs}  # type: ignore[arg-type]
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_a_repository_whose_node_failed_is_submitted_again_excluding_that_node(make_repo, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """demo0's job is running when its node is set DOWN: Slurm ends the job NODE_FAIL (it went in with
    --no-requeue, so Slurm does not put it back there itself), and the runner submits demo0 again with
    --exclude=<that node>. The test cluster has one node, so the real sbatch refuses the exclusion ("Requested
    node configuration is not available"): demo0 ends engine-lost saying which node failed and what sbatch said,
    batch.json keeps the node for a resumed batch, and the cluster stays in the pool (demo1, queued behind it on
    the one slot, runs). What one node cannot show: the second job running on another node."""
    from slurm_cluster import slurm_cluster

    from paper2run_tui.engine.batch.slurm import SlurmRunner

    repos = _repos(make_repo, 2)
    shared = Path(tempfile.mkdtemp(prefix="p2r-shared-"))
    spec = BatchSpec(folder=shared / "b", items=parse_list("".join(f"{r}\n" for r in repos)),
                     pool=[PoolMember(name="slurm", slots=1)])
    base = RunConfig(repo=".", dry_run=True, no_ca=True)
    failed: dict[str, str] = {}

    def fail_the_node_under(job: str) -> None:
        """Wait until the job runs, then take its node down (what a dead node looks like to slurmctld)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _squeue([job]).get(job) == "RUNNING":
                done = subprocess.run(["scontrol", "update", f"nodename={node}", "state=down", "reason=p2r-test"],
                                      capture_output=True, text=True, check=False)
                failed[job] = done.stderr or "down"
                return
            time.sleep(0.1)

    def on_changed(row: BatchRow) -> None:
        if row.item.key == "demo0" and row.job and not failed and row.job not in watching:
            watching.append(row.job)
            threading.Thread(target=fail_the_node_under, args=(row.job,), daemon=True).start()
    watching: list[str] = []
    try:
        with slurm_cluster() as env:
            monkeypatch.setenv("SLURM_CONF", env["SLURM_CONF"])
            node = socket.gethostname().split(".")[0]
            state = run_batch(spec, base, Recorder(on_changed=on_changed), CancelToken(), run=SlurmRunner())
            first = subprocess.run(["scontrol", "show", "job", watching[0]], capture_output=True, text=True).stdout
        rows = {r.item.key: r for r in state.rows}
        assert failed == {watching[0]: "down"}, failed
        assert "JobState=NODE_FAIL" in first and "Requeue=0" in first, first
        demo0 = rows["demo0"]
        assert demo0.status == "engine-lost", (demo0.status, demo0.reason)
        assert f"its node(s) {node} failed, and with --exclude={node} sbatch refused the job" in demo0.reason, demo0.reason
        assert "Requested node configuration is not available" in demo0.reason, demo0.reason
        assert demo0.job == watching[0], "the refused resubmission made no job"
        assert demo0.excluded_nodes == [node]
        saved = json.loads((spec.folder / "batch.json").read_text())
        assert [r["excluded_nodes"] for r in saved["rows"]] == [[node], []]
        assert rows["demo1"].status == "dry-run" and rows["demo1"].engine == "slurm", (rows["demo1"].status,
                                                                                      rows["demo1"].reason)
        assert len(list((spec.folder / "runs").glob("slurm-*"))) == 2, "one job folder each, none for the refusal"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


async def test_the_batch_screen_shows_a_live_table_and_opens_a_run(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from textual.widgets import DataTable

    from paper2run_tui.tui.app import Paper2RunApp
    from paper2run_tui.tui.screens.batch import BatchScreen
    from paper2run_tui.tui.screens.run_detail import RunDetailScreen

    repos = _repos(make_repo, 2)
    spec = BatchSpec(folder=tmp_path / "batch", items=parse_list("".join(f"{r}\n" for r in repos)),
                     pool=[PoolMember(name="local", slots=2)])
    screen = BatchScreen(spec, RunConfig(repo=".", dry_run=True, no_ca=True))
    app = Paper2RunApp("home", None, tmp_path / "batch" / "runs")
    async with app.run_test(size=(120, 30)) as pilot:
        await app.push_screen(screen)
        table = screen.query_one(DataTable)
        assert table.row_count == 2
        deadline = time.monotonic() + 60
        while not screen.finished and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert screen.finished
        assert [table.get_cell(f"demo{i}", "status") for i in range(2)] == ["dry-run", "dry-run"]
        assert all(table.get_cell(f"demo{i}", "where") == "local" for i in range(2))
        assert "2/2 finished" in str(screen.query_one("#batch-progress").render())
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)
    assert (spec.folder / "summary.md").is_file()


async def test_the_batch_screen_queues_the_gates_of_approve_ask(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from paper2run_tui.tui.app import Paper2RunApp
    from paper2run_tui.tui.screens.batch import BatchScreen
    from paper2run_tui.tui.screens.gate import GateScreen

    repos = _repos(make_repo, 2)
    spec = BatchSpec(folder=tmp_path / "batch", items=parse_list("".join(f"{r}\n" for r in repos)),
                     pool=[PoolMember(name="local", slots=2)])
    screen = BatchScreen(spec, RunConfig(repo=".", dry_run=True, no_ca=True, approve="ask", gate_initial=True))
    app = Paper2RunApp("home", None, tmp_path / "batch" / "runs")
    async with app.run_test(size=(140, 40)) as pilot:
        await app.push_screen(screen)

        async def until(check, what: str) -> None:  # type: ignore[no-untyped-def]
            deadline = time.monotonic() + 60
            while not check() and time.monotonic() < deadline:
                await pilot.pause(0.2)
            assert check(), what

        await until(lambda: len(screen.gates) == 2, "both runs wait at their first gate")
        assert "2 gate(s) waiting" in str(screen.query_one("#batch-gates").render())
        for left in (1, 0):
            await pilot.press("g")
            await until(lambda: isinstance(app.screen, GateScreen), "the next gate opens")
            assert len(screen.gates) == left
            await pilot.press("ctrl+s")
            await until(lambda: app.screen is screen, "the gate closes on approve")
        await until(lambda: screen.finished, "the batch finishes")
        assert all(row.status == "dry-run" for row in screen.rows.values())
