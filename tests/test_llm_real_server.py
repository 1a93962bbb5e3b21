"""The LLM path against a real model server nobody here scripted: llama.cpp's server with SmolLM2-135M (one
thread), through the product's real `openai` client. The model is weak on purpose: its answers are well-formed and
often wrong, and the tests hold the product to ending every run honestly and in bounded time, never to the model
being right. Each test's model calls are few and capped (max_tokens, length-capped schemas)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from real_llm import MODEL_ALIAS, LlamaServer
from tui_scenes import DEMO_REPO, FixedPlanner, FlakyExecutor, wait_until

from paper2run_tui.engine.config import LlmSettings, RunConfig
from paper2run_tui.engine.contracts import DiagnosisDecision, EnvPlan, RepoFacts
from paper2run_tui.engine.contracts.facts import Dependency, Manifest, PythonHint, SmokeCandidate
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.chain import DiagnosisChain
from paper2run_tui.engine.diagnose.llm_diagnoser import LlmDiagnoser
from paper2run_tui.engine.implement.config import ImplementConfig
from paper2run_tui.engine.implement.runner import run_implement
from paper2run_tui.engine.llm.client import LlmClient
from paper2run_tui.engine.llm.dialects import DialectStore
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
from paper2run_tui.engine.plan.llm_planner import LlmPlanner
from paper2run_tui.engine.ports import CallbackSink, CancelToken, ListSink
from paper2run_tui.engine.record.store import replay_events
from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.bridge import EngineParts, new_run_job
from paper2run_tui.tui.widgets.diagnosis_pane import DiagnosisPane

#: Under load on a shared 2-core machine one answer of the one-thread server can take minutes.
pytestmark = pytest.mark.timeout(1500)
PAPER = Path(__file__).parent / "fixtures" / "papers" / "tiny_transformer.md"
FACTS = RepoFacts(
    name="demo", is_python=True, primary_language="Python", managers=["pip"],
    manifests=[Manifest(kind="requirements", manager="pip", source="requirements.txt")],
    dependencies=[Dependency(name="six", specifier="==1.16.0", raw="six==1.16.0", source="requirements.txt", line=1)],
    python_hints=[PythonHint(spec="3.11", kind="readme", source="README.md", line=3)],
    smoke_candidates=[SmokeCandidate(command="python -m demo", kind="module-main", reason="demo/__main__.py",
                                     score=80, source="demo/__main__.py")],
)
FAILED_PLAN = EnvPlan(base_image="python:3.11-slim", install_steps=["pip install -r requirements.txt"],
                      smoke_command="python -m demo", python_version="3.11")


def settings(server: LlamaServer, **kw: object) -> LlmSettings:
    # a generous timeout: on a loaded 2-core machine one answer can take minutes (the stall test is scripted)
    values: dict[str, object] = {"base_url": server.base_url, "model": MODEL_ALIAS, "timeout_s": 400.0,
                                 "max_retries": 1, "max_tokens": 300}
    values.update(kw)
    return LlmSettings(**values)  # type: ignore[arg-type]


def real_client(server: LlamaServer, tmp_path: Path, sink: ListSink, **kw: object) -> LlmClient:
    return LlmClient(settings(server, **kw), dump_dir=tmp_path / "logs", sink=sink, backoff_s=0.05,
                     dialects=DialectStore(tmp_path / "cache"))


def failed_ctx(tmp_path: Path) -> DiagnosisContext:
    adir = tmp_path / "attempts" / "01"
    adir.mkdir(parents=True)
    (adir / "build_stdout.log").write_text("Step 4/6 : RUN pip install -r requirements.txt\n"
                                           "ERROR: No matching distribution found for six==99.0\n")
    attempt = FailedAttempt(number=1, plan=FAILED_PLAN, dockerfile="FROM python:3.11-slim\n", outcome="build-failed",
                            attempt_dir=adir, failing_step="RUN pip install -r requirements.txt")
    return DiagnosisContext(facts=FACTS, repo_dir=tmp_path, attempt=attempt, attempts_left=1)


def test_planning_learns_the_servers_dialect_and_ends_with_a_valid_plan(llama_server: LlamaServer,
                                                                        tmp_path: Path) -> None:
    sink = ListSink()
    c = real_client(llama_server, tmp_path, sink)
    ctx = PlanContext(facts=FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
    result = LlmPlanner(c, DeterministicPlanner()).plan(ctx, sink, CancelToken())
    # llama.cpp's server answers json_schema with HTTP 500: refused once, at once, never retried with backoff
    assert not c.calls[0].ok and "(500)" in (c.calls[0].error or "")
    assert not any("retrying in" in e.text for e in sink.of("message"))
    assert c.dialect == "json_object_schema"
    assert json.loads((tmp_path / "cache" / "llm-dialects.json").read_text()) == {
        llama_server.base_url: "json_object_schema"}
    assert all(call.ok for call in c.calls[1:]) and 2 <= len(c.calls) <= 3  # the refusal, then one or two rounds
    assert result.source in ("llm", "llm-fallback-deterministic")
    EnvPlan.model_validate(result.plan.model_dump())
    if result.source != "llm":
        assert result.plan == DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan


async def test_the_diagnosis_pane_shows_the_real_model_streaming(llama_server: LlamaServer, make_repo,
                                                                  tmp_path: Path) -> None:
    demo = make_repo(DEMO_REPO, git=True, name="demo")
    client_sink = ListSink()
    c = real_client(llama_server, tmp_path, client_sink)
    parts = EngineParts(planner=FixedPlanner(), diagnoser=DiagnosisChain(None, LlmDiagnoser(c)),
                        executor=FlakyExecutor())
    config = RunConfig(repo=str(demo), out=tmp_path / "runs", max_attempts=2, approve="never")
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(new_run_job(config, parts))
        await wait_until(pilot, lambda: screen.outcome is not None, timeout=900)
        await pilot.pause(0.3)
        assert screen.outcome is not None and screen.outcome.run_dir is not None
        events = list(replay_events(screen.outcome.run_dir))
        streamed = "".join(e.text for e in events if e.kind == "diagnosis-delta")
        assert len([e for e in events if e.kind == "diagnosis-delta"]) > 3
        pane = screen.query_one(DiagnosisPane)
        assert streamed.strip()[:40] in pane.text
    # what streamed is exactly what the model answered, and the decision held to the contract
    answers = [p.read_text() for p in sorted((tmp_path / "logs").glob("llm-*-diagnose-answer.txt"))]
    assert answers and streamed == "".join(answers)
    assert all(call.streamed for call in c.calls)
    decision = DiagnosisDecision.model_validate_json(
        (screen.outcome.run_dir / "attempts" / "01" / "diagnosis.json").read_text())
    assert decision.source in ("llm", "fallback")
    if decision.source == "fallback":
        assert decision.decision == "stop" and "could not be used" in decision.reason


def test_implement_against_the_real_server_ends_honestly(llama_server: LlamaServer, tmp_path: Path) -> None:
    sink = ListSink()
    config = ImplementConfig(paper=str(PAPER), out=tmp_path / "out", llm=settings(llama_server, max_tokens=200),
                             run=False, cache_dir=tmp_path / "cache")
    outcome = run_implement(config, sink, None, CancelToken())
    assert list((outcome.folder / "logs").glob("llm-*-implement-plan-prompt.txt"))
    assert json.loads((tmp_path / "cache" / "llm-dialects.json").read_text())[llama_server.base_url] == (
        "json_object_schema")
    if not outcome.generated_code:  # a 135M model with 200 tokens rarely writes src/model.py: said, not hidden
        messages = " ".join(e.text for e in sink.of("message"))
        assert "generation failed" in messages or "citation problems remained after the fix rounds" in messages
    assert (outcome.folder / "paper.json").is_file()
    # never worse than the no-model path: the folder passes its own check, and without code its config is the
    # no-model one, every extracted hyperparameter cited
    assert outcome.citations.ok, outcome.citations.markdown()
    if not outcome.generated_code:
        no_model = run_implement(ImplementConfig(paper=str(PAPER), out=tmp_path / "no-model", run=False,
                                                 cache_dir=tmp_path / "cache"), ListSink(), None, CancelToken())
        assert (outcome.folder / "configs/base.yaml").read_text() == (no_model.folder / "configs/base.yaml").read_text()
    rounds = outcome.folder / "generation" / "rounds.json"
    if rounds.is_file():  # the plan got through: each stage after it is recorded
        assert json.loads(rounds.read_text())[0]["stage"] == "plan"


def test_a_server_killed_mid_stream_gives_an_honest_stop(tmp_path: Path) -> None:
    server = LlamaServer(tmp_path).start()
    try:
        sink = ListSink()
        c = real_client(server, tmp_path, sink)
        first_delta = threading.Event()

        def on_event(event: object) -> None:
            if getattr(event, "kind", "") == "diagnosis-delta" and not first_delta.is_set():
                first_delta.set()
                server.kill()

        started = time.monotonic()
        decision = LlmDiagnoser(c).diagnose(failed_ctx(tmp_path), CallbackSink(on_event), CancelToken())
        assert first_delta.is_set(), "the model never streamed"
        assert time.monotonic() - started < 900  # ended, not hung: no timeout of the model's speed is asserted
        assert decision.decision == "stop" and decision.source == "fallback"
        assert "could not be used" in decision.reason
        assert not any(call.ok for call in c.calls)  # the part that streamed was never taken for an answer
        errors = " | ".join(call.error or "" for call in c.calls)
        assert "broke off its answer mid-stream" in errors, errors
        assert "cannot connect" in errors, errors  # the retry found no server
    finally:
        server.stop()


def big_failed_ctx(tmp_path: Path) -> DiagnosisContext:
    """A build log of ~2000 lines around one error: its excerpt alone fills a 2048-token window."""
    ctx = failed_ctx(tmp_path)
    noise = "".join(f"  building wheel part {i}: gcc -O2 -g -fPIC -I/usr/include/python3.11 -c src/part_{i}.c\n"
                    for i in range(1000))
    (ctx.attempt.attempt_dir / "build_stdout.log").write_text(
        "Step 4/6 : RUN pip install -r requirements.txt\n" + noise +
        "ERROR: No matching distribution found for six==99.0\n" + noise + "the last line of the build\n")
    return ctx


def test_a_2048_token_server_gets_prompts_that_fit_its_window(tmp_path: Path) -> None:
    """llama.cpp's server with a 2048-token window (SmolLM2 has 8192): the streamed diagnosis of a long log first
    ends empty (the server's answer to an over-long prompt), is asked once without streaming, hears the 400 that
    names the window, and is sent again cut to fit; planning a repository with long fact lists then fits at once.
    The server's own token counts (usage.prompt_tokens) hold the estimate to account."""
    server = LlamaServer(tmp_path, n_ctx=2048).start()
    try:
        sink = ListSink()
        c = real_client(server, tmp_path, sink)
        decision = LlmDiagnoser(c).diagnose(big_failed_ctx(tmp_path), sink, CancelToken())
        errors = [call.error or "" for call in c.calls if not call.ok]
        assert any("maximum context length is 2048" in e for e in errors), errors
        assert json.loads((tmp_path / "cache" / "llm-context.json").read_text()) == {f"{server.base_url} local": 2048}
        fitted = [call for call in c.calls if call.ok]
        assert fitted, errors  # the model answered once its prompt fitted
        assert all(call.context_window == 2048 and call.prompt_cuts for call in fitted)
        assert "log excerpt's middle" in fitted[0].prompt_cuts[0]
        assert all(call.prompt_tokens + 300 <= 2048 for call in fitted)  # max_tokens is 300 here
        assert decision.source in ("llm", "fallback")
        if decision.source == "fallback":  # a weak model's invalid answers, not the window
            assert "invalid twice" in decision.reason or "refused by the plan policy" in decision.reason
        prompts = sorted((tmp_path / "logs").glob("llm-*-diagnose-prompt.txt"))
        last = prompts[-1].read_text()
        assert "No matching distribution found for six==99.0" in last and "the last line of the build" in last
        assert any("was cut to fit the endpoint's 2048-token context window" in e.text for e in sink.of("message"))

        facts = FACTS.model_copy(update={"dependencies": [
            Dependency(name=f"dep{i}", specifier=">=1", raw=f"dep{i}>=1", source="requirements.txt", line=i + 1)
            for i in range(80)]})
        plan_sink = ListSink()
        planner_client = real_client(server, tmp_path, plan_sink)  # a later run: the window is remembered
        ctx = PlanContext(facts=facts, repo_dir=tmp_path, local_images=["python:3.11-slim"])
        result = LlmPlanner(planner_client, DeterministicPlanner()).plan(ctx, plan_sink, CancelToken())
        assert planner_client.calls and all(call.ok for call in planner_client.calls), planner_client.calls
        assert all(call.prompt_tokens + 300 <= 2048 and call.prompt_cuts for call in planner_client.calls)
        EnvPlan.model_validate(result.plan.model_dump())
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_proxy_for_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The real server is on 127.0.0.1: a proxy from the environment must not sit between."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
