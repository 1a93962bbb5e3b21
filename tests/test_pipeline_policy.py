"""The plan policy in the run loop: every plan passes it before rendering, and a refusal ends or asks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_plans import BY_NAME
from scripted import (
    BASE_PLAN,
    FixedPlanner,
    ScriptedDiagnoser,
    ScriptedExecutor,
    ScriptedReviewer,
    Step,
    repair,
)

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import EnvPlan, HumanDecision, PolicyVerdict
from paper2run_tui.engine.pipeline import ResumeSeed, run_pipeline
from paper2run_tui.engine.ports import ListSink

PY_REPO = {"requirements.txt": "six==1.16.0\n", "demo/__init__.py": "import six\n"}
SMUGGLED = BY_NAME["workdir-newline"].changes
FLAGGED = BY_NAME["pipe-to-shell"].changes


@pytest.fixture
def py_repo(make_repo) -> Path:
    return make_repo(PY_REPO, git=True, name="demo")


def verdict_of(run_dir: Path, attempt: int) -> PolicyVerdict:
    return PolicyVerdict.model_validate_json((run_dir / f"attempts/{attempt:02d}/policy.json").read_text())


def test_every_attempt_records_its_verdict(py_repo: Path, tmp_path: Path) -> None:
    sink = ListSink()
    outcome = run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path), sink, planner=FixedPlanner(BASE_PLAN),
                           executor=ScriptedExecutor([Step()]))
    assert outcome.status == "success" and outcome.run_dir is not None
    assert verdict_of(outcome.run_dir, 1).status == "passed"
    kinds = [e.kind for e in sink.events]
    assert kinds.index("policy") < kinds.index("plan")  # checked before it is rendered


def test_a_refused_repair_ends_the_headless_run_with_the_reason(py_repo: Path, tmp_path: Path) -> None:
    executor = ScriptedExecutor([Step(build_ok=False), Step()])
    outcome = run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path), ListSink(), planner=FixedPlanner(BASE_PLAN),
                           diagnoser=ScriptedDiagnoser([repair(BASE_PLAN, **SMUGGLED)]), executor=executor)
    assert outcome.status == "refused-by-plan-policy" and outcome.exit_code == 10
    assert "workdir" in outcome.reason and "line break" in outcome.reason
    assert len(executor.builds) == 1, "the refused repair was never built"
    assert outcome.run_dir is not None
    assert [f.rule for f in verdict_of(outcome.run_dir, 2).findings] == ["control-character"]
    assert "refused-by-plan-policy" in (outcome.run_dir / "report.md").read_text()


def test_a_flag_refuses_under_auto_approval(py_repo: Path, tmp_path: Path) -> None:
    outcome = run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path), ListSink(),
                           planner=FixedPlanner(BASE_PLAN.model_copy(update=FLAGGED)), executor=ScriptedExecutor([Step()]))
    assert outcome.status == "refused-by-plan-policy" and "pipes a download into a shell" in outcome.reason


def test_a_flag_opens_the_gate_for_a_person_even_for_the_first_plan(py_repo: Path, tmp_path: Path) -> None:
    reviewer = ScriptedReviewer([HumanDecision(action="approve")])
    outcome = run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path, approve="ask"), ListSink(), reviewer,
                           planner=FixedPlanner(BASE_PLAN.model_copy(update=FLAGGED)), executor=ScriptedExecutor([Step()]))
    assert outcome.status == "success"
    request = reviewer.requests[0]
    assert request.kind == "initial" and request.verdict is not None
    assert [f.rule for f in request.verdict.findings] == ["pipe-to-shell"]
    assert request.dockerfile.startswith("# Rendered by") and "| sh" in request.dockerfile
    assert request.render_inputs is not None and request.policy is not None and request.policy.person_reviews


def test_a_refused_edit_keeps_the_person_at_the_gate(py_repo: Path, tmp_path: Path) -> None:
    bad = EnvPlan.model_validate({**BASE_PLAN.model_dump(), **SMUGGLED})
    good = BASE_PLAN.model_copy(update={"smoke_command": "python -V"})
    reviewer = ScriptedReviewer([HumanDecision(action="edit", plan=bad), HumanDecision(action="edit", plan=good)])
    executor = ScriptedExecutor([Step()])
    outcome = run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path, approve="ask", gate_initial=True), ListSink(),
                           reviewer, planner=FixedPlanner(BASE_PLAN), executor=executor)
    assert outcome.status == "success"
    assert len(reviewer.requests) == 2
    again = reviewer.requests[1]
    assert again.proposed == bad and again.plan_source == "user" and again.verdict is not None and again.verdict.refused
    assert again.dockerfile.startswith("# not rendered")
    assert executor.smokes[0].plan == good


def test_approving_a_refused_plan_is_not_possible(py_repo: Path, tmp_path: Path) -> None:
    bad = EnvPlan.model_validate({**BASE_PLAN.model_dump(), **SMUGGLED})
    reviewer = ScriptedReviewer([HumanDecision(action="approve"), HumanDecision(action="reject", reason="no")])
    executor = ScriptedExecutor([Step()])
    outcome = run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path, approve="ask"), ListSink(), reviewer,
                           planner=FixedPlanner(bad), executor=executor)
    assert outcome.status == "rejected-by-user" and executor.builds == []
    assert len(reviewer.requests) == 2


def test_a_resumed_plan_passes_the_policy_too(py_repo: Path, tmp_path: Path) -> None:
    bad = EnvPlan.model_validate({**BASE_PLAN.model_dump(), "base_image": "registry.evil.example/python:3.11-slim"})
    outcome = run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path), ListSink(), executor=ScriptedExecutor([Step()]),
                           resume=ResumeSeed(plan=bad))
    assert outcome.status == "refused-by-plan-policy" and "not an allowed base image" in outcome.reason
    allowed = RunConfig(repo=str(py_repo), out=tmp_path, allowed_base_images=["registry.evil.example/*"])
    assert run_pipeline(allowed, ListSink(), executor=ScriptedExecutor([Step()]), resume=ResumeSeed(plan=bad)).status == "success"


def test_headless_prints_one_line_per_finding(py_repo: Path, tmp_path: Path) -> None:
    from paper2run_tui.engine.record.recorder import describe

    sink = ListSink()
    run_pipeline(RunConfig(repo=str(py_repo), out=tmp_path), sink,
                 planner=FixedPlanner(BASE_PLAN.model_copy(update={**FLAGGED, "base_image": "ubuntu:22.04"})),
                 executor=ScriptedExecutor([Step()]))
    policy = next(e for e in sink.events if e.kind == "policy")
    lines = describe(policy).splitlines()
    assert lines[0].startswith("policy on the test plan for attempt 1: refused")
    assert lines[1:] == [
        "  policy: refuse base_image: " + policy.verdict.findings[0].reason,  # type: ignore[union-attr]
        "  policy: flag install_steps[0]: " + policy.verdict.findings[1].reason,  # type: ignore[union-attr]
    ]


def test_allowed_base_images_come_from_the_flag_and_the_environment(monkeypatch, tmp_path: Path) -> None:
    from paper2run_tui.settings import build_run_config

    monkeypatch.setenv("PAPER2RUN_ALLOWED_BASE_IMAGES", "mirror.local/python:*, ghcr.io/x/y:1")
    monkeypatch.chdir(tmp_path)
    config = build_run_config({"repo": ".", "allow_base_image": ["ubuntu:22.04"]})
    assert config.allowed_base_images == ["mirror.local/python:*", "ghcr.io/x/y:1", "ubuntu:22.04"]


def test_the_tui_log_shows_the_findings_and_nothing_for_a_clean_plan() -> None:
    from paper2run_tui.engine.contracts import PolicyChecked, PolicyContext
    from paper2run_tui.engine.policy import check_plan
    from paper2run_tui.tui.bridge import event_lines

    flagged = check_plan(BASE_PLAN.model_copy(update=FLAGGED), PolicyContext(), source="llm")
    lines = event_lines(PolicyChecked(attempt=1, verdict=flagged))
    assert lines[0].startswith("✗ plan policy on the llm plan for attempt 1: refused (flagged")
    assert lines[1] == "  " + flagged.lines()[0]
    assert event_lines(PolicyChecked(attempt=1, verdict=check_plan(BASE_PLAN, PolicyContext()))) == []
