"""Prompts sized to the endpoint's context window (engine/llm/budget.py), through the real `openai` client against
the tests' scripted server: a context-length error teaches the window, the setting gives it, llama.cpp's /props says
it; the prompt is cut least useful first, prompt + max_tokens stay within the window, and the run says what was cut.
(tests/test_llm_real_server.py runs the same against llama.cpp's server with a 2048-token window.)"""

from __future__ import annotations

import bisect
import json
from pathlib import Path

from llm_server import Reply, ScriptedLlmServer
from scripted import BASE_PLAN, FixedPlanner

from paper2run_tui.engine.config import LlmSettings
from paper2run_tui.engine.contracts import EnvPlan, RepoFacts
from paper2run_tui.engine.contracts.facts import Dependency, ImportedModule
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.llm_diagnoser import LlmDiagnoser
from paper2run_tui.engine.llm.budget import (
    CHARS_PER_TOKEN,
    ContextStore,
    PromptBuilder,
    PromptTooLong,
    answer_tokens,
    estimate_tokens,
    is_context_error,
    prompt_budget,
    window_in,
)
from paper2run_tui.engine.llm.client import LlmClient
from paper2run_tui.engine.llm.dialects import DialectStore
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.llm_planner import LlmPlanner, plan_prompt
from paper2run_tui.engine.ports import CancelToken, ListSink

GOOD_PLAN = {"base_image": "python:3.11-slim", "install_steps": ["pip install -r requirements.txt"],
             "smoke_command": "python -m demo --help"}
FALLBACK = EnvPlan(base_image="python:3.9-slim", smoke_command="python -V")
#: What llama-cpp-python's server (and OpenAI, vLLM) answer a request longer than the window.
OVERFLOW = ("This model's maximum context length is 2048 tokens. However, you requested 5211 tokens (5011 in the "
            "messages, 200 in the completion). Please reduce the length of the messages or completion.")
#: A repository with long fact lists: the plan prompt runs far past 2048 tokens.
BIG_FACTS = RepoFacts(
    name="big", is_python=True, managers=["pip"],
    dependencies=[Dependency(name=f"package-number-{i}", specifier=">=1.0", raw=f"package-number-{i}>=1.0",
                             source="requirements.txt", line=i) for i in range(80)],
    imports=[ImportedModule(module=f"module_number_{i}", source=f"src/file_{i}.py") for i in range(60)],
)


def make_client(server: ScriptedLlmServer, sink: ListSink, cache: Path | None, **kw: object) -> LlmClient:
    values: dict[str, object] = {"base_url": server.base_url, "model": "m", "timeout_s": 5.0, "max_retries": 1}
    values.update(kw)
    return LlmClient(LlmSettings(**values), dump_dir=None, sink=sink, backoff_s=0.01,  # type: ignore[arg-type]
                     dialects=DialectStore(cache))


def sent_tokens(body: dict) -> int:  # type: ignore[type-arg]
    return estimate_tokens(body["messages"], CHARS_PER_TOKEN)


def test_context_errors_are_recognised_and_name_their_window() -> None:
    assert is_context_error(OVERFLOW) and window_in(OVERFLOW) == 2048
    llama_cpp = "the request exceeds the available context size, try increasing it (n_ctx: 4096)"
    assert is_context_error(llama_cpp) and window_in(llama_cpp) == 4096
    assert not is_context_error("response_format json_schema is not supported by this server")
    assert window_in("context length exceeded") is None


