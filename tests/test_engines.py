"""The same end-to-end tests on every engine: the shared local Docker, a remote Docker over TLS (a second dockerd
this module starts on a loopback TCP socket), and Podman through its Docker-compatible API service (started here).

Each engine is reached only through the registry (RunConfig.engine / engine_host / engine_tls_dir), as a user's
--engine would. The second dockerd and the Podman service are stopped by their own pids at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_support import docker_or_fail
from engine_daemons import podman_service, tls_dockerd

from paper2run_tui.engine.build.base import BuildRequest
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.engines import engine_names, make_executor
from paper2run_tui.engine.errors import PreflightError
from paper2run_tui.engine.pipeline import run_pipeline
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
