"""The DockerExecutor on its own, on the real engine: build progress and the failing step, cache reuse after a
smoke-only change, each smoke outcome with its container removed, and the context tar it sends."""

from __future__ import annotations

import tarfile
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
from docker_support import docker_or_fail, managed

from paper2run_tui.engine.build.base import BuildRequest, SmokeRequest
from paper2run_tui.engine.build.cleanup import cleanup
from paper2run_tui.engine.build.docker_executor import DockerExecutor, build_context
from paper2run_tui.engine.config import DockerLimits
from paper2run_tui.engine.contracts import EnvPlan, SmokeRung
from paper2run_tui.engine.errors import PreflightError
from paper2run_tui.engine.ports import Cancelled, CancelToken, ListSink
from paper2run_tui.engine.render import render_dockerfile


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return docker_or_fail()


def _build(executor: DockerExecutor, repo: Path, plan: EnvPlan, run_id: str, attempt: int = 1) -> tuple[Any, ListSink]:
    sink = ListSink()
    text = render_dockerfile(plan, facts=None, repo_dir=repo, attempt=attempt)
    result = executor.build(BuildRequest(attempt=attempt, context_dir=repo, dockerfile=text,
                                         tag=f"paper2run/{run_id}:{attempt}", labels={"org.paper2run.run": run_id}),
                            sink, CancelToken())
    return result, sink


def test_context_tar_skips_git_honours_dockerignore_and_hides_the_dockerfile(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"a.py": "x = 1\n", "data/big.bin": "0" * 10, ".dockerignore": "data\n"}, git=True, name="ctx")
    request = BuildRequest(attempt=1, context_dir=repo, dockerfile="FROM scratch\n", tag="t:1",
                           extra_files={"ca.crt": b"PEM"})
    with tarfile.open(fileobj=build_context(request)) as tar:
        names = set(tar.getnames())
        ignore = tar.extractfile(".dockerignore").read().decode()  # type: ignore[union-attr]
    assert {"a.py", ".paper2run/Dockerfile", ".paper2run/ca.crt"} <= names
    assert not any(n == ".git" or n.startswith(".git/") for n in names)
    assert ignore.splitlines()[0] == "data" and ".paper2run/Dockerfile" in ignore.splitlines()


@pytest.mark.docker
def test_build_streams_progress_and_a_failure_names_its_step(make_repo, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"x.py": "print(1)\n"}, name="fail-step")
    marker = uuid.uuid4().hex[:8]
    executor = DockerExecutor()
    ok_plan = EnvPlan(base_image="python:3.11-slim", install_steps=[f"echo ok-{marker}"], smoke_command="python x.py")
    result, sink = _build(executor, repo, ok_plan, f"t-ok-{marker}")
    assert result.ok and result.steps_total and result.image_id
    progress = [e for e in sink.events if e.kind == "build-progress"]
    assert progress and progress[-1].step == progress[-1].total == result.steps_total
    assert any(e.kind == "log" and e.source == "build" and f"ok-{marker}" in e.text for e in sink.events)

    bad_plan = ok_plan.model_copy(update={"install_steps": [f"echo boom-{marker} && exit 3"]})
    result, sink = _build(executor, repo, bad_plan, f"t-bad-{marker}")
    assert not result.ok
    assert result.failing_step == f"RUN echo boom-{marker} && exit 3"
    assert result.error and "3" in result.error
    cleanup(client, run_id=f"t-ok-{marker}")
    cleanup(client, run_id=f"t-bad-{marker}")


@pytest.mark.docker
def test_a_smoke_only_change_rebuilds_only_the_last_steps(make_repo, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"x.py": "print(1)\n", "requirements.txt": "\n"}, name="cache")
    marker = uuid.uuid4().hex[:8]
    executor = DockerExecutor()
    plan = EnvPlan(base_image="python:3.11-slim", install_steps=[f"echo dep-{marker}"], smoke_command="python x.py")
    first, sink = _build(executor, repo, plan, f"t-cache-{marker}")
    assert f"dep-{marker}" in [e.text.strip() for e in sink.events if e.kind == "log"]
    assert first.ok and first.steps_total
    second, sink = _build(executor, repo, plan.model_copy(update={"smoke_command": "python -c 'print(2)'"}),
                       f"t-cache-{marker}", attempt=2)
    assert second.ok and second.steps_total == first.steps_total
    outputs = [e.text.strip() for e in sink.events if e.kind == "log"]
    assert f"dep-{marker}" not in outputs  # the install step's echo did not run again
    uncached = set(range(2, second.steps_total + 1)) - set(second.cached_steps)  # step 1 is FROM
    assert uncached and min(uncached) >= second.steps_total - 2, (second.cached_steps, second.steps_total)
    assert second.steps_cached == len(second.cached_steps)
    cleanup(client, run_id=f"t-cache-{marker}")


