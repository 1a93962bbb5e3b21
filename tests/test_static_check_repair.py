"""The static check's "missing modules" is a repair: each distribution installed in a step of its own, so that one on
no index fails alone and is left out (the no-release rule), and the rest stay installed."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_support import docker_or_fail

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import EnvPlan, RepoFacts, SmokeRung
from paper2run_tui.engine.contracts.dependencies import DependencySection, PackageStep
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.plan.deterministic import static_import_check
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.record.store import load_run
from paper2run_tui.engine.render.install import install_commands

PIP_LOGS = Path(__file__).parent / "fixtures" / "pip_output"
LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]
CA = Path("/etc/ssl/certs/ca-certificates.crt")
STATIC = static_import_check(["six", "yaml", "tqdm", "p2r_lab_utils", "helpers"])
PLAN = EnvPlan(base_image="python:3.11-slim", python_version="3.11", smoke_command=STATIC,
               smoke_ladder=[SmokeRung(rung="static-imports", command=STATIC)],
               dependencies=DependencySection(pip="pip", packages=["six"]))


def _diagnose(tmp_path: Path, plan: EnvPlan, log: str, outcome: str = "smoke-failed", step: str | None = None):  # type: ignore[no-untyped-def]
    adir = tmp_path / "attempts/01"
    adir.mkdir(parents=True, exist_ok=True)
    (adir / ("smoke_stdout.log" if outcome == "smoke-failed" else "build_stdout.log")).write_text(log)
    failed = FailedAttempt(number=1, plan=plan, dockerfile="", outcome=outcome, attempt_dir=adir,  # type: ignore[arg-type]
                           failing_step=step)
    facts = RepoFacts(name="demo", local_modules=["helpers"])
    ctx = DiagnosisContext(facts=facts, repo_dir=tmp_path, attempt=failed, local_images=LOCAL)
    return RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())


def test_the_missing_modules_are_installed_each_in_its_own_step(tmp_path: Path) -> None:
    d = _diagnose(tmp_path, PLAN, "missing modules: ['yaml', 'tqdm', 'p2r_lab_utils', 'six', 'helpers']\n")
    assert d.decision == "repair" and d.new_plan is not None and d.matched_rules[0] == "static-imports-missing"
    assert install_commands(d.new_plan)[-3:] == ["pip install PyYAML", "pip install tqdm", "pip install p2r_lab_utils"]
    # six is installed already (the module name is not the problem), helpers is the repository's own
    assert "each in its own step: PyYAML, tqdm, p2r_lab_utils (not six, helpers" in d.new_plan.notes


def test_the_one_on_no_index_fails_alone_and_is_left_out(tmp_path: Path) -> None:
    section = DependencySection(pip="pip", packages=["six"], additions=[
        PackageStep(packages=["PyYAML"]), PackageStep(packages=["p2r-lab-utils"]), PackageStep(packages=["tqdm"])])
    plan = PLAN.model_copy(update={"dependencies": section})
    log = (PIP_LOGS / "no-release-anywhere.log").read_text().replace("internal-lab-utils==0.3", "p2r-lab-utils")
    d = _diagnose(tmp_path, plan, log, "build-failed", "RUN pip install p2r-lab-utils")
    assert d.decision == "repair" and d.new_plan is not None, d.reason
    assert d.reason.startswith("p2r-lab-utils has no release on the package index (pip found none, for any Python)")
    assert install_commands(d.new_plan)[-2:] == ["pip install PyYAML", "pip install tqdm"]
    # the static check still misses it: the next repair does not install it again
    again = _diagnose(tmp_path / "again", d.new_plan, "missing modules: ['p2r_lab_utils']\n")
    assert again.decision == "stop" and "p2r_lab_utils" in again.reason


@pytest.mark.docker
def test_a_requirement_file_left_out_is_made_good_by_the_static_check_on_the_real_engine(  # type: ignore[no-untyped-def]
        make_repo, tmp_path: Path) -> None:
    """The project's own metadata names six; requirements.txt adds PyYAML and tqdm and a git requirement on a host
    that does not answer, so its step fails and the file is left out (the floor rule). The static check (the
    smoke command: the package has no code to import) then misses yaml and tqdm: each installed on its own."""
    docker_or_fail()
    repo = make_repo({"setup.py": "from setuptools import setup\nsetup(name='demo', version='0.1', packages=['demo'], "
                                  "install_requires=['six'])\n",
                      "demo/__init__.py": '"""Demo."""\n',
                      "requirements.txt": "PyYAML\ntqdm\ngit+https://127.0.0.1:9/lab/p2r-unreachable.git\n",
                      "run.py": "import six\nimport yaml\nimport tqdm\n"}, git=True, name="static-repair")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA, max_attempts=4), ListSink())
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert outcome.status == "success", (outcome.reason, [a.diagnosis for a in meta.attempts])
    assert [a.outcome for a in meta.attempts] == ["build-failed", "smoke-failed", "smoke-ok"]
    assert meta.attempts[1].matched_rules[0] == "static-imports-missing"
    last = (outcome.run_dir / "attempts/03/Dockerfile").read_text()  # type: ignore[operator]
    assert "RUN pip install PyYAML\n" in last and "RUN pip install tqdm\n" in last
    assert meta.highest_smoke_rung == "static-imports"
