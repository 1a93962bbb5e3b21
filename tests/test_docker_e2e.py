"""End to end on the real Docker engine through the real SDK: builds, smoke runs, repairs, CA bundle, GPU, cancel,
a dead engine. Images are small (the local python:3.11-slim) and share layers, so this file stays quick."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from docker_support import docker_or_fail, managed
from scripted import FixedPlanner

from paper2run_tui.engine.build.base import BuildRequest
from paper2run_tui.engine.build.cleanup import cleanup
from paper2run_tui.engine.build.docker_executor import DockerExecutor
from paper2run_tui.engine.config import DockerLimits, RunConfig
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.errors import PreflightError
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import Cancelled, CancelToken, ListSink
from paper2run_tui.engine.record.store import load_run
from paper2run_tui.engine.render import render_dockerfile

pytestmark = pytest.mark.docker
CA = Path("/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return docker_or_fail()


def test_a_repo_builds_and_its_smoke_run_passes_first_time(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"demo/__init__.py": "VERSION = '1'\n",
                      "demo/__main__.py": "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"},
                     git=True, name="demo")
    sink = ListSink()
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, no_ca=True), sink)
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.smoke_outcome == "exit-0" and meta.highest_smoke_rung == "entrypoint-help"
    assert any(e.kind == "build-progress" for e in sink.events)
    smoke_lines = [e.text for e in sink.events if e.kind == "log" and e.source == "smoke"]
    assert any("usage:" in line for line in smoke_lines)
    containers, images = managed(client, outcome.run_dir.name)  # type: ignore[union-attr]
    assert containers == [] and len(images) == 1


def test_the_toy_run_streams_is_saved_and_the_report_agrees_with_metadata(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    """A README's `python -m toy --steps 3` tops the ladder: its lines stream as toy-run log events and land in
    attempts/01/toy_run_stdout.log; report.md's smoke and build seconds are metadata.json's phase timings."""
    main = ("import argparse\nif __name__ == '__main__':\n    p = argparse.ArgumentParser()\n"
            "    p.add_argument('--steps', type=int, default=1)\n    for i in range(p.parse_args().steps):\n"
            "        print(f'toy step {i + 1}', flush=True)\n")
    repo = make_repo({"README.md": "# Toy\n\n```\npython -m toy --steps 3\n```\n", "toy/__init__.py": "",
                      "toy/__main__.py": main}, git=True, name="toy-m")
    sink = ListSink()
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, no_ca=True), sink)
    assert outcome.status == "success", outcome.reason
    run = load_run(outcome.run_dir)  # type: ignore[arg-type]
    meta = run.metadata
    assert meta.highest_smoke_rung == "toy-run"
    toy_lines = [e.text for e in sink.events if e.kind == "log" and e.source == "toy-run"]
    assert toy_lines == ["toy step 1", "toy step 2", "toy step 3"]
    saved = outcome.run_dir / "attempts" / "01" / "toy_run_stdout.log"  # type: ignore[operator]
    assert saved.read_text().splitlines() == toy_lines
    assert "toy_run_stdout" in run.attempts[0].logs
    attempt = meta.attempts[0]
    timings = {p.phase: p.seconds for p in meta.phases if p.attempt == 1}
    assert attempt.smoke_seconds == timings["smoke"] and attempt.build_seconds == timings["build"]
    assert attempt.smoke_command_seconds is not None and attempt.smoke_command_seconds <= attempt.smoke_seconds
    assert f"- Smoke: {attempt.smoke_seconds:.1f} s (the smoke command {attempt.smoke_command_seconds:.1f} s" \
        in (run.report or "")
    assert f"- Build: {attempt.build_seconds:.1f} s" in (run.report or "")
    cleanup(client, run_id=outcome.run_dir.name)  # type: ignore[union-attr]


def test_missing_module_fails_first_and_the_rule_repair_passes(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    # The smoke command imports a module nobody declared; the known-failure rule installs it (from PyPI, with the CA).
    repo = make_repo({"app.py": "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n"},
                     name="needs-six")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python -c 'import six; print(six.__version__)'")
    sink = ListSink()
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), sink,
                           planner=FixedPlanner(plan))
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["smoke-failed", "smoke-ok"]
    assert meta.attempts[0].matched_rules[0] == "missing-module"
    assert "pip install six" in (outcome.run_dir / "attempts/02/Dockerfile").read_text()  # type: ignore[operator]
    assert meta.attempts[1].steps_cached and meta.attempts[1].steps_cached >= 3  # earlier layers reused
    assert meta.attempts[1].cached_steps[:3] == [2, 3, 4]  # which ones: the layers before the repair


def test_code_that_needs_a_terminal_passes_at_its_rung_after_the_repair(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    """Like pytorch-cifar: a module asks `stty size` at import. The smoke container has no terminal; the rule runs
    the command under `script`, and the entry point's --help rung is reached, not a lower one."""
    utils = "import os\n_, term_width = os.popen('stty size', 'r').read().split()\n"
    main = "import argparse\nimport utils\nparser = argparse.ArgumentParser()\nparser.add_argument('--lr')\nparser.parse_args()\n"
    repo = make_repo({"utils.py": utils, "main.py": main}, name="needs-tty")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, no_ca=True), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["smoke-failed", "smoke-ok"]
    assert meta.attempts[0].matched_rules == ["needs-terminal"]
    assert meta.highest_smoke_rung == "entrypoint-help"
    steps = [line.split()[0] for line in (outcome.run_dir / "attempts/02/Dockerfile").read_text().splitlines()  # type: ignore[operator]
             if line[:1].isupper()]
    last_run = max(i for i, word in enumerate(steps, start=1) if word == "RUN")
    assert set(range(2, last_run + 1)) <= set(meta.attempts[1].cached_steps), "a smoke-only repair reruns no RUN step"


