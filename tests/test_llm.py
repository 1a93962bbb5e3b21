"""The LLM planner and diagnoser through the real `openai` client against a real local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from llm_server import Reply, ScriptedLlmServer, dialect_of
from pydantic import SecretStr
from scripted import BASE_PLAN, FixedPlanner

from paper2run_tui.engine.config import LlmSettings, RunConfig
from paper2run_tui.engine.contracts import DiagnosisDecision, EnvPlan, RepoFacts
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.excerpt import error_excerpt
from paper2run_tui.engine.diagnose.llm_diagnoser import LlmDiagnoser
from paper2run_tui.engine.errors import UserError
from paper2run_tui.engine.llm.client import LlmClient
from paper2run_tui.engine.llm.dialects import DialectStore
from paper2run_tui.engine.llm.schema_caps import capped_schema
from paper2run_tui.engine.llm.settings import NVIDIA_BASE_URL, llm_settings_from_env
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.llm_planner import LlmPlanner
from paper2run_tui.engine.ports import Cancelled, CancelToken, ListSink

KEY = "nvapi-TEST-secret-key-1234567890"
GOOD_PLAN = {"base_image": "python:3.11-slim", "system_packages": ["git"], "install_steps": ["pip install -r requirements.txt"],
             "smoke_command": "python -m demo --help", "notes": "from the facts"}
FALLBACK = EnvPlan(base_image="python:3.9-slim", smoke_command="python -V")


def client(server: ScriptedLlmServer, sink: ListSink, dump: Path | None = None, timeout: float = 5.0,
           retries: int = 2, dialects: DialectStore | None = None) -> LlmClient:
    settings = LlmSettings(api_key=SecretStr(KEY), base_url=server.base_url, model="test-model", timeout_s=timeout,
                           max_retries=retries)
    return LlmClient(settings, dump_dir=dump, sink=sink, backoff_s=0.01, dialects=dialects)


def plan_ctx(tmp_path: Path) -> PlanContext:
    return PlanContext(facts=RepoFacts(name="demo", is_python=True), repo_dir=tmp_path, local_images=["python:3.11-slim"])


def run_planner(replies: list[Reply], tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    sink = ListSink()
    with ScriptedLlmServer(replies) as server:
        c = client(server, sink, **kw)  # type: ignore[arg-type]
        result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(plan_ctx(tmp_path), sink, CancelToken())
    return result, server, c, sink


def test_valid_plan_with_json_schema_response_format(tmp_path: Path) -> None:
    result, server, c, _ = run_planner([Reply(json.dumps(GOOD_PLAN))], tmp_path)
    assert result.source == "llm" and result.plan.smoke_command == "python -m demo --help"
    assert server.requests[0]["response_format"]["type"] == "json_schema"
    assert {k.lower(): v for k, v in server.headers[0].items()}["authorization"] == f"Bearer {KEY}"
    assert c.calls[0].prompt_tokens == 11 and c.calls[0].completion_tokens == 7 and c.calls[0].ok


def test_fenced_chatty_json_on_an_endpoint_without_response_format(tmp_path: Path) -> None:
    answer = "Sure! Here is the plan:\n```json\n" + json.dumps(GOOD_PLAN) + "\n```\nHope it helps."
    result, server, c, _ = run_planner([Reply(answer, no_response_format=True)], tmp_path)
    assert result.source == "llm" and result.plan.system_packages == ["git"]
    # each form refused once, at once (no backoff, no retry of a refused form), then plain text with extraction
    assert [dialect_of(r) for r in server.requests] == ["json_schema", "json_object_schema", "json_object", "text"]
    assert [call.ok for call in c.calls] == [False, False, False, True]
    assert c.dialect == "text"


def test_the_dialect_is_learned_from_the_first_refusal_and_remembered_in_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    plan = json.dumps(GOOD_PLAN)
    sink = ListSink()
    with ScriptedLlmServer([Reply(plan), Reply(plan)], refuse=("json_schema",)) as server:
        first = client(server, sink, dialects=DialectStore(cache))
        assert LlmPlanner(first, FixedPlanner(FALLBACK)).plan(plan_ctx(tmp_path), sink, CancelToken()).source == "llm"
        # a later run (a new client) starts with what the endpoint takes: one request, no refusal
        second = client(server, sink, dialects=DialectStore(cache))
        assert LlmPlanner(second, FixedPlanner(FALLBACK)).plan(plan_ctx(tmp_path), sink, CancelToken()).source == "llm"
    assert [dialect_of(r) for r in server.requests] == ["json_schema", "json_object_schema", "json_object_schema"]
    assert json.loads((cache / "llm-dialects.json").read_text()) == {server.base_url: "json_object_schema"}
    assert any("refused response_format json_schema" in e.text for e in sink.of("message"))
    # the schema the model is held to is capped: no string or list it could loop in until max_tokens
    schema = server.requests[1]["response_format"]["schema"]
    assert schema["properties"]["smoke_command"]["maxLength"] <= 400
    assert schema["properties"]["install_steps"]["maxItems"] <= 16
    assert schema["properties"]["install_steps"]["items"]["maxLength"] <= 400


def test_a_5xx_that_does_not_name_the_format_is_retried_in_the_same_form(tmp_path: Path) -> None:
    result, server, _, _ = run_planner([Reply(status=503, error="overloaded"), Reply(json.dumps(GOOD_PLAN))], tmp_path)
    assert result.source == "llm"
    assert [dialect_of(r) for r in server.requests] == ["json_schema", "json_schema"]


def test_capped_schema_caps_every_string_and_list_but_not_enums() -> None:
    schema = capped_schema(DiagnosisDecision)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "string" and "enum" not in node:
                assert node["maxLength"] <= 400, node
            if node.get("type") == "array":
                assert node["maxItems"] <= 16, node
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    assert "maxLength" not in schema["properties"]["decision"]


def test_invalid_json_then_fixed_after_the_corrective_retry(tmp_path: Path) -> None:
    bad = {**GOOD_PLAN, "workdir": "relative/path"}
    result, server, _, _ = run_planner([Reply(json.dumps(bad)), Reply(json.dumps(GOOD_PLAN))], tmp_path)
    assert result.source == "llm"
    assert len(server.requests) == 2
    assert "workdir: Value error, workdir must be an absolute path" in server.user_prompt(1)


def test_garbage_twice_falls_back_to_the_deterministic_plan(tmp_path: Path) -> None:
    result, server, _, sink = run_planner([Reply("I cannot help with that."), Reply("still { not json")], tmp_path)
    assert result.source == "llm-fallback-deterministic" and result.plan == FALLBACK
    assert any("the model's plan was not used" in m and "The model proposed: still { not json" in m
               for m in result.warnings)
    assert result.review is not None and result.review.outcome == "replaced" and len(result.review.problems) == 2
    assert len(server.requests) == 2


def test_expired_key_401_is_one_clear_line_and_falls_back(tmp_path: Path) -> None:
    result, server, c, _ = run_planner([Reply(status=401, error="Invalid API key")], tmp_path)
    assert result.source == "llm-fallback-deterministic" and len(server.requests) == 1
    assert c.calls[0].error is not None and "refused the API key (401" in c.calls[0].error


def test_unknown_model_404(tmp_path: Path) -> None:
    result, _, c, _ = run_planner([Reply(status=404, error="model not found")], tmp_path)
    assert "unknown model 'test-model'" in (c.calls[0].error or "") and result.source == "llm-fallback-deterministic"


def test_rate_limit_429_then_success_honours_retry_after(tmp_path: Path) -> None:
    result, server, c, sink = run_planner([Reply(status=429, headers={"retry-after": "0.05"}), Reply(json.dumps(GOOD_PLAN))],
                                          tmp_path)
    assert result.source == "llm" and len(server.requests) == 2
    assert [call.ok for call in c.calls] == [False, True]
    assert any(e.kind == "message" and "retrying in 0.1 s" in e.text for e in sink.events)


def test_server_error_500_retried_then_gives_up(tmp_path: Path) -> None:
    result, server, c, _ = run_planner([Reply(status=500)] * 3, tmp_path, retries=2)
    assert result.source == "llm-fallback-deterministic" and len(server.requests) == 3
    assert all(not call.ok for call in c.calls)


def test_a_hang_past_the_timeout(tmp_path: Path) -> None:
    result, _, c, _ = run_planner([Reply(json.dumps(GOOD_PLAN), delay_s=2.0)], tmp_path, timeout=0.5, retries=0)
    assert result.source == "llm-fallback-deterministic"
    assert "did not answer within" in (c.calls[0].error or "")


def test_connection_refused_is_explained(tmp_path: Path) -> None:
    sink = ListSink()
    settings = LlmSettings(base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, timeout_s=2)
    c = LlmClient(settings, dump_dir=None, sink=sink)
    result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(plan_ctx(tmp_path), sink, CancelToken())
    assert result.source == "llm-fallback-deterministic"
    assert "cannot connect to the LLM endpoint http://127.0.0.1:9/v1" in (c.calls[0].error or "")


def failed_ctx(tmp_path: Path) -> DiagnosisContext:
    adir = tmp_path / "attempts" / "01"
    adir.mkdir(parents=True)
    (adir / "build_stdout.log").write_text("Step 5/9 : RUN pip install -r requirements.txt\nCollecting weird\n"
                                           "ERROR: No matching distribution found for weirdpkg==9.9\n")
    attempt = FailedAttempt(number=1, plan=BASE_PLAN, dockerfile="FROM python:3.11-slim\n", outcome="build-failed",
                            attempt_dir=adir, failing_step="RUN pip install -r requirements.txt")
    return DiagnosisContext(facts=RepoFacts(name="demo"), repo_dir=tmp_path, attempt=attempt, attempts_left=2,
                            matched_rules=["no-matching-distribution"])


def diagnose(replies: list[Reply], tmp_path: Path, dump: Path | None = None):  # type: ignore[no-untyped-def]
    sink = ListSink()
    with ScriptedLlmServer(replies) as server:
        decision = LlmDiagnoser(client(server, sink, dump)).diagnose(failed_ctx(tmp_path), sink, CancelToken())
    return decision, server, sink


def streamed(decision: dict) -> str:
    return "The pin weirdpkg==9.9 does not exist on PyPI.\n```json\n" + json.dumps(decision) + "\n```"


def test_streaming_diagnosis_that_stops(tmp_path: Path) -> None:
    stop = {"decision": "stop", "reason": "weirdpkg is private", "confidence": "high"}
    decision, server, sink = diagnose([Reply(streamed(stop))], tmp_path)
    assert decision.decision == "stop" and decision.source == "llm" and decision.matched_rules == ["no-matching-distribution"]
    deltas = [e.text for e in sink.events if e.kind == "diagnosis-delta"]
    assert len(deltas) > 3 and "".join(deltas).startswith("The pin weirdpkg==9.9")
    assert server.requests[0]["stream"] is True
    prompt = server.user_prompt(0)
    assert "ERROR: No matching distribution found for weirdpkg==9.9" in prompt
    assert "Step 5/9 : RUN pip install -r requirements.txt" in prompt and "no-matching-distribution" in prompt


def test_streaming_diagnosis_that_repairs(tmp_path: Path) -> None:
    repair = {"decision": "repair", "reason": "drop the pin", "confidence": "medium",
              "new_plan": {**GOOD_PLAN, "install_steps": ["pip install weirdpkg"]}}
    decision, _, _ = diagnose([Reply(streamed(repair))], tmp_path)
    assert decision.decision == "repair" and decision.new_plan is not None
    assert decision.new_plan.install_steps == ["pip install weirdpkg"]


def test_a_repair_identical_to_the_failed_plan_is_refused_and_asked_again(tmp_path: Path) -> None:
    same = {"decision": "repair", "reason": "try again", "new_plan": json.loads(BASE_PLAN.model_dump_json())}
    fixed = {"decision": "repair", "reason": "pin relaxed", "new_plan": {**GOOD_PLAN}}
    decision, server, _ = diagnose([Reply(streamed(same)), Reply(json.dumps(fixed))], tmp_path)
    assert decision.new_plan is not None and decision.new_plan.smoke_command == "python -m demo --help"
    assert "identical to a plan that already failed" in server.user_prompt(1)


def test_endpoint_down_gives_an_honest_stop(tmp_path: Path) -> None:
    decision, _, _ = diagnose([Reply(status=503)] * 3, tmp_path)
    assert decision.decision == "stop" and decision.source == "fallback"
    assert "the model could not be used" in decision.reason


def test_the_key_never_reaches_files_or_events(tmp_path: Path) -> None:
    dump = tmp_path / "logs"
    repair = {"decision": "repair", "reason": f"echoing {KEY}", "new_plan": {**GOOD_PLAN, "notes": f"key {KEY}"}}
    decision, _, sink = diagnose([Reply(status=401, error=f"bad key {KEY}"), ], tmp_path / "a", dump)
    assert decision.decision == "stop"
    decision2, _, sink2 = diagnose([Reply(streamed(repair))], tmp_path / "b", dump)
    assert list(dump.glob("llm-*-diagnose-prompt.txt")) and list(dump.glob("llm-*-diagnose-answer.txt"))
    for path in dump.rglob("*"):
        if path.is_file():
            assert KEY not in path.read_text(), path
    live_text = "".join(e.text for e in sink2.events if e.kind == "diagnosis-delta")
    assert "echoing ***" in live_text  # the key was split across chunks and still never shown
    for event in sink.events + sink2.events:
        assert KEY not in event.model_dump_json(), event.kind


def test_settings_from_the_reference_environment() -> None:
    s = llm_settings_from_env({"NVIDIA_API_KEY": "nvapi-x"})
    assert s.base_url == NVIDIA_BASE_URL and s.model == "deepseek-ai/deepseek-v4-flash" and s.configured
    local = llm_settings_from_env({"PAPER2RUN_BASE_URL": "http://localhost:11434/v1", "PAPER2RUN_MODEL": "llama3"})
    assert local.api_key is None and local.configured and local.model == "llama3"
    assert not llm_settings_from_env({}).configured
    with pytest.raises(UserError, match="not an http"):
        llm_settings_from_env({"PAPER2RUN_BASE_URL": "localhost:11434"})


def test_error_excerpt_keeps_the_root_cause_of_a_huge_log() -> None:
    noise = "\n".join(f"Downloading chunk {i}" for i in range(200_000))
    log = ("Step 7/12 : RUN pip install -r requirements.txt\n" + noise + "\nTraceback (most recent call last):\n"
           '  File "setup.py", line 3\nModuleNotFoundError: No module named \'numpy\'\n' + noise + "\nend\n")
    excerpt = error_excerpt(log, budget_tokens=500)
    assert "ModuleNotFoundError: No module named 'numpy'" in excerpt
    assert "Step 7/12 : RUN pip install -r requirements.txt" in excerpt
    assert len(excerpt) <= 500 * 4 + 100


def test_a_run_with_an_unreachable_llm_still_plans_deterministically(make_repo, tmp_path: Path) -> None:
    from paper2run_tui.engine.pipeline import run_pipeline

    repo = make_repo({"requirements.txt": "six\n", "m.py": "import six\n"})
    llm = LlmSettings(api_key=SecretStr(KEY), base_url="http://127.0.0.1:9/v1", model="m", max_retries=0, timeout_s=2)
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path / "runs", dry_run=True, llm=llm), ListSink())
    assert outcome.status == "dry-run" and outcome.run_dir is not None
    meta = outcome.metadata
    assert meta is not None and meta.model == "m" and meta.llm_calls and not meta.llm_calls[0].ok
    assert "the deterministic planner made this plan" in (outcome.run_dir / "report.md").read_text()
    assert not [p for p in outcome.run_dir.rglob("*") if p.is_file() and not p.is_symlink() and KEY.encode() in p.read_bytes()]


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streaming"])
def test_ctrl_c_during_a_model_call_takes_effect_at_once(tmp_path: Path, streamed: bool) -> None:
    """The server holds its answer for 30 s (the timeout is 60 s): cancelling must not wait for either."""
    sink = ListSink()
    cancel = CancelToken()
    with ScriptedLlmServer([Reply(json.dumps(GOOD_PLAN), delay_s=30)]) as server:
        c = client(server, sink, timeout=60, retries=0)
        threading.Timer(0.5, cancel.cancel, args=("ctrl-c",)).start()
        started = time.monotonic()
        with pytest.raises(Cancelled):
            c.structured([{"role": "user", "content": "plan"}], EnvPlan, purpose="plan", cancel=cancel,
                         on_delta=(lambda _t: None) if streamed else None)
        assert time.monotonic() - started < 2.0


def test_a_streaming_diagnosis_that_stalls_past_the_timeout_stops_honestly(tmp_path: Path) -> None:
    sink = ListSink()
    with ScriptedLlmServer([Reply(streamed({"decision": "stop", "reason": "late"}), delay_s=3)]) as server:
        started = time.monotonic()
        decision = LlmDiagnoser(client(server, sink, timeout=0.5, retries=0)).diagnose(failed_ctx(tmp_path), sink,
                                                                                          CancelToken())
    assert time.monotonic() - started < 2.5
    assert decision.decision == "stop" and decision.source == "fallback"
    assert "did not answer within" in decision.reason
