"""The run loop end to end through the engine's ports: statuses, the gate, the run folder, replay."""

from __future__ import annotations

from pathlib import Path

import pytest
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
from paper2run_tui.engine.contracts import DiagnosisDecision, HumanDecision, RunMetadata
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.record.store import load_run, replay_events
from paper2run_tui.engine.resume import resume_run

PY_REPO = {
    "requirements.txt": "six==1.16.0\n",
    "demo/__init__.py": "import six\n",
    "README.md": "# Demo\n\nRun `python -m demo`.\n",
}
REFERENCE_FILES = ["repo", "paper.json", "repo.json", "repo_facts.json", "plan.json", "Dockerfile",
                   "INSTRUCTIONS.md", "report.md", "metadata.json", "run.log", "events.jsonl", "logs", "attempts"]


@pytest.fixture
def py_repo(make_repo) -> Path:
    return make_repo(PY_REPO, git=True, name="demo")


def config(repo: Path, out: Path, **kw: object) -> RunConfig:
    return RunConfig(repo=str(repo), out=out, **kw)


def test_dry_run_writes_a_complete_run_folder_that_replays(py_repo: Path, tmp_path: Path) -> None:
    sink = ListSink()
    outcome = run_pipeline(config(py_repo, tmp_path / "runs", dry_run=True), sink)
    assert outcome.status == "dry-run" and outcome.exit_code == 0
    run_dir = outcome.run_dir
    assert run_dir is not None and run_dir.name.startswith("demo-")
    for name in REFERENCE_FILES:
        assert (run_dir / name).exists(), name
    assert (run_dir / "attempts/01/plan.json").is_file() and (run_dir / "attempts/01/Dockerfile").is_file()
    assert not (run_dir / "image.txt").exists()
    meta = RunMetadata.model_validate_json((run_dir / "metadata.json").read_text())
    assert meta.status == "dry-run" and meta.commit_sha and len(meta.commit_sha) == 40
    assert {p.phase for p in meta.phases} >= {"acquire", "analyze", "plan", "render"}
    assert (run_dir / "repo" / "demo" / "__init__.py").read_text() == "import six\n"
    replayed = list(replay_events(run_dir))
    assert [e.kind for e in replayed] == [e.kind for e in sink.events]
    assert replayed[0].kind == "run-started" and replayed[-1].kind == "run-finished"
    assert [e.seq for e in replayed] == list(range(1, len(replayed) + 1))
    dockerfile = (run_dir / "Dockerfile").read_text()
    assert "FROM python:" in dockerfile and "COPY . /repo" in dockerfile
    assert "six" in (run_dir / "repo_facts.json").read_text()


def test_success_on_first_attempt_records_image_and_attempt(py_repo: Path, tmp_path: Path) -> None:
    executor = ScriptedExecutor([Step()])
    outcome = run_pipeline(config(py_repo, tmp_path), ListSink(), executor=executor, planner=FixedPlanner(BASE_PLAN))
    assert outcome.status == "success", outcome.reason
    run_dir = outcome.run_dir
    assert run_dir is not None
    tag = (run_dir / "image.txt").read_text().strip()
    assert tag == executor.builds[0].tag and tag.startswith("paper2run/demo-")
    assert executor.builds[0].labels["org.paper2run.run"] == run_dir.name
    assert (run_dir / "attempts/01/build_stdout.log").read_text().startswith("Step 1/2")
    loaded = load_run(run_dir)
    assert loaded.metadata.attempts[0].outcome == "smoke-ok"
    assert loaded.metadata.smoke_outcome == "exit-0"
    assert "docker run --rm " + tag in (run_dir / "INSTRUCTIONS.md").read_text()


def test_repair_goes_through_the_gate_and_succeeds(py_repo: Path, tmp_path: Path) -> None:
    fixed = BASE_PLAN.model_copy(update={"install_steps": ["pip install -r requirements.txt", "pip install numpy"]})
    diagnoser = ScriptedDiagnoser([repair(BASE_PLAN, install_steps=fixed.install_steps)])
    reviewer = ScriptedReviewer([HumanDecision(action="approve")])
    executor = ScriptedExecutor([Step(build_ok=False, build_log=["ERROR: No module named numpy"]), Step()])
    outcome = run_pipeline(config(py_repo, tmp_path, approve="ask"), ListSink(), reviewer,
                           planner=FixedPlanner(BASE_PLAN), diagnoser=diagnoser, executor=executor)
    assert outcome.status == "success"
    assert [r.kind for r in reviewer.requests] == ["repair"]
    assert reviewer.requests[0].previous == BASE_PLAN and reviewer.requests[0].diagnosis is not None
    assert diagnoser.contexts[0].attempt.log_text("build_stdout") == "ERROR: No module named numpy\n"
    run_dir = outcome.run_dir
    assert run_dir is not None
    assert (run_dir / "attempts/01/diagnosis.json").is_file()
    assert HumanDecision.model_validate_json((run_dir / "attempts/02/decision.json").read_text()).action == "approve"
    assert executor.builds[1].dockerfile.count("pip install numpy") == 1
    meta = load_run(run_dir).metadata
    assert [a.outcome for a in meta.attempts] == ["build-failed", "smoke-ok"]
    assert meta.attempts[0].matched_rules == ["missing-module"]


