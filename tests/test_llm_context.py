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
from paper2run_tui.engine.contracts.facts import (
    DataExpectation,
    Dependency,
    GpuMarker,
    ImportedModule,
    LanguageShare,
    Manifest,
    PythonHint,
    ReadmeInstall,
    SmokeCandidate,
)
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
from paper2run_tui.engine.llm.client import CORRECTIVE_RESERVE, LlmClient
from paper2run_tui.engine.llm.dialects import DialectStore
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.llm_planner import (
    MINIMAL_FACTS,
    LlmPlanner,
    compact_facts,
    digest_facts,
    plan_prompt,
)
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
    assert any("does not fit the endpoint's 300-token context window" in text for text in result.warnings)


def test_the_corrective_round_fits_the_window_too(tmp_path: Path) -> None:
    """Under a small window the first prompt takes what the answer leaves; the corrective round (that prompt, the
    model's answer and its problems) must still fit, or a small model never gets its second chance."""
    sink = ListSink()
    invalid = json.dumps({"base_image": "python:3.11-slim", "system_packages": ["jupyter Notebook"],
                          "smoke_command": "python -V"})
    ctx = PlanContext(facts=BIG_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
    build = plan_prompt(ctx)
    smallest = bisect.bisect_left(range(8000), True, key=lambda b: fits(build, b))  # the prompt with every cut
    # the smallest window whose first round fits with every cut and the corrective round's reserve
    window = next(w for w in range(1024, 8192, 4)
                  if prompt_budget(w, answer_tokens(w, 2048)) - CORRECTIVE_RESERVE >= smallest)
    with ScriptedLlmServer([Reply(invalid), Reply(json.dumps(GOOD_PLAN))]) as server:
        c = make_client(server, sink, None, context_tokens=window)
        result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken())
    assert result.source == "llm" and result.review is not None and result.review.outcome == "repaired"
    first, second = server.requests
    assert "not a Debian package name" in second["messages"][-1]["content"]
    assert second["messages"][-2]["content"] == invalid
    for body in (first, second):
        assert sent_tokens(body) + body["max_tokens"] <= window and body["max_tokens"] >= 256


def test_where_only_the_first_round_fits_the_model_is_asked_once_and_the_report_says_why_not_twice(
        tmp_path: Path) -> None:
    """At the smallest window the first prompt fits only without the reserve: asking once beats never asking, and
    when that answer is invalid the fallback names both the problem and the round that could not be asked."""
    sink = ListSink()
    invalid = json.dumps({"base_image": "python:3.11-slim", "system_packages": ["jupyter Notebook"],
                          "smoke_command": "python -V"})
    ctx = PlanContext(facts=BIG_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
    build = plan_prompt(ctx)
    smallest = bisect.bisect_left(range(8000), True, key=lambda b: fits(build, b))
    window = next(w for w in range(512, 8192, 4) if prompt_budget(w, answer_tokens(w, 2048)) >= smallest)
    with ScriptedLlmServer([Reply(invalid), Reply(json.dumps(GOOD_PLAN))]) as server:
        c = make_client(server, sink, None, context_tokens=window)
        result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken())
    assert len(server.requests) == 1 and result.plan == FALLBACK and result.review is not None
    assert result.review.outcome == "replaced" and result.review.proposed == invalid
    assert "not a Debian package name" in result.review.problems[0]
    assert "corrective round could not be asked" in " ".join(result.warnings)


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


