"""The floor under every run, through the engine's ports: an attempt whose smoke command fails while its image still
passes the import rung is a result; repairs that aim higher start from it and may not lose it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scripted import FixedPlanner, ScriptedDiagnoser, ScriptedExecutor, Step, repair

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import DiagnosisDecision, EnvPlan, SmokeRung
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import ListSink
from paper2run_tui.engine.record.store import load_run

HELP = "python train.py --help"
IMPORT = 'python -c "import demo.model"'
LADDER = [SmokeRung(rung="static-imports", command="python -c 'import importlib'"),
          SmokeRung(rung="import-package", command=IMPORT), SmokeRung(rung="entrypoint-help", command=HELP)]
PLAN = EnvPlan(base_image="python:3.11-slim", install_steps=["pip install -r requirements.txt"], smoke_command=HELP,
               smoke_ladder=LADDER)
TOP_FAILS = Step(smoke_outcome="failed", exit_code=1, smoke_log=["ModuleNotFoundError: No module named 'wandb'"],
                 floor_rung="import-package")


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"requirements.txt": "six\n", "demo/__init__.py": "", "demo/model.py": "import six\n",
                      "train.py": "import wandb\n"}, git=True, name="demo")


def _run(repo: Path, out: Path, steps: list[Step], decisions: list[DiagnosisDecision], **kw: object):  # type: ignore[no-untyped-def]
    executor = ScriptedExecutor(steps)
    diagnoser = ScriptedDiagnoser(decisions)
    outcome = run_pipeline(RunConfig(repo=str(repo), out=out, **kw), ListSink(), planner=FixedPlanner(PLAN),  # type: ignore[arg-type]
                           diagnoser=diagnoser, executor=executor)
    return outcome, executor, diagnoser


def test_a_failed_entry_point_over_a_package_that_imports_is_green_at_the_import_rung(repo: Path, tmp_path: Path) -> None:
    stop = DiagnosisDecision(decision="stop", reason="wandb is needed by train.py and has no fix here", source="rules")
    outcome, executor, _ = _run(repo, tmp_path, [TOP_FAILS], [stop])
    assert outcome.status == "success" and outcome.exit_code == 0, outcome.reason
    assert outcome.reason.startswith("green at import-package (attempt 1: `python -c \"import demo.model\"`); "
                                     "entry point `python train.py --help` needs more: wandb is needed by train.py")
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert meta.highest_smoke_rung == "import-package" and meta.image_tag == executor.builds[0].tag
    assert meta.floor is not None and meta.floor.attempt == 1 and meta.floor.top_rung == "entrypoint-help"
    assert meta.attempts[0].outcome == "smoke-failed" and meta.attempts[0].smoke_rung == "import-package"
    report = (outcome.run_dir / "report.md").read_text()  # type: ignore[operator]
    assert "green at import-package" in report and "| highest smoke rung | import-package |" in report
    assert (outcome.run_dir / "image.txt").read_text().strip() == executor.builds[0].tag  # type: ignore[operator]


def test_a_run_without_a_floor_still_fails(repo: Path, tmp_path: Path) -> None:
    stop = DiagnosisDecision(decision="stop", reason="no fix", source="rules")
    no_floor = TOP_FAILS.__class__(smoke_outcome="failed", exit_code=1, floor_rung=None)
    outcome, _, _ = _run(repo, tmp_path, [no_floor], [stop])
    assert outcome.status == "stopped-by-rules" and outcome.reason == "no fix"
    # a static check that finds the modules is no floor: only the import rung or higher is
    static = Step(smoke_outcome="failed", exit_code=1, floor_rung="static-imports")
    outcome, _, _ = _run(repo, tmp_path / "b", [static], [stop])
    assert outcome.status == "stopped-by-rules"


def test_a_repair_that_loses_the_floor_is_rolled_back_to_it(repo: Path, tmp_path: Path) -> None:
    broken = repair(PLAN, install_steps=["pip install -r requirements.txt", "pip install wandb==0.0.0"])
    other = repair(PLAN, install_steps=["pip install -r requirements.txt", "pip install wandb"])
    steps = [TOP_FAILS, Step(build_ok=False, build_log=["ERROR: No matching distribution found for wandb==0.0.0"]),
             TOP_FAILS]
    stop = DiagnosisDecision(decision="stop", reason="train.py needs a GPU", source="rules")
    outcome, executor, diagnoser = _run(repo, tmp_path, steps, [broken, other, stop], max_attempts=3)
    # attempt 2's build failed: its diagnosis starts from attempt 1 (the floor), with attempt 2 counted as tried
    second = diagnoser.contexts[1]
    assert second.attempt.number == 1 and [a.number for a in second.history] == [1, 2]
    assert broken.new_plan is not None and broken.new_plan.fingerprint() in second.tried_fingerprints()
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["smoke-failed", "build-failed", "smoke-failed"]
    assert meta.floor is not None and meta.floor.attempt == 3  # attempt 3 holds the floor too, and went further
    assert meta.image_tag == executor.builds[2].tag
    log = (outcome.run_dir / "run.log").read_text()  # type: ignore[operator]
    assert "attempt 2 lost the floor (its build failed): rolled back to attempt 1's plan" in log


def test_attempts_that_run_out_end_at_the_floor_with_its_plan(repo: Path, tmp_path: Path) -> None:
    broken = repair(PLAN, install_steps=["pip install -r requirements.txt", "pip install nothing-here"])
    again = repair(PLAN, install_steps=["pip install -r requirements.txt", "pip install wandb"])
    steps = [TOP_FAILS, Step(build_ok=False)]
    outcome, executor, _ = _run(repo, tmp_path, steps, [broken, again], max_attempts=2)
    assert outcome.status == "success" and "(the attempts ran out)" in outcome.reason, outcome.reason
    run_dir = outcome.run_dir
    assert run_dir is not None
    assert json.loads((run_dir / "plan.json").read_text()) == json.loads((run_dir / "attempts/01/plan.json").read_text())
    assert (run_dir / "Dockerfile").read_text() == (run_dir / "attempts/01/Dockerfile").read_text()
    assert load_run(run_dir).metadata.image_tag == executor.builds[0].tag
    assert f"docker run --rm {executor.builds[0].tag}" in (run_dir / "INSTRUCTIONS.md").read_text()


def test_a_repair_that_reaches_the_top_rung_wins_over_the_floor(repo: Path, tmp_path: Path) -> None:
    fixed = repair(PLAN, install_steps=["pip install -r requirements.txt", "pip install wandb"])
    outcome, _, _ = _run(repo, tmp_path, [TOP_FAILS, Step()], [fixed])
    assert outcome.status == "success" and outcome.reason.startswith("smoke run passed on attempt 2")
    assert load_run(outcome.run_dir).metadata.floor is None  # type: ignore[arg-type]


def test_lowering_the_smoke_command_to_a_rung_the_floor_passed_costs_no_attempt(repo: Path, tmp_path: Path) -> None:
    lowered = repair(PLAN, reason="train.py needs data/ (not in the repository); smoke lowered", smoke_command=IMPORT)
    outcome, executor, _ = _run(repo, tmp_path, [TOP_FAILS, Step()], [lowered])
    assert outcome.status == "success" and len(executor.builds) == 1, outcome.reason
    assert "needs more: train.py needs data/" in outcome.reason


# --- requirement files that add to the project's own dependencies ------------------------------------------------

def test_the_projects_metadata_installs_first_and_each_added_requirement_file_in_its_own_step(make_repo) -> None:  # type: ignore[no-untyped-def]
    from paper2run_tui.engine.analyze import analyze_repo
    from paper2run_tui.engine.plan.base import PlanContext
    from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
    from paper2run_tui.engine.ports import CancelToken
    from paper2run_tui.engine.render.install import install_commands

    repo = make_repo({"setup.py": "from setuptools import setup\nsetup(name='demo', packages=['demo'], "
                                  "install_requires=['six>=1.10'])\n",
                      "requirements.txt": "six==1.16.0\nnot-on-any-index-p2r==1.0\n",
                      "demo/__init__.py": "", "demo/core.py": "import six\n"})
    ctx = PlanContext(facts=analyze_repo(repo), repo_dir=repo, local_images=["python:3.11-slim"])
    plan = DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan
    assert plan.dependencies is not None and [f.optional for f in plan.dependencies.requirement_files] == [True]
    steps = install_commands(plan)
    # the file's pin of a dependency the metadata declares is the one the metadata's step installs
    assert steps.index("pip install six==1.16.0") < steps.index("pip install -r requirements.txt")
    assert "its own step: a file that fails is left out" in plan.notes


def test_a_failed_added_requirement_file_is_left_out_first_with_its_own_diagnosis(tmp_path: Path) -> None:
    from paper2run_tui.engine.contracts.dependencies import DependencySection, RequirementFile
    from paper2run_tui.engine.contracts.facts import RepoFacts
    from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
    from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
    from paper2run_tui.engine.ports import CancelToken
    from paper2run_tui.engine.render.install import install_commands

    section = DependencySection(pip="pip", packages=["six"], requirement_files=[
        RequirementFile(path="requirements.txt", optional=True), RequirementFile(path="examples/req.txt", optional=True)])
    plan = PLAN.model_copy(update={"dependencies": section, "install_steps": []})
    adir = tmp_path / "attempts/01"
    adir.mkdir(parents=True)
    log = (Path(__file__).parent / "fixtures/pip_output/optional-file-build-failed.log").read_text()
    (adir / "build_stdout.log").write_text(log)
    failed = FailedAttempt(number=1, plan=plan, dockerfile="", outcome="build-failed", attempt_dir=adir,
                           failing_step="RUN pip install -r examples/req.txt")
    ctx = DiagnosisContext(facts=RepoFacts(name="demo"), repo_dir=tmp_path, attempt=failed)
    d = RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())
    assert d.decision == "repair" and d.new_plan is not None and d.failure_class == "optional-requirements"
    assert d.reason.startswith("examples/req.txt failed in its own step (a dependency (flash-attn) could not be built")
    assert install_commands(d.new_plan)[-2:] == ["pip install six", "pip install -r requirements.txt"]
    # a failure in the project's own step is not the file's: the ordinary rules decide
    failed.failing_step = "RUN pip install six"
    assert RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken()).failure_class != "optional-requirements"


def test_an_entry_point_that_downloads_from_the_hub_offline_ends_at_the_floor_at_once(repo: Path, tmp_path: Path) -> None:
    """The real rules: the entry point fetches from the Hugging Face hub and the smoke run has no network. The
    repair lowers the smoke command to the import rung, which the floor passed already: no second attempt."""
    from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser

    log = (Path(__file__).parent / "fixtures/rule_logs/hub-offline.log").read_text().splitlines()
    step = Step(smoke_outcome="failed", exit_code=1, smoke_log=log, floor_rung="import-package")
    executor = ScriptedExecutor([step])
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path), ListSink(), planner=FixedPlanner(PLAN),
                           diagnoser=RulesDiagnoser(), executor=executor)
    assert outcome.status == "success" and len(executor.builds) == 1, outcome.reason
    assert "needs more: the code downloads from the Hugging Face hub, and the smoke run has no network" in outcome.reason
