"""The hostile-plan suite: plans a model (or a prompt injection it read) could write, served by the tests' local
OpenAI-compatible server as first plans and as repairs. Every one is refused or neutralised with a clear reason,
the Dockerfile holds only the template's instructions, and no request reaches a loopback URL from the build."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from docker_support import docker_or_fail
from hostile_plans import BY_NAME, CATALOGUE, SAFE, Hostile, loopback_add
from llm_server import Reply, ScriptedLlmServer
from pydantic import SecretStr
from scripted import ScriptedExecutor, Step
from test_policy import instructions

from paper2run_tui.engine.config import LlmSettings, RunConfig
from paper2run_tui.engine.contracts import PolicyVerdict
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import ListSink
from paper2run_tui.engine.record.store import replay_events

TEMPLATE_INSTRUCTIONS = {"FROM", "ENV", "RUN", "WORKDIR", "COPY", "LABEL", "CMD", "ARG"}
FIRST_PLANS = [h for h in CATALOGUE if h.name != "enormous-step"]


class LoopbackSecret:
    """A tiny HTTP server on 127.0.0.1 that records every request: the test asserts it receives none."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.hits.append(self.path)
                body = b"TOP-SECRET-FROM-THE-HOST\n"
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/secret"

    def __enter__(self) -> LoopbackSecret:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def llm(server: ScriptedLlmServer) -> LlmSettings:
    return LlmSettings(api_key=SecretStr("k"), base_url=server.base_url, model="m", timeout_s=10, max_retries=0)


def template_only(dockerfile: str) -> None:
    keys = {i.split()[0] for i in instructions(dockerfile)}
    assert keys <= TEMPLATE_INSTRUCTIONS, keys
    assert "TOP-SECRET" not in dockerfile and "ADD " not in dockerfile and "\nUSER" not in dockerfile


def verdicts(run_dir: Path) -> list[PolicyVerdict]:
    return [e.verdict for e in replay_events(run_dir) if e.kind == "policy"]  # type: ignore[union-attr]


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"requirements.txt": "six\n", "demo/__init__.py": "import six\n"}, git=True, name="demo")


@pytest.mark.parametrize("hostile", FIRST_PLANS, ids=lambda h: h.name)
def test_a_hostile_first_plan_is_refused_and_the_deterministic_plan_runs(repo: Path, tmp_path: Path,
                                                                          hostile: Hostile) -> None:
    """The planner holds the model's plan to the policy: the findings go back to it once; an obedient model repeats
    the plan, and the deterministic plan is the only one that reaches the pipeline's policy and the Dockerfile."""
    sink = ListSink()
    with ScriptedLlmServer([Reply(json.dumps(hostile.data()))] * 2) as server:
        outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, dry_run=True, llm=llm(server),
                                         cache_dir=tmp_path / "cache"), sink)
        corrective = server.user_prompt(1)
    assert outcome.status == "dry-run" and outcome.run_dir is not None
    (final,) = verdicts(outcome.run_dir)
    assert final.source == "llm-fallback-deterministic" and final.findings == []
    root = hostile.field.split("[")[0].split(".")[0]
    assert "plan policy does not accept this plan" in corrective and root in corrective
    note = next(e.text for e in sink.events if e.kind == "message" and "the model's plan was not used" in e.text)
    assert root in note
    review = json.loads((outcome.run_dir / "model_plan_review.json").read_text())
    assert review["outcome"] == "replaced" and review["policy_refusals"] == 2
    template_only((outcome.run_dir / "Dockerfile").read_text())


def test_invalid_json_twice_falls_back_with_the_reason(repo: Path, tmp_path: Path) -> None:
    sink = ListSink()
    with ScriptedLlmServer([Reply('{"base_image": "python:3.11-slim", "install_steps": ['), Reply("no json")]) as s:
        outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, dry_run=True, llm=llm(s)), sink)
    assert outcome.status == "dry-run" and outcome.run_dir is not None
    assert [v.source for v in verdicts(outcome.run_dir)] == ["llm-fallback-deterministic"]
    notes = [e for e in sink.events if e.kind == "message" and "the model's plan was not used" in e.text]
    assert len(notes) == 1 and "The model proposed: no json" in notes[0].text  # said once, not once per layer
    assert notes[0].level == "warning"
    template_only((outcome.run_dir / "Dockerfile").read_text())


@pytest.mark.parametrize("hostile", [BY_NAME[n] for n in ("install-step-add-url", "workdir-newline", "env-key-newline",
                                                          "base-image-newline", "unknown-registry", "enormous-plan",
                                                          "pipe-to-shell")], ids=lambda h: h.name)