@pytest.mark.docker
@pytest.mark.parametrize(("command", "timeout", "outcome", "ok", "code"), [
    ("python -c 'print(\"hi\")'", 30, "exit-0", True, 0),
    ("python -c 'import sys; print(\"bad\", file=sys.stderr); sys.exit(4)'", 30, "failed", False, 4),
    ("sleep 1000", 3, "alive-at-timeout", True, None),
])
def test_smoke_outcomes_and_the_container_is_always_removed(make_repo, client, command: str, timeout: int,  # type: ignore[no-untyped-def]
                                                             outcome: str, ok: bool, code: int | None) -> None:
    repo = make_repo({"x.py": "print(1)\n"}, name="smoke")
    run_id = f"t-smoke-{uuid.uuid4().hex[:8]}"
    executor = DockerExecutor(DockerLimits())
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command=command)
    built, _ = _build(executor, repo, plan, run_id)
    assert built.ok
    sink = ListSink()
    result = executor.smoke(SmokeRequest(attempt=1, image_tag=f"paper2run/{run_id}:1", plan=plan, timeout_s=timeout,
                                         labels={"org.paper2run.run": run_id}), sink, CancelToken())
    assert (result.outcome, result.ok) == (outcome, ok)
    if code is not None:
        assert result.exit_code == code
    if outcome == "failed":
        assert [e.text for e in sink.events if e.kind == "log" and e.source == "smoke" and e.stream == "stderr"] == ["bad"]
    assert managed(client, run_id)[0] == []
    cleanup(client, run_id=run_id)


@pytest.mark.docker
def test_preflight_reports_the_engine_and_names_a_missing_base_image(client) -> None:  # type: ignore[no-untyped-def]
    executor = DockerExecutor()
    sink = ListSink()
    report = executor.preflight(EnvPlan(base_image="python:3.11-slim", smoke_command="true"), sink, CancelToken())
    assert report.engine_version == client.version()["Version"]
    assert report.base_image_present and report.free_disk_gb is not None and report.free_disk_gb > 0
    assert any(e.kind == "log" and report.engine_version in e.text for e in sink.events)
    missing = f"paper2run-absent/none-{uuid.uuid4().hex[:6]}:1"
    with pytest.raises(PreflightError) as err:
        executor.preflight(EnvPlan(base_image=missing, smoke_command="true"), ListSink(), CancelToken())
    assert missing in str(err.value) and "PAPER2RUN_BASE_IMAGE_MAP" in str(err.value)


@pytest.mark.docker
def test_the_ladder_records_the_highest_passing_rung_and_cancel_removes_the_container(make_repo, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"x.py": "print(1)\n"}, name="ladder")
    run_id = f"t-ladder-{uuid.uuid4().hex[:8]}"
    executor = DockerExecutor()
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python x.py")
    assert _build(executor, repo, plan, run_id)[0].ok
    ladder = [SmokeRung(rung="static-imports", command="python -m py_compile x.py"),
              SmokeRung(rung="import-package", command="python -c 'import x'"),
              SmokeRung(rung="entrypoint-help", command="exit 1")]
    request = SmokeRequest(attempt=1, image_tag=f"paper2run/{run_id}:1", plan=plan, timeout_s=30,
                           labels={"org.paper2run.run": run_id}, ladder=ladder)
    result = executor.smoke(request, ListSink(), CancelToken())
    assert (result.outcome, result.highest_rung) == ("exit-0", "import-package")
    assert managed(client, run_id)[0] == []

    cancel = CancelToken()
    long_plan = plan.model_copy(update={"smoke_command": "sleep 1000"})
    long_image = _build(executor, repo, long_plan, run_id, attempt=2)[0]
    assert long_image.ok
    threading.Timer(1.5, cancel.cancel, args=("Ctrl-C",)).start()
    with pytest.raises(Cancelled):
        executor.smoke(request.model_copy(update={"image_tag": long_image.image_tag, "plan": long_plan, "ladder": []}),
                       ListSink(), cancel)
    assert managed(client, run_id)[0] == []
    cleanup(client, run_id=run_id)


@pytest.mark.docker
def test_the_toy_run_goes_offline_and_only_it_counts_when_still_running(make_repo, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"x.py": "print(1)\n"}, name="toy")
    run_id = f"t-toy-{uuid.uuid4().hex[:8]}"
    executor = DockerExecutor()
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python x.py")
    assert _build(executor, repo, plan, run_id)[0].ok
    offline_cpu = ("python -c \"import os, socket; assert os.environ['CUDA_VISIBLE_DEVICES'] == ''; "
                   "assert [n for _, n in socket.if_nameindex()] == ['lo']\"")
    ladder = [SmokeRung(rung="static-imports", command="python x.py"),
              SmokeRung(rung="entrypoint-help", command=offline_cpu),  # other rungs keep the network: this fails
              SmokeRung(rung="tests", command="sleep 100"),  # a hanging test suite has not passed
              SmokeRung(rung="toy-run", command=offline_cpu + " && sleep 100")]
    request = SmokeRequest(attempt=1, image_tag=f"paper2run/{run_id}:1", plan=plan, timeout_s=4,
                           labels={"org.paper2run.run": run_id}, ladder=ladder)
    sink = ListSink()
    result = executor.smoke(request, sink, CancelToken())
    assert [(r.rung, r.outcome, r.counted) for r in result.rungs] == [
        ("static-imports", "passed", True), ("entrypoint-help", "failed", False),
        ("tests", "alive-at-timeout", False), ("toy-run", "alive-at-timeout", True)]
    assert result.rungs[1].exit_code == 1
    assert result.highest_rung == "toy-run"
    texts = [getattr(e, "text", "") for e in sink.events]
    assert any("toy run on the CPU, no network, up to 4 s" in t for t in texts)
    assert any("still running after 4 s: not counted" in t for t in texts)
    assert managed(client, run_id)[0] == []
    cleanup(client, run_id=run_id)