def test_edited_plan_is_built_and_the_diff_recorded(py_repo: Path, tmp_path: Path) -> None:
    edited = BASE_PLAN.model_copy(update={"smoke_command": "python -V"})
    reviewer = ScriptedReviewer([HumanDecision(action="edit", plan=edited)])
    executor = ScriptedExecutor([Step(build_ok=False), Step()])
    outcome = run_pipeline(config(py_repo, tmp_path, approve="ask"), ListSink(), reviewer,
                           planner=FixedPlanner(BASE_PLAN), diagnoser=ScriptedDiagnoser([repair(BASE_PLAN, env={"A": "1"})]),
                           executor=executor)
    assert outcome.status == "success"
    assert outcome.run_dir is not None
    diff = (outcome.run_dir / "attempts/02/plan_diff.diff").read_text()
    assert '-  "smoke_command": "python -c \\"import demo\\""' in diff and '+  "smoke_command": "python -V"' in diff
    assert executor.smokes[-1].plan == edited
    assert load_run(outcome.run_dir).metadata.attempts[1].plan_source == "user"


def test_reject_and_stop_ends_rejected_by_user(py_repo: Path, tmp_path: Path) -> None:
    reviewer = ScriptedReviewer([HumanDecision(action="reject", reason="needs the GPU box", then="stop")])
    outcome = run_pipeline(config(py_repo, tmp_path, approve="ask"), ListSink(), reviewer,
                           planner=FixedPlanner(BASE_PLAN), diagnoser=ScriptedDiagnoser([repair(BASE_PLAN, env={"X": "1"})]),
                           executor=ScriptedExecutor([Step(build_ok=False)]))
    assert outcome.status == "rejected-by-user" and outcome.exit_code == 8
    assert "needs the GPU box" in outcome.reason
    assert outcome.run_dir is not None and "rejected-by-user" in (outcome.run_dir / "report.md").read_text()


def test_reject_and_ask_again_replans_with_the_reason(py_repo: Path, tmp_path: Path) -> None:
    second = BASE_PLAN.model_copy(update={"base_image": "python:3.9-slim"})
    planner = FixedPlanner(BASE_PLAN, second)
    reviewer = ScriptedReviewer([HumanDecision(action="reject", reason="use 3.9", then="ask-again"),
                                 HumanDecision(action="approve")])
    executor = ScriptedExecutor([Step(build_ok=False), Step()])
    outcome = run_pipeline(config(py_repo, tmp_path, approve="ask"), ListSink(), reviewer, planner=planner,
                           diagnoser=ScriptedDiagnoser([repair(BASE_PLAN, env={"X": "1"})]), executor=executor)
    assert outcome.status == "success"
    assert planner.contexts[-1].rejected[0][1] == "use 3.9"  # type: ignore[attr-defined]
    assert executor.builds[-1].dockerfile.startswith("# Rendered") and "FROM python:3.9-slim" in executor.builds[-1].dockerfile


def test_policy_never_rejects_repairs_headless(py_repo: Path, tmp_path: Path) -> None:
    outcome = run_pipeline(config(py_repo, tmp_path, approve="never"), ListSink(), None,
                           planner=FixedPlanner(BASE_PLAN), diagnoser=ScriptedDiagnoser([repair(BASE_PLAN, env={"X": "1"})]),
                           executor=ScriptedExecutor([Step(build_ok=False)]))
    assert outcome.status == "rejected-by-policy"
    assert outcome.run_dir is not None
    decision = HumanDecision.model_validate_json((outcome.run_dir / "attempts/02/decision.json").read_text())
    assert decision.decided_by == "policy" and decision.action == "reject"


def test_attempts_run_out_and_the_next_repair_is_kept(py_repo: Path, tmp_path: Path) -> None:
    plans = [repair(BASE_PLAN, env={"N": str(i)}) for i in range(3)]
    outcome = run_pipeline(config(py_repo, tmp_path, max_attempts=2), ListSink(), planner=FixedPlanner(BASE_PLAN),
                           diagnoser=ScriptedDiagnoser(plans), executor=ScriptedExecutor([Step(build_ok=False)]))
    assert outcome.status == "max-attempts-exhausted" and outcome.exit_code == 6
    assert outcome.run_dir is not None
    assert (outcome.run_dir / "attempts/02/next_plan.json").is_file()


