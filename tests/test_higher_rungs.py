"""A higher rung's failure is read from where its output is: the pipeline's rung_<rung>.log for the quick rungs,
the toy run's own streamed logs (toy_run_*.log) for the toy run."""

from __future__ import annotations

from pathlib import Path

import pytest

from paper2run_tui.engine.contracts import EnvPlan, RepoFacts, SmokeRung
from paper2run_tui.engine.contracts.dependencies import DependencySection
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.install import install_commands

LADDER = [SmokeRung(rung="import-package", command='python -c "import demo"'),
          SmokeRung(rung="tests", command="timeout 600 python -m pytest -x -q"),
          SmokeRung(rung="toy-run", command="python train.py")]


@pytest.mark.parametrize(("rung", "log"), [("tests", "rung_tests.log"), ("toy-run", "toy_run_stderr.log")])
def test_the_failed_rungs_own_output_is_diagnosed(tmp_path: Path, rung: str, log: str) -> None:
    command = next(r.command for r in LADDER if r.rung == rung)
    plan = EnvPlan(base_image="python:3.11-slim", python_version="3.11", smoke_command=command, smoke_ladder=LADDER,
                   dependencies=DependencySection(pip="pip", packages=["six"]))
    (tmp_path / log).write_text("Traceback (most recent call last):\nModuleNotFoundError: No module named 'tqdm'\n")
    (tmp_path / "smoke_stdout.log").write_text("usage: train.py [-h]\n")  # the passing smoke command's, not read
    failed = FailedAttempt(number=1, plan=plan, dockerfile="", outcome="smoke-failed", attempt_dir=tmp_path,
                           exit_code=1, error=f"the {rung} rung exited with 1", floor_rung="import-package",
                           failed_rung=rung)  # type: ignore[arg-type]
    ctx = DiagnosisContext(facts=RepoFacts(name="demo"), repo_dir=tmp_path, attempt=failed,
                           local_images=["python:3.11-slim"])
    d = RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())
    assert d.decision == "repair" and d.matched_rules[0] == "missing-module" and d.new_plan is not None
    assert install_commands(d.new_plan)[-1] == "pip install tqdm"
    assert d.new_plan.smoke_command == command  # the repair aims at the rung that failed
