"""One answer to "does this exist?": a requirement pip finds no release of, for any Python, is left out (when the
project's own metadata does not need it) or stops the run at once naming it; the reason never blames the Python."""

from __future__ import annotations

from pathlib import Path

from paper2run_tui.engine.contracts import EnvPlan, RepoFacts, SmokeRung
from paper2run_tui.engine.contracts.dependencies import DependencySection, RequirementFile
from paper2run_tui.engine.contracts.facts import Dependency, Manifest
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.install import install_commands

LOGS = Path(__file__).parent / "fixtures" / "pip_output"
#: The pins wanted Python 3.8, and only 3.11 was here: the old reason blamed that.
PLAN = EnvPlan(base_image="python:3.11-slim", python_version="3.8", smoke_command='python -c "import demo"',
               dependencies=DependencySection(pip="pip", requirement_files=[RequirementFile(path="requirements.txt")]),
               smoke_ladder=[SmokeRung(rung="import-package", command='python -c "import demo"')])
LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]
OLD_PIN = Dependency(name="scipy", specifier="==1.1.0", raw="scipy==1.1.0", source="requirements.txt")


def _diagnose(tmp_path: Path, log: str, deps: list[Dependency], manifests: list[Manifest], plan: EnvPlan = PLAN):  # type: ignore[no-untyped-def]
    adir = tmp_path / "attempts/01"
    adir.mkdir(parents=True, exist_ok=True)
    (adir / "build_stdout.log").write_text((LOGS / log).read_text())
    failed = FailedAttempt(number=1, plan=plan, dockerfile="", outcome="build-failed", attempt_dir=adir,
                           failing_step="RUN pip install -r requirements.txt")
    facts = RepoFacts(name="demo", dependencies=deps, manifests=manifests)
    ctx = DiagnosisContext(facts=facts, repo_dir=tmp_path, attempt=failed, local_images=LOCAL)
    return RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())


def test_a_requirement_no_index_has_is_left_out_of_the_requirement_file_at_once(tmp_path: Path) -> None:
    dep = Dependency(name="internal-lab-utils", specifier="==0.3", raw="internal-lab-utils==0.3", source="requirements.txt")
    d = _diagnose(tmp_path, "no-release-anywhere.log", [dep, OLD_PIN],
                  [Manifest(kind="requirements", manager="pip", source="requirements.txt")])
    assert d.decision == "repair" and d.new_plan is not None, d.reason
    assert d.reason.startswith("internal-lab-utils has no release on the package index (pip found none, for any "
                               "Python); repair: install sed")
    assert "for this Python" not in d.reason and "3.8" not in d.reason
    assert d.new_plan.base_image == PLAN.base_image  # no move to another Python
    sed = install_commands(d.new_plan)[1]
    assert sed.startswith("sed -i -E -e '/^internal[-_.]lab[-_.]utils([^A-Za-z0-9_.-]|$)/Id' requirements.txt")
    assert "left out (requirements.txt): the package index has no release of it" in d.new_plan.notes


def test_a_requirement_of_the_projects_own_metadata_stops_the_run_naming_it(tmp_path: Path) -> None:
    dep = Dependency(name="internal-lab-utils", specifier="==0.3", raw="internal-lab-utils==0.3", source="setup.py")
    d = _diagnose(tmp_path, "no-release-anywhere.log", [dep, OLD_PIN],
                  [Manifest(kind="setup.py", manager="setuptools", source="setup.py")])
    assert d.decision == "stop"
    assert d.reason == ("internal-lab-utils has no release on the package index (pip found none, for any Python): "
                        "the project's own metadata (setup.py) requires internal-lab-utils, and the package index has "
                        "no release of it: install it from where its authors publish it (a git URL or a wheel), or "
                        "vendor it into the repository")


def test_a_listed_package_is_left_out_of_the_list(tmp_path: Path) -> None:
    plan = PLAN.model_copy(update={"dependencies": DependencySection(pip="pip", packages=["six", "internal-lab-utils==0.3"])})
    d = _diagnose(tmp_path, "no-release-anywhere.log", [], [], plan=plan)
    assert d.decision == "repair" and d.new_plan is not None and d.new_plan.dependencies is not None
    assert d.new_plan.dependencies.packages == ["six"]


def test_releases_for_another_python_are_a_python_question_still(tmp_path: Path) -> None:
    dep = Dependency(name="internal-lab-utils", specifier="==0.3", raw="internal-lab-utils==0.3", source="requirements.txt")
    d = _diagnose(tmp_path, "no-release-for-this-python.log", [dep],
                  [Manifest(kind="requirements", manager="pip", source="requirements.txt")])
    assert d.matched_rules[0] == "ignored-requires-python" and "no release on the package index" not in d.reason
    assert d.decision == "stop" or (d.new_plan is not None and d.new_plan.base_image != PLAN.base_image)
