"""The same end-to-end tests on every engine: the shared local Docker, a remote Docker over TLS (a second dockerd
this module starts on a loopback TCP socket), and Podman through its Docker-compatible API service (started here).

Each engine is reached only through the registry (RunConfig.engine / engine_host / engine_tls_dir), as a user's
--engine would. The second dockerd and the Podman service are stopped by their own pids at the end.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import cgroup_parent_possible, docker_or_fail
from engine_daemons import podman_service, tls_dockerd
from scripted import FixedPlanner

from paper2run_tui.engine.build.base import BuildRequest, Executor
from paper2run_tui.engine.build.ca_proxy import detect_ca_bundle
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.engines import engine_names, make_executor
from paper2run_tui.engine.errors import PreflightError
from paper2run_tui.engine.pipeline import RunOutcome, run_pipeline
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.record.store import load_run

pytestmark = pytest.mark.docker

ENGINES = ["docker", "docker-tls", "podman"]


@pytest.fixture(scope="module")
def shared_client():  # type: ignore[no-untyped-def]
    return docker_or_fail()


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory, shared_client) -> Iterator[dict[str, dict]]:  # type: ignore[no-untyped-def,type-arg]
    """The engines' RunConfig fields, by test name; the extra engines live as long as this module's tests."""
    with tls_dockerd(tmp_path_factory.mktemp("dockerd"), shared_client) as tls, \
            podman_service(tmp_path_factory.mktemp("podman")) as podman:
        yield {
            "docker": {"engine": "docker"},
            "docker-tls": {"engine": "docker", "engine_host": tls.host, "engine_tls_dir": tls.tls_dir},
            "podman": {"engine": "podman", "engine_host": podman.host},
        }


def _config(started: dict, which: str, **kw) -> RunConfig:  # type: ignore[no-untyped-def,type-arg]
    return RunConfig(**{"repo": ".", "no_ca": True, "timeout": 60, **started[which], **kw})


@pytest.mark.parametrize("which", ENGINES)
def test_a_repo_builds_and_passes_its_smoke_run_on_each_engine(which: str, started, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"demo/__init__.py": "VERSION = '1'\n",
                      "demo/__main__.py": "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"},
                     git=True, name="demo")
    sink = ListSink()
    config = _config(started, which, repo=str(repo), out=tmp_path)
    outcome = run_pipeline(config, sink)
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.smoke_outcome == "exit-0" and meta.highest_smoke_rung == "entrypoint-help"
    steps = [e for e in sink.events if e.kind == "build-progress"]
    assert steps and steps[-1].step == steps[-1].total, "the engine's progress parser saw every step"
    assert any("usage:" in e.text for e in sink.events if e.kind == "log" and e.source == "smoke")
    engine_line = [e.text for e in sink.events if e.kind == "log" and e.text.startswith("engine: ")]
    assert engine_line and engine_line[0].startswith(f"engine: {config.engine} ")
    # How the build's process limit reached its steps, as recorded: a cgroup parent only where this machine can
    # make one for the engine; best effort for a remote engine; nothing this tool sets for buildah's steps.
    here = "cgroup-parent" if cgroup_parent_possible(docker_or_fail()) else "update-api"
    expected = {"docker": here, "docker-tls": "update-api", "podman": "none"}[which]
    assert (meta.attempts[0].build_pids_limit or "").split(":")[0] == expected, meta.attempts[0].build_pids_limit
    executor = make_executor(config)
    # One label per filter: Podman 4.3's API matches none when given two.
    labels = [f"org.paper2run.run={outcome.run_dir.name}"]  # type: ignore[union-attr]
    assert executor.client.containers.list(all=True, filters={"label": labels}) == []  # type: ignore[attr-defined]
    images = executor.client.images.list(filters={"label": labels})  # type: ignore[attr-defined]
    assert len(images) == 1
    if which != "docker":  # the autouse clean-up knows only the shared engine
        executor.client.images.remove(images[0].id, force=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("which", ENGINES)
def test_a_failing_step_and_the_cache_are_read_from_each_engines_own_output(which: str, started, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    executor = make_executor(_config(started, which))
    (tmp_path / "a.txt").write_text("a\n")
    good = "FROM python:3.11-slim\nCOPY a.txt /a.txt\nRUN cat /a.txt\n"
    sink = ListSink()
    first = executor.build(BuildRequest(attempt=1, context_dir=tmp_path, dockerfile=good, tag=f"p2r-eng-test:{which}"),
                           sink, CancelToken())
    assert first.ok and (first.steps_total or 0) >= 3, first  # labels may add steps, one per label on buildah
    again = executor.build(BuildRequest(attempt=2, context_dir=tmp_path, dockerfile=good, tag=f"p2r-eng-test:{which}"),
                           sink, CancelToken())
    assert again.ok and again.steps_cached >= 2, again
    bad = good + "RUN echo about to fail && exit 3\n"
    failed = executor.build(BuildRequest(attempt=3, context_dir=tmp_path, dockerfile=bad, tag=f"p2r-eng-test:{which}-bad"),
                            sink, CancelToken())
    assert not failed.ok and failed.failing_step == "RUN echo about to fail && exit 3", failed
    executor.client.images.remove(f"p2r-eng-test:{which}", force=True)  # type: ignore[attr-defined]


@pytest.mark.parametrize("which", ENGINES)
def test_capabilities_say_what_each_engine_can_do(which: str, started) -> None:  # type: ignore[no-untyped-def]
    caps = make_executor(_config(started, which)).capabilities()  # type: ignore[attr-defined]
    assert caps.reachable and caps.version
    assert caps.progress_format == ("buildah" if which == "podman" else "docker-classic")
    assert caps.cache_mounts is (which == "podman")
    assert {"memory", "cpus", "pids"} <= set(caps.limits)


def test_a_wrong_client_certificate_is_refused_with_the_fix(started, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from engine_daemons import make_tls_files

    _, other_ca_client = make_tls_files(tmp_path / "other")  # signed by another CA
    config = _config(started, "docker-tls", engine_tls_dir=other_ca_client)
    with pytest.raises(PreflightError, match="no Docker engine answers at tcp://127.0.0.1"):
        _ = make_executor(config).client  # type: ignore[attr-defined]
    assert set(engine_names()) >= {"docker", "podman"}


@pytest.mark.parametrize("which", ENGINES)
def test_cleanup_by_run_removes_that_runs_containers_and_images_only(which: str, started, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Two runs' images and containers on the engine; cleanup of one run leaves the other's. (Podman 4.3's API
    matched nothing when given two label filters, so this removed nothing there before.)"""
    from paper2run_tui.engine.build.cleanup import cleanup, remove_run_containers

    executor = make_executor(_config(started, which))
    client = executor.client  # type: ignore[attr-defined]
    (tmp_path / "a.txt").write_text("a\n")
    runs = {name: f"p2r-cleanup-{which}-{name}" for name in ("mine", "other")}
    for name, run_id in runs.items():
        built = executor.build(BuildRequest(attempt=1, context_dir=tmp_path, dockerfile=f"FROM python:3.11-slim\n"
                                            f"COPY a.txt /a.txt\nLABEL x={name}\n", tag=f"p2r-cleanup-{which}:{name}",
                                            labels={"org.paper2run.run": run_id}), ListSink(), CancelToken())
        assert built.ok, built.error
        client.containers.create(f"p2r-cleanup-{which}:{name}", command=["true"], name=f"{run_id}-c",
                                 labels={"org.paper2run.managed": "true", "org.paper2run.run": run_id})
    client.containers.create(f"p2r-cleanup-{which}:mine", command=["true"], name=f"p2r-cleanup-{which}-left",
                             labels={"org.paper2run.managed": "true", "org.paper2run.run": runs["mine"]})
    try:
        removed = remove_run_containers(client, runs["mine"])
        assert sorted(removed) == sorted([f"p2r-cleanup-{which}-left", f"{runs['mine']}-c"])
        names = {c.name for c in client.containers.list(all=True)}
        assert f"{runs['other']}-c" in names and f"{runs['mine']}-c" not in names
        dry = cleanup(client, run_id=runs["mine"], dry_run=True)
        short = lambda names: [n.rsplit("/", 1)[-1] for n in names]  # noqa: E731 - Podman says docker.io/library/
        assert short(dry.images) == [f"p2r-cleanup-{which}:mine"] and dry.containers == []
        done = cleanup(client, run_id=runs["mine"])
        assert short(done.images) == [f"p2r-cleanup-{which}:mine"] and not done.errors
        tags = {t.rsplit("/", 1)[-1] for image in client.images.list() for t in image.tags}
        assert f"p2r-cleanup-{which}:other" in tags and f"p2r-cleanup-{which}:mine" not in tags
    finally:
        cleanup(client, run_id=runs["other"])
        for name in (f"{runs['other']}-c", f"{runs['mine']}-c", f"p2r-cleanup-{which}-left"):
            with contextlib.suppress(Exception):
                client.containers.get(name).remove(force=True)