def test_a_smoke_command_that_fails_with_no_known_fix(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"x.py": "print(1)\n"}, name="fails")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python -c 'raise SystemExit(\"flux capacitor empty\")'")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, no_ca=True), ListSink(),
                           planner=FixedPlanner(plan))
    assert outcome.status == "stopped-by-rules"
    assert outcome.reason == "no known failure signature matched: flux capacitor empty"
    assert "flux capacitor empty" in (outcome.run_dir / "attempts/01/smoke_stderr.log").read_text()  # type: ignore[operator]


def test_still_alive_at_the_timeout_counts_as_success(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"serve.py": "import time\nprint('serving', flush=True)\ntime.sleep(1000)\n"}, name="server")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python serve.py")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=3, no_ca=True), ListSink(),
                           planner=FixedPlanner(plan))
    assert outcome.status == "success"
    assert load_run(outcome.run_dir).metadata.smoke_outcome == "alive-at-timeout"  # type: ignore[arg-type]
    assert managed(client, outcome.run_dir.name)[0] == []  # type: ignore[union-attr]


def test_the_ca_bundle_is_what_lets_pip_reach_the_registry(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"requirements.txt": "six==1.16.0\n", "m.py": "import six\n"}, name="ca")
    plan = EnvPlan(base_image="python:3.11-slim", install_steps=["pip install --no-cache-dir -r requirements.txt"],
                   smoke_command="python -c 'import six'")
    executor = DockerExecutor(DockerLimits())
    results = {}
    for with_ca in (False, True):
        text = render_dockerfile(plan, facts=None, repo_dir=repo, ca_bundle=with_ca)
        request = BuildRequest(attempt=1, context_dir=repo, dockerfile=text, tag=f"paper2run/test-ca:{with_ca}".lower(),
                               labels={"org.paper2run.run": "test-ca"}, extra_files={"ca.crt": CA.read_bytes()} if with_ca else {})
        sink = ListSink()
        results[with_ca] = (executor.build(request, sink, CancelToken()), "\n".join(e.text for e in sink.events if e.kind == "log"))
    assert not results[False][0].ok and "CERTIFICATE_VERIFY_FAILED" in results[False][1]
    assert results[False][0].failing_step == "RUN pip install --no-cache-dir -r requirements.txt"
    assert results[True][0].ok, results[True][1][-2000:]
    cleanup(client, run_id="test-ca")


def test_gpu_plan_without_a_gpu_runtime_is_actionable(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"x.py": "print(1)\n"}, name="gpu")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python x.py", requires_gpu=True)
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, no_ca=True), ListSink(), planner=FixedPlanner(plan))
    assert outcome.status == "preflight-failed"
    assert "no NVIDIA runtime" in outcome.reason and "NVIDIA Container Toolkit" in outcome.reason
    fallback = plan.model_copy(update={"cpu_fallback": True})
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, no_ca=True), ListSink(), planner=FixedPlanner(fallback))
    assert outcome.status == "success"
    assert "used the CPU fallback" in (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]