def test_a_hostile_repair_from_the_model_ends_the_run_refused(repo: Path, tmp_path: Path, hostile: Hostile) -> None:
    """The model's plan fails; the untried deterministic plan runs next and fails too; only then the model
    diagnoses, and its hostile repair (repeated after the findings went back to it) is never built."""
    decision = {"decision": "repair", "reason": "try this", "confidence": "high", "new_plan": hostile.data()}
    answer = "The build failed.\n```json\n" + json.dumps(decision) + "\n```"
    first = {**SAFE, "smoke_command": "python -c 'import demo'"}
    executor = ScriptedExecutor([Step(build_ok=False, build_log=["Step 1/2 : FROM python:3.11-slim",
                                                                 "paper2run-test: a failure no rule knows"])])
    with ScriptedLlmServer([Reply(json.dumps(first)), Reply(answer), Reply(answer)]) as server:
        outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, llm=llm(server), cache_dir=tmp_path / "cache"),
                               ListSink(), executor=executor)
        asked = len(server.requests)
        corrective = server.user_prompt(2) if asked > 2 else ""
    assert asked == 3, "the model planned, then diagnosed twice (its repair went back once)"
    assert "plan policy does not accept new_plan" in corrective
    assert outcome.status == "stopped-by-llm" and "refused by the plan policy twice" in outcome.reason
    assert hostile.field.split("[")[0].split(".")[0] in outcome.reason
    assert len(executor.builds) == 2, "the model's plan and the deterministic plan ran; the refused repair never did"
    for build in executor.builds:
        template_only(build.dockerfile)
    assert outcome.run_dir is not None and not (outcome.run_dir / "attempts/03").exists()


@pytest.mark.docker
def test_no_request_reaches_a_loopback_url_from_a_real_build(make_repo, tmp_path: Path) -> None:
    """The issue's reproduction, on the real engine: a model's first plan and its repair both smuggle
    `ADD http://127.0.0.1:PORT/secret`; the first plan goes back to the model, comes back the same and is replaced
    by the deterministic plan, which builds and fails; the repair goes back once, comes back the same, and the run
    stops without building it."""
    docker_or_fail()
    repo = make_repo({"demo/__init__.py": "raise SystemExit('paper2run-test: a deliberate failure no rule knows')\n"},
                     git=True, name="demo")
    with LoopbackSecret() as secret:
        hostile = loopback_add(secret.url).data(base_image="python:3.11-slim", install_steps=["true", f"true\nADD {secret.url} /leak.txt"])
        decision = {"decision": "repair", "reason": "add the data", "confidence": "high", "new_plan": hostile}
        repair = Reply("Needs the data.\n```json\n" + json.dumps(decision) + "\n```")
        replies = [Reply(json.dumps(hostile)), Reply(json.dumps(hostile)), repair, repair]
        with ScriptedLlmServer(replies) as server:
            config = RunConfig(repo=str(repo), out=tmp_path, llm=llm(server), timeout=30, no_ca=True,
                               cache_dir=tmp_path / "cache")
            outcome = run_pipeline(config, ListSink())
            asked = len(server.requests)
            corrective = server.user_prompt(3) if asked > 3 else ""
        time.sleep(0.2)
        assert secret.hits == [], "the daemon fetched the loopback URL"
    assert outcome.run_dir is not None
    assert asked == 4 and outcome.status == "stopped-by-llm", outcome.reason
    assert "refused by the plan policy twice" in outcome.reason
    built = (outcome.run_dir / "attempts/01/Dockerfile").read_text()
    template_only(built)
    assert "/leak.txt" not in built
    for log in outcome.run_dir.rglob("*.log"):
        assert "TOP-SECRET" not in log.read_text(errors="replace")
    assert not (outcome.run_dir / "attempts/02").exists()
    assert "make the Docker daemon itself fetch that URL" in corrective


@pytest.mark.docker
def test_a_smoke_command_that_prints_forever_passes_the_policy_and_the_run_ends(make_repo, tmp_path: Path) -> None:
    """Nothing in the plan to refuse: the smoke run's timeout ends it (its output cap is the executor's)."""
    docker_or_fail()
    repo = make_repo({"demo/__init__.py": ""}, git=True, name="demo")
    spam = {**SAFE, "install_steps": [], "smoke_command": "yes paper2run-spam"}
    with ScriptedLlmServer([Reply(json.dumps(spam))]) as server:
        started = time.monotonic()
        outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, llm=llm(server), timeout=5, no_ca=True),
                               ListSink())
        took = time.monotonic() - started
    assert outcome.run_dir is not None and outcome.status not in ("running", "exception"), outcome.reason
    assert [v.findings for v in verdicts(outcome.run_dir)] == [[]]
    assert took < 240
    template_only((outcome.run_dir / "Dockerfile").read_text())