def _wired_plan_dockerfile(apt: str, pip: str) -> str:
    """Like a rendered one: the host's CA bundle first (cache mounts leave pip to reach PyPI itself), pip's cache
    off as the renderer sets it, an apt step and a pip step."""
    return ("FROM python:3.11-slim\nCOPY .paper2run/ca.crt /usr/local/share/ca-certificates/p2r.crt\n"
            "ENV PIP_CERT=/usr/local/share/ca-certificates/p2r.crt PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1\n"
            f"RUN apt-get update \\\n && apt-get install -y {apt} \\\n && rm -rf /var/lib/apt/lists/*\n"
            f"RUN pip install {pip}\nRUN python -c 'import six' && tree --version\n")


@pytest.mark.parametrize("which", ENGINES)
def test_a_repair_that_changes_dependencies_reuses_the_earlier_downloads(which: str, started, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Three attempts whose apt and pip steps change: the second and third take the files the first downloaded
    (the host's cache server for Docker's classic builder, cache mounts on buildah), the Dockerfile's own lines are
    what the steps and the failing step are called, and the image keeps none of the wiring."""
    cache = tmp_path / "cache"
    config = _config(started, which, cache_dir=cache)
    executor = make_executor(config)
    (tmp_path / "repo").mkdir()
    bundle = detect_ca_bundle(None, os.environ)
    ca = {"ca.crt": bundle.read_bytes() if bundle else b""}
    attempts = [("--no-install-recommends tree", "six==1.16.0"),
                ("tree", "six==1.16.0 idna==3.7"),
                ("tree", "six==1.16.0 idna==3.7 no-such-distribution-p2r-test")]
    results, sinks = [], []
    for number, (apt, pip) in enumerate(attempts, start=1):
        sink = ListSink()
        results.append(executor.build(BuildRequest(attempt=number, context_dir=tmp_path / "repo",
                                                   dockerfile=_wired_plan_dockerfile(apt, pip), extra_files=ca,
                                                   tag=f"p2r-dlcache-{which}:{number}"), sink, CancelToken()))
        sinks.append([e.text for e in sink.events if e.kind == "log"])
    assert results[0].ok and results[1].ok, (results[0].error, results[1].error)
    assert not results[2].ok and results[2].failing_step == f"RUN pip install {attempts[2][1]}", results[2]
    steps = [e.instruction for e in sink.events if e.kind == "build-progress"]
    apt_steps = [s for s in steps if "apt-get install -y tree" in s]
    assert apt_steps and all(s.startswith("RUN apt-get update") and s.endswith("/var/lib/apt/lists/*")
                             for s in apt_steps), apt_steps  # the Dockerfile's own step, the wiring taken off
    assert all("--mount" not in line and "PIP_INDEX_URL" not in line for line in sinks[1] if line.startswith(("Step", "STEP")))
    said = next(line for line in sinks[0] if line.startswith("download cache: pip and apt steps use"))
    summary = [line for line in sinks[1] if line.startswith("download cache:") and "from the cache" in line]
    if which == "podman":  # buildah: apt with a cache mount, kept by the engine
        assert "a cache mount for apt" in said or said.startswith("download cache: pip and apt steps use cache mounts")
        assert not any("Get:" in line and " tree " in line for line in sinks[1]), "tree's .deb came from the mount"
    else:  # the classic builder: apt through the host's cache server too
        assert said.startswith("download cache: pip and apt steps use the host's download cache at http://"), said
        assert list((cache / "downloads" / "apt").rglob("tree_*.deb"))
    if "the host's download cache" in said:  # pip through the host's cache server (Podman: once its bridge exists)
        hits = 2 if which != "podman" else 1  # six's wheel (and, classic, tree's .deb) a second time
        assert summary and summary[0].startswith(f"download cache: {hits} file(s) from the cache"), sinks[1]
        assert list((cache / "downloads" / "pypi").rglob("six-1.16.0-*.whl"))
    else:  # pip's own cache in the mount: it keeps a file only when the index's answer allows caching
        assert any("Using cached six-1.16.0" in line or "Downloading six-1.16.0" in line for line in sinks[1])
    image = executor.client.images.get(f"p2r-dlcache-{which}:2")  # type: ignore[attr-defined]
    env = " ".join(image.attrs["Config"].get("Env") or [])
    assert "PIP_INDEX_URL" not in env and "http_proxy" not in env and "PIP_NO_CACHE_DIR=1" in env
    look = ["sh", "-c", "ls /etc/apt/apt.conf.d; ls -d /root/.cache/pip 2>/dev/null; true"]
    built_view = executor.client.containers.run(image.id, look, remove=True).decode()  # type: ignore[attr-defined]
    base_view = executor.client.containers.run("python:3.11-slim", look, remove=True).decode()  # type: ignore[attr-defined]
    assert built_view == base_view, "apt's configuration is put back, and no cache folder is left in the image"
    for number in (1, 2):
        executor.client.images.remove(f"p2r-dlcache-{which}:{number}", force=True)  # type: ignore[attr-defined]


# -- the pipeline end to end on each engine: a repair through the download cache, a smoke failure, a timeout ----

def _run_on(which: str, started, repo: Path, out: Path, plan: EnvPlan, sink: ListSink | None = None,  # type: ignore[no-untyped-def]
            **kw) -> tuple[RunOutcome, Executor]:
    """run_pipeline on engine `which` with a fixed first plan; the run's images on that engine are the test's to
    remove (the autouse clean-up knows only the shared engine), so they are removed here."""
    config = _config(started, which, repo=str(repo), out=out, **kw)
    outcome = run_pipeline(config, sink or ListSink(), planner=FixedPlanner(plan))
    executor = make_executor(config)
    if which != "docker" and outcome.run_dir is not None:
        from paper2run_tui.engine.build.cleanup import cleanup

        cleanup(executor.client, run_id=outcome.run_dir.name)  # type: ignore[attr-defined]
    return outcome, executor


def _left_containers(executor: Executor, run_id: str) -> list[str]:
    client = executor.client  # type: ignore[attr-defined]
    return [c.name for c in client.containers.list(all=True, filters={"label": [f"org.paper2run.run={run_id}"]})]


@pytest.mark.parametrize("which", ENGINES)
def test_a_repair_reuses_what_the_first_attempt_downloaded_on_each_engine(which: str, started, make_repo,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    """A project whose code loads OpenMP (libgomp.so.1) that its plan does not install: attempt 1 builds (tree
    from apt, six from PyPI) and its smoke fails; the missing-shared-library rule adds libgomp1 to the apt step,
    so attempt 2 runs the apt step and the pip step after it again, and takes tree's .deb and six's wheel from
    the download cache (the host's cache server, or buildah's cache mount for apt) instead of the network."""
    repo = make_repo({"requirements.txt": "six==1.16.0\n",
                      "main.py": "import ctypes\nimport six\nctypes.CDLL('libgomp.so.1')\n"
                                 "print('six', six.__version__, 'with OpenMP')\n"}, git=True, name=f"omp-{which}")
    plan = EnvPlan(base_image="python:3.11-slim", system_packages=["tree"],
                   install_steps=["pip install -r requirements.txt"], smoke_command="python main.py")
    sink = ListSink()
    cache = tmp_path / "cache"
    outcome, _ = _run_on(which, started, repo, tmp_path / "runs", plan, sink, no_ca=False, cache_dir=cache)
    assert outcome.status == "success", outcome.reason
    run_dir = outcome.run_dir
    assert run_dir is not None
    meta = load_run(run_dir).metadata
    assert [a.outcome for a in meta.attempts] == ["smoke-failed", "smoke-ok"], [a.outcome for a in meta.attempts]
    assert meta.attempts[0].matched_rules[0] == "missing-shared-library"
    second = (run_dir / "attempts" / "02" / "Dockerfile").read_text()
    assert "libgomp1" in second and "--mount" not in second and "PIP_INDEX_URL" not in second, second
    logs = {n: [e.text for e in sink.events if e.kind == "log" and e.source == "build" and e.attempt == n] for n in (1, 2)}
    said = next(t for e in sink.events if e.kind == "log" and (t := e.text).startswith("download cache: pip and apt"))
    assert any("six==1.16.0" in line or "six-1.16.0" in line for line in logs[2]), "attempt 2 ran pip again"
    host_pip = "the host's download cache" in said
    if which == "podman":  # buildah: apt through a cache mount; pip through the host's cache when its bridge is up
        assert "a cache mount for apt" in said or said.startswith("download cache: pip and apt steps use cache mounts"), said
        # The mount is the engine's (its id is the tool's, not this test's cache folder's): attempt 1 may have
        # found tree there already; attempt 2 installs it again and never fetches it.
        assert any("Unpacking tree" in line for line in logs[2]), "attempt 2 ran the apt step again"
        assert not any("Get:" in line and " tree " in line for line in logs[2]), "attempt 2 took tree from the mount"
    else:  # the classic builder, local or over TLS: both through the host's cache server on its bridge
        assert said.startswith("download cache: pip and apt steps use the host's download cache at http://"), said
        assert list((cache / "downloads" / "apt").rglob("tree_*.deb"))
    if host_pip:
        reused = [line for line in logs[2] if line.startswith("download cache:") and "from the cache" in line]
        assert reused, logs[2][-20:]
        hits = int(reused[0].split("download cache: ", 1)[1].split()[0])
        assert hits >= (1 if which == "podman" else 2), reused  # six's wheel (and, classic, tree's .deb)
        assert list((cache / "downloads" / "pypi").rglob("six-1.16.0-*.whl"))
    smoke = [e.text for e in sink.events if e.kind == "log" and e.source == "smoke" and e.attempt == 2]
    assert "six 1.16.0 with OpenMP" in smoke, smoke


@pytest.mark.parametrize("which", ENGINES)
def test_a_smoke_failure_is_read_from_each_engines_own_streams(which: str, started, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The smoke command fails with a message no rule knows: the run stops there, saying the engine's stderr
    line (each engine's log API separates the streams), and leaves no container on that engine."""
    repo = make_repo({"x.py": "print(1)\n"}, name=f"fails-{which}")
    plan = EnvPlan(base_image="python:3.11-slim",
                   smoke_command="python -c 'import sys; print(\"to stdout\"); sys.exit(\"flux capacitor empty\")'")
    outcome, executor = _run_on(which, started, repo, tmp_path, plan)
    assert outcome.status == "stopped-by-rules", outcome.reason
    assert outcome.reason == "no known failure signature matched: flux capacitor empty"
    attempt = outcome.run_dir / "attempts" / "01"  # type: ignore[operator]
    assert "flux capacitor empty" in (attempt / "smoke_stderr.log").read_text()
    assert "flux capacitor" not in (attempt / "smoke_stdout.log").read_text()
    assert "to stdout" in (attempt / "smoke_stdout.log").read_text()
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.attempts[0].outcome == "smoke-failed" and meta.attempts[0].exit_code == 1
    assert _left_containers(executor, outcome.run_dir.name) == []  # type: ignore[union-attr]


@pytest.mark.parametrize("which", ENGINES)
def test_a_smoke_run_still_alive_at_the_timeout_is_stopped_and_removed_on_each_engine(which: str, started, make_repo,  # type: ignore[no-untyped-def]
                                                                                       tmp_path: Path) -> None:
    """A server-like command outlives the 3 s timeout: the engine's container is stopped at the limit (not when
    the command ends: it never does), the run counts it alive at the timeout, and no container is left."""
    repo = make_repo({"serve.py": "import time\nprint('serving', flush=True)\ntime.sleep(1000)\n"}, name=f"serve-{which}")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python serve.py")
    sink = ListSink()
    t0 = time.monotonic()
    outcome, executor = _run_on(which, started, repo, tmp_path, plan, sink, timeout=3)
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.smoke_outcome == "alive-at-timeout"
    assert "serving" in [e.text for e in sink.events if e.kind == "log" and e.source == "smoke"]
    assert meta.attempts[0].smoke_seconds is not None and 3 <= meta.attempts[0].smoke_seconds < 30, meta.attempts[0]
    assert time.monotonic() - t0 < 300
    assert _left_containers(executor, outcome.run_dir.name) == []  # type: ignore[union-attr]


def test_an_engine_that_does_not_answer_fails_with_how_to_start_it(tmp_path: Path) -> None:
    """No Podman service at the socket: the run's preflight says so and how to start one (the tests above fail
    the same way, through engine_daemons, when an engine cannot start: never a skip)."""
    config = RunConfig(repo=".", engine="podman", engine_host=f"unix://{tmp_path / 'none.sock'}")
    with pytest.raises(PreflightError, match="no Podman API service answers at unix://") as err:
        _ = make_executor(config).client  # type: ignore[attr-defined]
    assert "podman system service --time=0" in err.value.fix, err.value