def test_cancel_during_the_smoke_run_removes_the_container(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"serve.py": "import time\nprint('up', flush=True)\ntime.sleep(1000)\n"}, name="cancel")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python serve.py")
    cancel = CancelToken()

    class CancelOnSmoke(ListSink):
        def emit(self, event):  # type: ignore[no-untyped-def]
            super().emit(event)
            if event.kind == "log" and event.source == "smoke" and event.text == "up":
                threading.Timer(0.3, cancel.cancel, args=("Ctrl-C",)).start()

    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=120, no_ca=True), CancelOnSmoke(), None, cancel,
                           planner=FixedPlanner(plan))
    assert outcome.status == "interrupted"
    assert managed(client, outcome.run_dir.name)[0] == []  # type: ignore[union-attr]
    assert load_run(outcome.run_dir).metadata.status == "interrupted"  # type: ignore[arg-type]


def test_cancel_during_a_build(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"x.py": "print(1)\n"}, name="cancel-build")
    import uuid

    # A step no earlier run has cached, so the build is really running when the cancel comes.
    marker = str(uuid.uuid4())
    plan = EnvPlan(base_image="python:3.11-slim", install_steps=[f"echo {marker} && sleep 30"], smoke_command="true")
    cancel = CancelToken()
    executor = DockerExecutor()
    sink = ListSink()
    text = render_dockerfile(plan, facts=None, repo_dir=repo)
    threading.Timer(3, cancel.cancel, args=("Ctrl-C",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        executor.build(BuildRequest(attempt=1, context_dir=repo, dockerfile=text, tag="paper2run/cancel-build:1",
                                    labels={"org.paper2run.run": "cancel-build"}), sink, cancel)
    assert time.monotonic() - started < 15  # noticed while the step runs, not after it
    time.sleep(2)
    still_building = [c for c in client.containers.list() if marker in " ".join(c.attrs["Config"].get("Cmd") or [])]
    assert still_building == []  # the engine aborted the step, it did not finish it in the background


def test_a_dead_engine_is_a_preflight_failure_with_the_fix(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"x.py": "print(1)\n"}, name="dead")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python x.py")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, no_ca=True), ListSink(), planner=FixedPlanner(plan),
                           executor=DockerExecutor(host="unix:///tmp/paper2run-no-such.sock"))
    assert outcome.status == "preflight-failed"
    assert outcome.reason.startswith("no Docker engine answers at unix:///tmp/paper2run-no-such.sock")
    assert load_run(outcome.run_dir).metadata.status == "preflight-failed"  # type: ignore[arg-type]
    with pytest.raises(PreflightError, match="start it"):
        DockerExecutor(host="unix:///tmp/paper2run-no-such.sock").local_images()


def test_cleanup_finds_and_removes_what_a_run_made(client) -> None:  # type: ignore[no-untyped-def]
    client.images.build(fileobj=__import__("io").BytesIO(b"FROM python:3.11-slim\nLABEL x=1\n"), tag="paper2run/cleanup:1", rm=True, forcerm=True,
                        labels={"org.paper2run.managed": "true", "org.paper2run.run": "cleanup-test"})
    dry = cleanup(client, run_id="cleanup-test", dry_run=True)
    assert dry.images == ["paper2run/cleanup:1"] and "would remove" in dry.summary()
    done = cleanup(client, run_id="cleanup-test")
    assert done.images == ["paper2run/cleanup:1"]
    assert managed(client, "cleanup-test") == ([], [])