def test_a_context_length_error_teaches_the_window_and_the_plan_prompt_is_cut_to_fit(tmp_path: Path) -> None:
    sink = ListSink()
    cache = tmp_path / "cache"
    ctx = PlanContext(facts=BIG_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
    with ScriptedLlmServer([Reply(status=400, error=OVERFLOW), Reply(json.dumps(GOOD_PLAN))]) as server:
        c = make_client(server, sink, cache)
        result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken())
    assert result.source == "llm" and result.plan.smoke_command == "python -m demo --help"
    first, second = server.requests
    assert sent_tokens(first) > 2048  # nothing said the window, so the whole prompt went out once
    # the error named the window: the second prompt and its max_tokens fit in it, and it was not a blind retry
    assert sent_tokens(second) + second["max_tokens"] <= 2048
    assert second["max_tokens"] >= 256
    assert [call.ok for call in c.calls] == [False, True] and "(400)" in (c.calls[0].error or "")
    assert c.calls[1].context_window == 2048 and c.calls[1].prompt_cuts
    assert c.calls[1].prompt_cuts[0] == "dependencies as one line each"
    said = [e.text for e in sink.of("message") if "was cut to fit" in e.text]
    assert said and "2048-token context window" in said[0] and "dependencies as one line" in said[0]
    assert not any("retrying in" in e.text for e in sink.of("message"))
    # the least useful parts went first: the facts' long lists are shorter, the first dependencies are still there
    user = next(m["content"] for m in second["messages"] if m["role"] == "user")
    assert "package-number-0" in user and "package-number-79" not in user and "dependencies_not_shown" in user
    # remembered for the next run against this endpoint and model: no second error
    assert json.loads((cache / ContextStore.FILE).read_text()) == {f"{server.base_url} m": 2048}
    with ScriptedLlmServer([Reply(json.dumps(GOOD_PLAN))]) as again:
        store = ContextStore(cache)
        store.set(f"{again.base_url} m", 2048)
        c2 = make_client(again, ListSink(), cache)
        assert LlmPlanner(c2, FixedPlanner(FALLBACK)).plan(ctx, ListSink(), CancelToken()).source == "llm"
    assert len(again.requests) == 1 and sent_tokens(again.requests[0]) + again.requests[0]["max_tokens"] <= 2048


def test_the_setting_gives_the_window_before_any_request(tmp_path: Path) -> None:
    sink = ListSink()
    with ScriptedLlmServer([Reply(json.dumps(GOOD_PLAN))]) as server:
        c = make_client(server, sink, None, context_tokens=3000)
        ctx = PlanContext(facts=BIG_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
        assert LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken()).source == "llm"
    (body,) = server.requests
    assert sent_tokens(body) + body["max_tokens"] <= 3000
    assert server.gets == []  # the person's setting is believed: the server is not asked
    assert "the setting PAPER2RUN_LLM_CONTEXT" in next(e.text for e in sink.of("message") if "cut to fit" in e.text)


def test_llama_cpps_props_give_the_window(tmp_path: Path) -> None:
    sink = ListSink()
    props = {"default_generation_settings": {"n_ctx": 2560}, "total_slots": 1}
    with ScriptedLlmServer([Reply(json.dumps(GOOD_PLAN))], props=props) as server:
        c = make_client(server, sink, None)
        ctx = PlanContext(facts=BIG_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
        assert LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken()).source == "llm"
    assert server.gets == ["/props"]
    (body,) = server.requests
    assert sent_tokens(body) + body["max_tokens"] <= 2560
    assert c.calls[0].context_window == 2560 and c.calls[0].prompt_cuts


def big_failure(tmp_path: Path) -> DiagnosisContext:
    adir = tmp_path / "attempts" / "01"
    adir.mkdir(parents=True)
    noise = "".join(f"  compiling extension part {i} of the project with a long line of flags -O2 -g\n" for i in range(400))
    (adir / "build_stdout.log").write_text(
        "Step 5/9 : RUN pip install -r requirements.txt\n" + noise +
        "ERROR: No matching distribution found for weirdpkg==9.9\n" + noise + "the very last line of the log\n")
    attempt = FailedAttempt(number=1, plan=BASE_PLAN, dockerfile="FROM python:3.11-slim\n", outcome="build-failed",
                            attempt_dir=adir, failing_step="RUN pip install -r requirements.txt")
    return DiagnosisContext(facts=RepoFacts(name="demo"), repo_dir=tmp_path, attempt=attempt, attempts_left=2)


