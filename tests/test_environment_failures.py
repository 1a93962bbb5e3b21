"""The machine's failures beat every reading of a package: a disk that filled while torch installed is not torch's
fault, and an index that answered "versions: none" before a fallback installed the package is not why the build
failed (torchdiffeq, 2026-12-02: a full disk read as "torch has no release on the package index")."""

from __future__ import annotations

from pathlib import Path

from paper2run_tui.engine.contracts import EnvPlan, RepoFacts, SmokeRung
from paper2run_tui.engine.contracts.dependencies import DependencySection, IndexedPackages, RequirementFile
from paper2run_tui.engine.contracts.facts import Dependency, Manifest
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
from paper2run_tui.engine.plan.packages import TORCH_CPU_INDEX
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.install import install_commands

LOGS = Path(__file__).parent / "fixtures" / "pip_output"
RULE_LOGS = Path(__file__).parent / "fixtures" / "rule_logs"
LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]
LADDER = [SmokeRung(rung="import-package", command='python -c "import torchdemo"')]
TORCH_PLAN = EnvPlan(base_image="python:3.11-slim", python_version="3.11", smoke_command='python -c "import torchdemo"',
                     smoke_ladder=LADDER,
                     dependencies=DependencySection(pip="pip", project="editable",
                                                    indexes=[IndexedPackages(packages=["torch"],
                                                                             index_url=TORCH_CPU_INDEX)]))
SETUP_TORCH = Dependency(name="torch", raw="torch", source="setup.py")
SETUP = Manifest(kind="setup.py", manager="setuptools", source="setup.py")


def _step(plan: EnvPlan, origin_index: int) -> str:
    return "RUN " + install_commands(plan)[origin_index]


def _diagnose(tmp_path: Path, plan: EnvPlan, stdout: str, failing_step: str, error: str | None = None,
              facts: RepoFacts | None = None):  # type: ignore[no-untyped-def]
    adir = tmp_path / "attempts/01"
    adir.mkdir(parents=True, exist_ok=True)
    (adir / "build_stdout.log").write_text(stdout)
    if error:
        (adir / "build_stderr.log").write_text(error + "\n")
    failed = FailedAttempt(number=1, plan=plan, dockerfile="", outcome="build-failed", attempt_dir=adir,
                           failing_step=failing_step, error=error)
    facts = facts or RepoFacts(name="torchdemo", dependencies=[SETUP_TORCH], manifests=[SETUP])
    ctx = DiagnosisContext(facts=facts, repo_dir=tmp_path, attempt=failed, local_images=LOCAL)
    return RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())


def test_a_disk_that_filled_after_the_index_fallback_installed_torch_stops_on_the_disk(tmp_path: Path) -> None:
    """The step's output: the CPU index's empty answer, PyPI's torch installed, Docker's layer store full (its
    message in lower case, as Go writes it, and only in the engine's error)."""
    log = (LOGS / "disk-full-after-index-fallback.log").read_text()
    *output, layer_error = log.rstrip("\n").splitlines()
    d = _diagnose(tmp_path, TORCH_PLAN, "\n".join(output) + "\n", _step(TORCH_PLAN, 1), error=layer_error)
    assert d.decision == "stop" and d.matched_rules[0] == "disk-full" and d.failure_class == "resources", d.reason
    assert d.reason.startswith("no space left on a device: the Docker engine's disk filled during the build (while "
                               "Docker stored the step's layer); the plan is not at fault"), d.reason
    assert "paper2run-tui cleanup" in d.reason and "resume the run" in d.reason
    assert "torch" not in d.reason and "no release" not in d.reason


def test_the_index_answer_a_fallback_recovered_from_is_no_reading_at_all(tmp_path: Path) -> None:
    """Without the disk event the same output holds no failure of torch: no rule blames it."""
    log = (LOGS / "disk-full-after-index-fallback.log").read_text()
    output = "\n".join(log.splitlines()[:-1]) + "\n"
    d = _diagnose(tmp_path, TORCH_PLAN, output, _step(TORCH_PLAN, 1))
    assert d.matched_rules == [] and d.failure_class == "unknown", d.reason
    assert "no release" not in d.reason


def test_the_cpu_index_answering_none_is_not_no_release_anywhere(tmp_path: Path) -> None:
    """The index step without its fallback: "versions: none" came from the CPU index, which is not the package
    index; the reason must not say pip found no release for any Python."""
    plan = TORCH_PLAN.model_copy(update={"dependencies": DependencySection(
        pip="pip", indexes=[IndexedPackages(packages=["torch"], index_url=TORCH_CPU_INDEX, fallback_to_default=False)])})
    log = "\n".join((LOGS / "disk-full-after-index-fallback.log").read_text().splitlines()[:6]) + "\n"
    d = _diagnose(tmp_path, plan, log, _step(plan, 1))
    assert d.matched_rules[0] == "no-matching-distribution"
    assert "for any Python" not in d.reason and "the project's own metadata" not in d.reason, d.reason


def test_a_full_disk_in_an_optional_files_step_does_not_leave_the_file_out(tmp_path: Path) -> None:
    """Leaving out a requirement file that failed in its own step is a repair for the file, not for the machine."""
    plan = EnvPlan(base_image="python:3.11-slim", python_version="3.11", smoke_command='python -c "import demo"',
                   smoke_ladder=LADDER, dependencies=DependencySection(
                       pip="pip", packages=["six"], requirement_files=[RequirementFile(path="requirements.txt",
                                                                                       optional=True)]))
    step = next(c for c in install_commands(plan) if c.startswith("pip install -r"))
    d = _diagnose(tmp_path, plan, (RULE_LOGS / "disk-full.log").read_text(), f"RUN {step}")
    assert d.decision == "stop" and d.matched_rules[0] == "disk-full", d.reason
    assert d.failure_class == "resources" and d.new_plan is None


def test_a_full_disk_is_never_blamed_on_the_python_the_pins_wanted(tmp_path: Path) -> None:
    """The pins wanted 3.8 and only 3.11 was here: true, and beside the point when the disk is full."""
    plan = TORCH_PLAN.model_copy(update={"python_version": "3.8"})
    facts = RepoFacts(name="torchdemo", manifests=[SETUP],
                      dependencies=[Dependency(name="numpy", specifier="==1.18.5", raw="numpy==1.18.5",
                                               source="setup.py")])
    d = _diagnose(tmp_path, plan, (RULE_LOGS / "disk-full.log").read_text(), _step(plan, 1), facts=facts)
    assert d.decision == "stop" and d.matched_rules[0] == "disk-full"
    assert "(note:" not in d.reason and "Python" not in d.reason, d.reason


def test_an_engine_that_went_away_mid_step_is_the_engine(tmp_path: Path) -> None:
    log = (RULE_LOGS / "engine-failure.log").read_text() + "ERROR: No matching distribution found for torch==1.2.0\n"
    d = _diagnose(tmp_path, TORCH_PLAN, log, _step(TORCH_PLAN, 1))
    assert d.decision == "stop" and d.matched_rules[0] == "engine-failure" and d.failure_class == "engine"
    assert d.reason.startswith("the container engine failed: the container engine failed, not the plan"), d.reason