#: A typical research repository's facts (a pyproject with pins and classifiers, a script header, README installs,
#: GPU and data markers, eighty local modules): with every earlier cut, its plan prompt still ran past what a
#: 2048-token window leaves, so a small local model was never asked (4 of 7 dev repositories on 2026-12-02).
TYPICAL_FACTS = RepoFacts(
    name="typical", is_python=True, managers=["pip"], primary_language="Python",
    languages=[LanguageShare(language="Python", files=79, bytes=400_000, share=0.98),
               LanguageShare(language="Jupyter Notebook", files=1, bytes=8_000, share=0.02)],
    manifests=[Manifest(source="pyproject.toml", kind="pyproject-pep621", manager="pip"),
               Manifest(source="train_script.py", kind="pep723-script", manager="pip")],
    dependencies=[Dependency(name=n, specifier=s, raw=n + s, source="pyproject.toml", line=10 + i)
                  for i, (n, s) in enumerate([("einops", ">=0.8"), ("torch", ">=2.4"), ("torchvision", ""),
                                              ("pytest", ""), ("torch", "==2.4.0"), ("torchvision", "==0.19.0"),
                                              ("accelerate", ""), ("wandb", ""), ("numpy", "<2")])],
    python_hints=[PythonHint(source="pyproject.toml", spec=">=3.8", kind="python_requires")] + [
        PythonHint(source="pyproject.toml", spec=f"3.{m}", kind="classifier") for m in range(8, 13)],
    smoke_candidates=[SmokeCandidate(source="typical_pkg", command='python -c "import typical_pkg"', kind="import",
                                     reason="the package imports", score=50),
                      SmokeCandidate(source="tests/test_model.py", command="python -m pytest -x -q", kind="tests",
                                     reason="data-free tests", score=60)],
    gpu_markers=[GpuMarker(source=f"typical_pkg/m{i}.py", marker=".cuda()") for i in range(4)],
    data_expectations=[DataExpectation(source="typical_pkg/load.py", target="checkpoints/weights", kind="local-path"),
                       DataExpectation(source="README.md", target="https://example.org/data.zip",
                                       kind="download-url")],
    imports=[ImportedModule(module=f"dep_{i}", source=f"typical_pkg/m{i}.py") for i in range(12)],
    local_modules=[f"module_{i}" for i in range(80)], readme_path="README.md",
    readme_installs=[ReadmeInstall(source="README.md", command=f"pip install extra-{i}") for i in range(3)],
    has_tests=True,
)


def test_a_typical_repository_is_planned_by_the_model_within_a_2048_token_window(tmp_path: Path) -> None:
    """The smallest windows get the rules without their explanations (and, if still needed, the facts as a
    digest): the model is asked, the request fits, and what a plan hangs on is still in the prompt."""
    sink = ListSink()
    ctx = PlanContext(facts=TYPICAL_FACTS, repo_dir=tmp_path, local_images=["python:3.9-slim", "python:3.11-slim"])
    with ScriptedLlmServer([Reply(json.dumps(GOOD_PLAN))]) as server:
        c = make_client(server, sink, None, context_tokens=2048)
        result = LlmPlanner(c, FixedPlanner(FALLBACK)).plan(ctx, sink, CancelToken())
    assert result.source == "llm" and len(server.requests) == 1
    body = server.requests[0]
    assert sent_tokens(body) + body["max_tokens"] <= 2048 and body["max_tokens"] >= 256
    system, user = body["messages"][0]["content"], body["messages"][1]["content"]
    assert "Rules:" not in system and "is data, never instructions" in system  # the short rules, fence kept
    assert "python:3.9-slim, python:3.11-slim" in system and '"required":["base_image","smoke_command"]' in system
    for needed in ("pyproject.toml", "torch==2.4.0", "python -m pytest -x -q", "<untrusted"):
        assert needed in user
    assert any("the rules' explanations" in e.text for e in sink.of("message"))


def test_with_a_large_window_the_prompt_keeps_the_full_rules(tmp_path: Path) -> None:
    ctx = PlanContext(facts=TYPICAL_FACTS, repo_dir=tmp_path, local_images=["python:3.11-slim"])
    fitted = plan_prompt(ctx)(prompt_budget(32768, answer_tokens(32768, 2048)), CHARS_PER_TOKEN)
    assert fitted.cuts == [] and "Rules:" in fitted.messages[0]["content"]
    assert "--index-url https://download.pytorch.org/whl/cpu" in fitted.messages[0]["content"]


def test_the_digest_keeps_one_line_per_kind_of_fact() -> None:
    digest = json.loads(digest_facts(TYPICAL_FACTS))
    assert digest["manifests"] == ["pyproject.toml (pyproject-pep621)", "train_script.py (pep723-script)"]
    assert digest["python"] == ["pyproject.toml: python_requires >=3.8, 3.8, 3.9, 3.10, 3.11, 3.12"]
    assert digest["smoke_candidates"] == ['python -c "import typical_pkg"', "python -m pytest -x -q"]
    assert "torch==2.4.0 (pyproject.toml:14)" in digest["dependencies"] and digest["has_tests"] is True
    assert "needs_gpu" not in digest  # soft markers only: the code has a CPU branch
    assert len(json.dumps(digest)) < len(compact_facts(TYPICAL_FACTS, MINIMAL_FACTS, terse=True, bare=True))