def test_time_travel_installs_what_was_current_at_the_commit_date(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from paper2run_tui.engine.build.base import SmokeRequest
    from paper2run_tui.engine.contracts import RepoFacts
    from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
    from paper2run_tui.engine.diagnose.rules.transforms import time_travel

    repo = make_repo({"requirements.txt": "six\n", "m.py": "import six\n"}, name="old")
    plan = EnvPlan(base_image="python:3.11-slim", python_version="3.11", install_steps=["pip install -r requirements.txt"],
                   smoke_command="python -c 'import six; print(\"six\", six.__version__)'")
    ctx = DiagnosisContext(facts=RepoFacts(name="old", commit_date=datetime(2019, 6, 1, tzinfo=UTC)), repo_dir=repo,
                           attempt=FailedAttempt(number=1, plan=plan, dockerfile="", outcome="build-failed",
                                                 attempt_dir=tmp_path),
                           local_images=["python:3.11-slim"])
    old = time_travel(plan, ctx)
    assert old.exclude_newer == "2019-06-01"
    executor = DockerExecutor()
    text = render_dockerfile(old, facts=None, repo_dir=repo, ca_bundle=True)
    built = executor.build(BuildRequest(attempt=1, context_dir=repo, dockerfile=text, tag="paper2run/time-travel:1",
                                        labels={"org.paper2run.run": "time-travel"}, extra_files={"ca.crt": CA.read_bytes()}),
                           ListSink(), CancelToken())
    assert built.ok, built.error
    sink = ListSink()
    smoked = executor.smoke(SmokeRequest(attempt=1, image_tag=built.image_tag or "", plan=old, timeout_s=60,
                                         labels={"org.paper2run.run": "time-travel"}), sink, CancelToken())
    assert smoked.ok
    assert "six 1.12.0" in [e.text for e in sink.events if e.kind == "log"]  # six 1.13.0 came out in November 2019
    cleanup(client, run_id="time-travel")


def test_a_project_with_a_lock_file_gets_the_locked_versions(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    # six is declared unpinned; today's release is 1.17, the lock says 1.12.0, and the package refuses anything else.
    lock = ('version = 1\n\n[[package]]\nname = "demo"\nversion = "0.1.0"\nsource = { editable = "." }\n\n'
            '[[package]]\nname = "six"\nversion = "1.12.0"\nsource = { registry = "https://pypi.org/simple" }\n')
    repo = make_repo({"pyproject.toml": '[project]\nname = "demo"\nversion = "0.1.0"\ndependencies = ["six"]\n'
                                        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
                      "uv.lock": lock,
                      "demo/__init__.py": "import six\nassert six.__version__ == '1.12.0', six.__version__\n"},
                     git=True, name="locked")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.highest_smoke_rung == "import-package" and len(meta.attempts) == 1
    dockerfile = (outcome.run_dir / "Dockerfile").read_text()  # type: ignore[operator]
    assert "six==1.12.0 > /tmp/paper2run-lock-constraints.txt" in dockerfile


def test_an_unreachable_git_dependency_is_installed_from_pypi_after_the_repair(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    # A forge the build cannot reach (.invalid never resolves, so this fails the same way on every machine).
    repo = make_repo({"requirements.txt": "git+https://git.example.invalid/arogozhnikov/einops.git#egg=einops\n",
                      "model.py": "import einops\nprint('einops', einops.__version__)\n",
                      "train.py": "import argparse\nimport model\nif __name__ == '__main__':\n"
                                  "    argparse.ArgumentParser().parse_args()\n"},
                     git=True, name="gitdep")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["build-failed", "smoke-ok"]
    assert meta.attempts[0].matched_rules[0] == "git-unreachable"
    assert meta.highest_smoke_rung == "entrypoint-help"


def test_an_old_repository_with_an_unpinned_dependency_gets_the_release_of_its_time(tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    # Committed on 2023-06-01, three and a half years ago: six was at 1.16.0 (1.17.0 came in December 2024), and
    # Python 3.11 had been out long enough to be the Python of its time (the one image CI has).
    import os
    import subprocess

    repo = tmp_path / "old-six"
    (repo / "oldsix").mkdir(parents=True)
    (repo / "requirements.txt").write_text("six\n")
    (repo / "oldsix" / "__init__.py").write_text("import six\nassert six.__version__ == '1.16.0', six.__version__\n")
    env = {**os.environ, "GIT_AUTHOR_DATE": "2023-06-01T12:00:00Z", "GIT_COMMITTER_DATE": "2023-06-01T12:00:00Z"}
    for args in (["init", "-q", "-b", "main"], ["add", "-A"],
                 ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "old"]):
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path / "runs", timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.highest_smoke_rung == "import-package" and len(meta.attempts) == 1
    plan = load_run(outcome.run_dir).plan  # type: ignore[arg-type]
    assert plan is not None and plan.exclude_newer == "2023-06-01"