@pytest.mark.parametrize(("source", "status"), [("llm", "stopped-by-llm"), ("rules", "stopped-by-rules"),
                                                ("fallback", "smoke-failed")])
def test_stop_decisions_map_to_statuses(py_repo: Path, tmp_path: Path, source: str, status: str) -> None:
    stop = DiagnosisDecision(decision="stop", reason="the dataset is not public", source=source)  # type: ignore[arg-type]
    outcome = run_pipeline(config(py_repo, tmp_path), ListSink(), planner=FixedPlanner(BASE_PLAN),
                           diagnoser=ScriptedDiagnoser([stop]),
                           executor=ScriptedExecutor([Step(smoke_outcome="failed", exit_code=1)]))
    assert outcome.status == status and outcome.reason == "the dataset is not public"


def test_preflight_failure_is_a_status_not_a_crash(py_repo: Path, tmp_path: Path) -> None:
    outcome = run_pipeline(config(py_repo, tmp_path), ListSink(), planner=FixedPlanner(BASE_PLAN),
                           executor=ScriptedExecutor([Step()], preflight_error="no Docker engine answers"))
    assert outcome.status == "preflight-failed" and outcome.exit_code == 3
    assert outcome.reason == "no Docker engine answers — start the Docker engine"


def test_an_internal_error_ends_as_exception_with_traceback(py_repo: Path, tmp_path: Path) -> None:
    outcome = run_pipeline(config(py_repo, tmp_path), ListSink(), planner=FixedPlanner(BASE_PLAN),
                           executor=ScriptedExecutor([Step(raise_in_build=ZeroDivisionError("boom"))]))
    assert outcome.status == "exception" and outcome.exit_code == 70
    assert outcome.run_dir is not None
    assert "ZeroDivisionError: boom" in (outcome.run_dir / "logs/exception.txt").read_text()
    assert load_run(outcome.run_dir).metadata.status == "exception"


def test_cancel_during_a_build_ends_interrupted_and_recorded(py_repo: Path, tmp_path: Path) -> None:
    import threading

    cancel = CancelToken()
    executor = ScriptedExecutor([Step(wait_for_cancel=True)])
    threading.Thread(target=lambda: (executor.building.wait(10), cancel.cancel("Ctrl-C")), daemon=True).start()
    outcome = run_pipeline(config(py_repo, tmp_path), ListSink(), None, cancel, planner=FixedPlanner(BASE_PLAN),
                           executor=executor)
    assert outcome.status == "interrupted" and outcome.exit_code == 130
    assert outcome.run_dir is not None
    meta = load_run(outcome.run_dir).metadata
    assert meta.status == "interrupted" and meta.finished_at is not None
    assert list(replay_events(outcome.run_dir))[-1].kind == "run-finished"


def test_non_python_repo_gets_an_honest_unsupported_report(make_repo, tmp_path: Path) -> None:
    repo = make_repo({"DESCRIPTION": "Package: foo\nVersion: 1.0\n", "R/foo.R": "f <- function(x) x + 1\n" * 50})
    outcome = run_pipeline(config(repo, tmp_path, dry_run=True), ListSink())
    assert outcome.status == "unsupported" and outcome.exit_code == 9
    assert outcome.run_dir is not None
    report = (outcome.run_dir / "report.md").read_text()
    assert "not supported yet" in report and "R" in report


def test_missing_path_is_an_input_error_without_a_folder(tmp_path: Path) -> None:
    sink = ListSink()
    outcome = run_pipeline(RunConfig(repo=str(tmp_path / "nope"), out=tmp_path / "runs"), sink)
    assert outcome.status == "input-error" and outcome.exit_code == 2 and outcome.run_dir is None
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    assert sink.events[0].kind == "message"


def test_resume_starts_a_new_run_from_the_chosen_attempts_plan(py_repo: Path, tmp_path: Path) -> None:
    edited = BASE_PLAN.model_copy(update={"env": {"RESUMED": "1"}})
    first = run_pipeline(config(py_repo, tmp_path, max_attempts=1), ListSink(), planner=FixedPlanner(edited),
                         executor=ScriptedExecutor([Step(build_ok=False)]),
                         diagnoser=ScriptedDiagnoser([DiagnosisDecision(decision="stop", reason="x")]))
    assert first.run_dir is not None and first.status == "stopped-by-rules"
    executor = ScriptedExecutor([Step()])
    second = resume_run(first.run_dir, 1, ListSink(), executor=executor)
    assert second.status == "success" and second.run_dir != first.run_dir
    assert executor.builds[0].dockerfile.count('RESUMED="1"') == 1
    assert load_run(second.run_dir).metadata.resumed_from == f"{first.run_dir.name}/01"  # type: ignore[arg-type]