def test_a_streamed_diagnosis_that_ends_empty_hears_the_error_and_fits_the_log_excerpt(tmp_path: Path) -> None:
    """llama.cpp's server answers a streamed request over its window 200 and ends the stream empty: the client asks
    once without streaming, hears the context-length error, learns the window and cuts the log's middle."""
    sink = ListSink()
    stop = json.dumps({"decision": "stop", "reason": "the pin weirdpkg==9.9 does not exist", "confidence": "high"})
    replies = [Reply(empty_stream=True), Reply(status=400, error=OVERFLOW), Reply(stop)]
    with ScriptedLlmServer(replies) as server:
        c = make_client(server, sink, tmp_path / "cache")
        decision = LlmDiagnoser(c).diagnose(big_failure(tmp_path), sink, CancelToken())
    assert decision.decision == "stop" and decision.source == "llm"
    streamed, plain, fitted = server.requests
    assert streamed.get("stream") and not plain.get("stream")
    assert sent_tokens(fitted) + fitted["max_tokens"] <= 2048
    user = next(m["content"] for m in fitted["messages"] if m["role"] == "user")
    assert "No matching distribution found for weirdpkg==9.9" in user and "the very last line of the log" in user
    assert "log excerpt's middle" in c.calls[-1].prompt_cuts[0]
    # what the model said still reached the pane, though the answer came without streaming
    assert "".join(e.text for e in sink.of("diagnosis-delta")) == stop
    assert any("stream ended empty" in e.text for e in sink.of("message"))


def test_a_prompt_that_cannot_fit_is_not_sent_and_the_deterministic_plan_is_used(tmp_path: Path) -> None:
    sink = ListSink()
    with ScriptedLlmServer([]) as server:
        c = make_client(server, sink, None, context_tokens=300)
        ctx = PlanContext(facts=BIG_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
        result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken())
    assert server.requests == [] and result.plan == FALLBACK and result.source == "llm-fallback-deterministic"
    assert any("does not fit the endpoint's 300-token context window" in e.text for e in sink.of("message"))


def test_the_corrective_round_fits_the_window_too(tmp_path: Path) -> None:
    """Under a small window the first prompt takes what the answer leaves; the corrective round (that prompt, the
    model's answer and its problems) must still fit, or a small model never gets its second chance."""
    sink = ListSink()
    invalid = json.dumps({"base_image": "python:3.11-slim", "system_packages": ["jupyter Notebook"],
                          "smoke_command": "python -V"})
    ctx = PlanContext(facts=BIG_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
    build = plan_prompt(ctx)
    smallest = bisect.bisect_left(range(8000), True, key=lambda b: fits(build, b))  # the prompt with every cut
    # the smallest window whose first round fits only with every cut: no room is left over for the second round
    window = next(w for w in range(1024, 8192, 4) if prompt_budget(w, answer_tokens(w, 2048)) >= smallest)
    with ScriptedLlmServer([Reply(invalid), Reply(json.dumps(GOOD_PLAN))]) as server:
        c = make_client(server, sink, None, context_tokens=window)
        result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken())
    assert result.source == "llm" and result.review is not None and result.review.outcome == "repaired"
    first, second = server.requests
    assert "not a Debian package name" in second["messages"][-1]["content"]
    assert second["messages"][-2]["content"] == invalid
    for body in (first, second):
        assert sent_tokens(body) + body["max_tokens"] <= window and body["max_tokens"] >= 256


def fits(build: PromptBuilder, budget: int) -> bool:
    try:
        build(budget, CHARS_PER_TOKEN)
    except PromptTooLong:
        return False
    return True


def test_the_plan_prompt_offers_only_local_images_the_policy_accepts(tmp_path: Path) -> None:
    sink = ListSink()
    local = ["p2r-engines-try:0", "paper2run-rootfs:bookworm", "python:3.11-slim", "python:3.9-slim"]
    with ScriptedLlmServer([Reply(json.dumps(GOOD_PLAN))]) as server:
        c = make_client(server, sink, None)
        ctx = PlanContext(facts=RepoFacts(name="demo"), repo_dir=tmp_path, local_images=local)
        assert LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken()).source == "llm"
    system = server.requests[0]["messages"][0]["content"]
    assert "available locally: python:3.11-slim, python:3.9-slim." in system
    assert "p2r-engines" not in system and "rootfs" not in system
