"""Known-failure rules: each fires on its own log fixture and on no other; each repair is a new, complete plan."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from paper2run_tui.engine.contracts import EnvPlan, RepoFacts, SmokeRung
from paper2run_tui.engine.contracts.dependencies import DependencySection, IndexedPackages, RequirementFile
from paper2run_tui.engine.contracts.facts import DataExpectation, Dependency
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.rules import RULES
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.install import KEEP_TORCH, install_commands, source_commands

FIXTURES = Path(__file__).parent / "fixtures" / "rule_logs"
RULE_IDS = [r.id for r in RULES]
PLAN = EnvPlan(
    base_image="python:3.11-slim", python_version="3.11",
    dependencies=DependencySection(pip="pip", requirement_files=[RequirementFile(path="requirements.txt")]),
    smoke_command="python train.py --help",
    smoke_ladder=[SmokeRung(rung="import-package", command='python -c "import model"'),
                  SmokeRung(rung="entrypoint-help", command="python train.py --help")],
)
LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]


def test_there_are_at_least_30_rules_each_with_a_fixture() -> None:
    assert len(RULES) >= 30
    assert len(set(RULE_IDS)) == len(RULE_IDS)
    assert sorted(p.stem for p in FIXTURES.glob("*.log")) == sorted(RULE_IDS)


@pytest.mark.parametrize("rule", RULES, ids=RULE_IDS)
def test_rule_fires_on_its_own_fixture_and_no_other(rule) -> None:  # type: ignore[no-untyped-def]
    fired_on = sorted(p.stem for p in FIXTURES.glob("*.log") if rule.pattern.search(p.read_text()))
    assert fired_on == [rule.id]


def context(tmp_path: Path, log: str, outcome: str = "build-failed", plan: EnvPlan = PLAN, **facts: object) -> DiagnosisContext:
    adir = tmp_path / "attempts" / "01"
    adir.mkdir(parents=True, exist_ok=True)
    name = "build_stdout" if outcome == "build-failed" else "smoke_stderr"
    (adir / f"{name}.log").write_text(log)
    attempt = FailedAttempt(number=1, plan=plan, dockerfile="", outcome=outcome, attempt_dir=adir,  # type: ignore[arg-type]
                            failing_step="RUN pip install -r requirements.txt" if outcome == "build-failed" else None)
    return DiagnosisContext(facts=RepoFacts(name="demo", **facts), repo_dir=tmp_path, attempt=attempt,  # type: ignore[arg-type]
                            local_images=LOCAL)


def diagnose(ctx: DiagnosisContext):  # type: ignore[no-untyped-def]
    return RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())


@pytest.mark.parametrize("rule_id", RULE_IDS)
def test_every_rule_decides_and_any_repair_is_new(rule_id: str, tmp_path: Path) -> None:
    smoke_rules = ("data-file-missing", "smoke-command-not-found", "cuda-on-cpu", "needs-terminal", "hub-offline")
    outcome = "smoke-failed" if rule_id in smoke_rules else "build-failed"
    ctx = context(tmp_path, (FIXTURES / f"{rule_id}.log").read_text(), outcome,
                  commit_date=datetime(2020, 6, 1, tzinfo=UTC), local_modules=["model"])
    decision = diagnose(ctx)
    assert decision.matched_rules[0] == rule_id
    assert decision.source == "rules" and decision.reason
    if decision.decision == "repair":
        assert decision.new_plan is not None
        assert decision.new_plan.fingerprint() != PLAN.fingerprint()


def test_missing_module_maps_import_name_to_distribution_before_the_failing_step(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "missing-module.log").read_text()))
    assert d.decision == "repair" and d.new_plan is not None
    assert install_commands(d.new_plan) == ["python -m pip install --upgrade pip setuptools wheel",
                                        "pip install opencv-python-headless", "pip install -r requirements.txt"]


def test_missing_local_module_sets_pythonpath(tmp_path: Path) -> None:
    log = "ModuleNotFoundError: No module named 'model'"
    d = diagnose(context(tmp_path, log, "smoke-failed", local_modules=["model"]))
    assert d.new_plan is not None and d.new_plan.env["PYTHONPATH"] == "/repo"


def test_shared_library_adds_the_debian_package(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "missing-shared-library.log").read_text(), "smoke-failed"))
    assert d.new_plan is not None and d.new_plan.system_packages == ["libgl1"]


def test_python_too_new_moves_to_an_available_older_python(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "requires-python.log").read_text()))
    assert d.new_plan is not None and d.new_plan.base_image == "python:3.9-slim"


def test_missing_data_stops_with_the_readmes_download_instructions(tmp_path: Path) -> None:
    plan = PLAN.model_copy(update={"smoke_ladder": []})
    ctx = context(tmp_path, (FIXTURES / "data-file-missing.log").read_text(), "smoke-failed", plan=plan,
                  data_expectations=[DataExpectation(target="wget https://example.org/train.zip", kind="readme-instruction",
                                                     source="README.md")])
    d = diagnose(ctx)
    assert d.decision == "stop" and d.failure_class == "missing-data"
    assert "data/train.csv" in d.reason and "wget https://example.org/train.zip (README.md)" in d.reason


def test_missing_data_in_the_smoke_run_lowers_the_rung_first(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "data-file-missing.log").read_text(), "smoke-failed"))
    assert d.decision == "repair" and d.new_plan is not None
    assert d.new_plan.smoke_command == 'python -c "import model"'


def test_time_travel_resolves_as_of_the_commit_date(tmp_path: Path) -> None:
    ctx = context(tmp_path, (FIXTURES / "resolution-impossible.log").read_text(), commit_date=datetime(2021, 3, 4, tzinfo=UTC))
    d = diagnose(ctx)
    assert d.new_plan is not None and d.new_plan.exclude_newer == "2021-03-04"
    assert "export PIP_UPLOADED_PRIOR_TO=2021-03-04T00:00:00Z && pip install -r requirements.txt" in install_commands(d.new_plan)
    assert install_commands(d.new_plan)[0] == "python -m pip install --upgrade 'pip>=25.3'"
    assert d.new_plan.base_image == "python:3.9-slim"


def test_a_repair_already_tried_is_not_proposed_again(tmp_path: Path) -> None:
    ctx = context(tmp_path, (FIXTURES / "missing-module.log").read_text())
    first = diagnose(ctx)
    assert first.new_plan is not None
    ctx.rejected.append((first.new_plan, "no"))
    second = diagnose(ctx)
    assert second.decision == "stop" and "already tried" in second.reason


def test_unknown_failure_stops_and_quotes_the_first_error(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, "step 3\nRuntimeError: the flux capacitor is empty\nmore\n", "smoke-failed"))
    assert d.decision == "stop" and d.matched_rules == []
    assert d.reason == "no known failure signature matched: RuntimeError: the flux capacitor is empty"


def test_missing_module_installs_only_the_module_the_traceback_names(tmp_path: Path) -> None:
    """Another undeclared import may be optional, lazy, CUDA-only or on no index: installed with the one that
    failed, it could sink the repair. Each is installed when it fails on its own."""
    from paper2run_tui.engine.contracts.facts import ImportedModule
    imports = [ImportedModule(module="cv2", source="model/io.py"), ImportedModule(module="yaml", source="model/cfg.py"),
               ImportedModule(module="flash_attn", source="model/attn.py"),
               ImportedModule(module="matplotlib", source="examples/plot.py")]
    d = diagnose(context(tmp_path, (FIXTURES / "missing-module.log").read_text(), imports=imports))
    assert d.new_plan is not None
    added = [c for c in install_commands(d.new_plan) if c not in install_commands(PLAN)]
    assert added == ["pip install opencv-python-headless"]


def test_python_versions_compare_as_numbers_not_strings(tmp_path: Path) -> None:
    # On Python 3.9 a missing distutils is an old sdist meeting new setuptools (time travel), not "3.9 >= 3.12".
    plan = PLAN.model_copy(update={"python_version": "3.9", "base_image": "python:3.9-slim"})
    ctx = context(tmp_path, "ModuleNotFoundError: No module named 'distutils'", plan=plan,
                  commit_date=datetime(2019, 1, 1, tzinfo=UTC))
    d = diagnose(ctx)
    assert d.new_plan is not None and d.new_plan.python_version == "3.9" and d.new_plan.exclude_newer is not None


def test_old_numpy_distutils_sdist_moves_to_the_oldest_local_python(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "numpy-distutils-sdist.log").read_text()))
    assert d.matched_rules == ["numpy-distutils-sdist"]
    assert d.new_plan is not None and d.new_plan.base_image == "python:3.9-slim"


def test_time_travel_prefixes_source_steps_and_never_moves_python_up(tmp_path: Path) -> None:
    plan = PLAN.model_copy(update={"python_version": "3.9", "base_image": "python:3.9-slim",
                                   "source_steps": ["pip install --no-deps -e ."]})
    ctx = context(tmp_path, "ModuleNotFoundError: No module named 'distutils'", plan=plan,
                  commit_date=datetime(2018, 5, 1, tzinfo=UTC))
    d = diagnose(ctx)
    assert d.new_plan is not None and d.new_plan.python_version == "3.9"
    assert source_commands(d.new_plan) == ["export PIP_UPLOADED_PRIOR_TO=2018-05-01T00:00:00Z && pip install --no-deps -e ."]


def test_the_expected_failure_of_the_cpu_torch_index_is_not_a_network_problem(tmp_path: Path) -> None:
    log = ("Looking in indexes: https://download.pytorch.org/whl/cpu\n"
           "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(': Failed to establish a new "
           "connection: [Errno -2] Name or service not known')': /whl/cpu/torch/\n"
           "ERROR: Could not find a version that satisfies the requirement torch==1.3.1\n"
           "ERROR: No matching distribution found for torch==1.3.1\n")
    d = diagnose(context(tmp_path, log))
    assert d.matched_rules == ["no-matching-distribution"]


def test_the_failure_that_ended_the_build_wins_over_one_recovered_from(tmp_path: Path) -> None:
    """The CPU torch index fails first (and the step falls back); the requirement that really failed comes last."""
    log = ("ERROR: No matching distribution found for torch\n"
           "Successfully installed torch-2.8.0\n"
           "ERROR: Could not find a version that satisfies the requirement msgpack-python==1.0.2 (from versions: 0.5.6)\n"
           "ERROR: No matching distribution found for msgpack-python==1.0.2\n")
    plan = PLAN.model_copy(update={"python_version": "3.9", "base_image": "python:3.9-slim"})
    d = diagnose(context(tmp_path, log, plan=plan))
    assert d.decision == "repair" and d.new_plan is not None
    assert d.reason.startswith("no release of msgpack-python==1.0.2 exists for this Python")
    assert "the pin of msgpack-python relaxed" in d.new_plan.notes


GAP_PLAN = PLAN.model_copy(update={"python_version": "3.7", "base_image": "python:3.9-slim"})
TF1 = [Dependency(name="tensorflow", specifier="==1.15.4", raw="tensorflow==1.15.4", source="requirements.txt")]


def test_a_pin_with_no_release_for_the_python_available_stops_naming_the_python_it_needs(tmp_path: Path) -> None:
    log = "ERROR: No matching distribution found for tensorflow<2,>=1.15.4\n"
    d = diagnose(context(tmp_path, log, plan=GAP_PLAN, dependencies=TF1))
    assert d.decision == "stop" and d.failure_class == "pin-unavailable"
    assert d.reason.startswith("no release of tensorflow<2,>=1.15.4 exists for this Python: the image has Python 3.9;")
    assert "tensorflow==1.15.4 (requirements.txt) needs Python <= 3.7" in d.reason
    assert "docker pull python:3.7-slim" in d.reason


def test_a_stop_on_a_symptom_also_names_the_python_the_pins_needed(tmp_path: Path) -> None:
    """gcn: scipy==1.1.0 has no wheel for 3.9 and its sdist fails on distutils; the cause is the missing 3.7."""
    plan = GAP_PLAN.model_copy(update={"exclude_newer": "2020-09-26"})
    d = diagnose(context(tmp_path, "ModuleNotFoundError: No module named 'distutils.msvccompiler'", plan=plan,
                         dependencies=TF1, commit_date=datetime(2020, 9, 26, tzinfo=UTC)))
    assert d.decision == "stop"
    assert not d.reason.startswith("distutils was removed in Python 3.12")
    assert "only python:3.9-slim was available here" in d.reason


def test_time_travel_to_a_recent_commit_is_refused_as_useless(tmp_path: Path) -> None:
    plan = PLAN.model_copy(update={"python_version": "3.9", "base_image": "python:3.9-slim"})
    d = diagnose(context(tmp_path, "ModuleNotFoundError: No module named 'distutils'", plan=plan,
                         commit_date=datetime.now(UTC)))
    assert d.decision == "stop" and "the commit is recent" in d.reason


GCN_LOG = ("ERROR: Ignored the following versions that require a different python version: 1.14.0 Requires-Python >=3.10;"
           " 2.1.0 Requires-Python >=3.10; 3.5 Requires-Python >=3.11\n"
           "ERROR: Could not find a version that satisfies the requirement tensorflow<2,>=1.15.4 (from versions: 2.5.0)\n"
           "ERROR: No matching distribution found for tensorflow<2,>=1.15.4\n")


def test_releases_pip_skipped_for_other_packages_do_not_move_python_up(tmp_path: Path) -> None:
    """gcn: pip lists the numpy/scipy releases it skipped; they say nothing about tensorflow 1.x, which needs an
    older Python, not a newer one."""
    d = diagnose(context(tmp_path, GCN_LOG, plan=GAP_PLAN, dependencies=TF1))
    assert d.decision == "stop" and d.new_plan is None
    assert d.matched_rules == ["no-matching-distribution"]
    assert "needs Python <= 3.7" in d.reason


def test_a_skipped_release_that_is_the_failing_pin_moves_python(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "ignored-requires-python.log").read_text()))
    assert d.matched_rules[0] == "ignored-requires-python"
    assert d.new_plan is not None and d.new_plan.base_image == "python:3.9-slim"


def test_meson_without_a_compiler_adds_build_essential(tmp_path: Path) -> None:
    log = ("  ../meson.build:1:0: ERROR: Unknown compiler(s): [['cc'], ['gcc'], ['clang'], ['nvc'], ['pgcc']]\n"
           "error: metadata-generation-failed\n")
    d = diagnose(context(tmp_path, log))
    assert d.matched_rules == ["compiler-missing"]
    assert d.new_plan is not None and d.new_plan.system_packages == ["build-essential"]


def test_code_that_asks_the_terminal_for_its_size_gets_a_pseudo_terminal(tmp_path: Path) -> None:
    """pytorch-cifar's utils.py runs `stty size` at import; `script` gives the smoke command a terminal."""
    d = diagnose(context(tmp_path, (FIXTURES / "needs-terminal.log").read_text(), "smoke-failed"))
    assert d.decision == "repair" and d.new_plan is not None
    assert d.new_plan.smoke_command == "script -qec 'python train.py --help' /dev/null"
    assert d.new_plan.smoke_ladder[-1].command == d.new_plan.smoke_command, "the rung still counts"
    again = diagnose(context(tmp_path, (FIXTURES / "needs-terminal.log").read_text(), "smoke-failed", plan=d.new_plan))
    assert again.decision == "stop", "wrapping twice would change nothing"


def test_installing_a_torch_companion_keeps_the_torch_already_installed(tmp_path: Path) -> None:
    """attention-is-all-you-need: a bare `pip install torchtext` pulled torchtext 0.18 and torch 2.8 over torch 1.13,
    and torchtext's library then failed to load. Keeping torch makes pip pick the torchtext built for it."""
    torch = IndexedPackages(packages=["torch>=1.3.1,<2"], index_url="https://download.pytorch.org/whl/cpu")
    plan = PLAN.model_copy(update={"dependencies": PLAN.dependencies.model_copy(update={"indexes": [torch]}),
                                   "smoke_command": "python train.py --help"})
    d = diagnose(context(tmp_path, "ModuleNotFoundError: No module named 'torchtext'", "smoke-failed", plan=plan))
    assert d.new_plan is not None
    step = install_commands(d.new_plan)[-1]
    assert step.startswith("pip install torchtext ") and step.endswith(KEEP_TORCH)
    plain = diagnose(context(tmp_path, "ModuleNotFoundError: No module named 'yaml'", "smoke-failed", plan=plan))
    assert plain.new_plan is not None and KEEP_TORCH not in install_commands(plain.new_plan)[-1]


def test_torchtext_legacy_imports_get_the_torchtext_that_still_had_them(tmp_path: Path) -> None:
    plan = PLAN.model_copy(update={"python_version": "3.9", "base_image": "python:3.9-slim"})
    d = diagnose(context(tmp_path, (FIXTURES / "torchtext-legacy-api.log").read_text(), "smoke-failed", plan=plan))
    assert d.new_plan is not None and install_commands(d.new_plan)[-1] == "pip install 'torchtext<0.9' 'numpy<2'"
    assert d.new_plan.base_image == "python:3.9-slim"


def test_a_missing_torchtext_that_the_code_uses_the_legacy_api_of_gets_the_old_one_at_once(tmp_path: Path) -> None:
    """attention-is-all-you-need took three rounds: torchtext missing, then its legacy API gone, then NumPy 2 under
    the old torch. The code's imports already say which torchtext it needs, and that one needs NumPy 1."""
    (tmp_path / "train.py").write_text("from torchtext.data import Field, Dataset, BucketIterator\n")
    d = diagnose(context(tmp_path, "ModuleNotFoundError: No module named 'torchtext'", "smoke-failed"))
    assert d.new_plan is not None
    assert install_commands(d.new_plan)[-1].startswith("pip install 'torchtext<0.9' 'numpy<2'")
    assert KEEP_TORCH not in install_commands(d.new_plan)[-1]  # torchtext 0.8 brings the torch it was built for
    assert d.new_plan.base_image == "python:3.9-slim"


def test_a_release_with_legacy_metadata_gets_the_last_pip_that_installs_it(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "pip-invalid-metadata.log").read_text()))
    assert d.decision == "repair" and d.new_plan is not None
    assert d.reason.startswith("an old release (pytorch-lightning==1.5.6) has metadata today's pip refuses")
    assert install_commands(d.new_plan)[0] == "python -m pip install --upgrade 'pip<24.1' setuptools wheel"
    assert install_commands(d.new_plan)[1:] == install_commands(PLAN)[1:]
    # pip 24.0 refusing it too: nothing more to try.
    again = diagnose(context(tmp_path, (FIXTURES / "pip-invalid-metadata.log").read_text(), plan=d.new_plan))
    assert again.decision == "stop" and "even pip 24.0 refuses it" in again.reason


def test_a_missing_module_repair_brings_the_system_packages_of_what_it_installs(tmp_path: Path) -> None:
    """improved-diffusion: mpi4py's wheel loads the system's MPI (a repair without it failed next on libmpi.so.40).
    The repair adds what the planner adds for mpi4py."""
    d = diagnose(context(tmp_path, "ModuleNotFoundError: No module named 'mpi4py'", "smoke-failed"))
    assert d.new_plan is not None and install_commands(d.new_plan)[-1] == "pip install mpi4py"
    assert d.new_plan.system_packages == ["libopenmpi-dev", "build-essential"]
    log = "RuntimeError: cannot load MPI library\nlibmpi.so.40: cannot open shared object file: No such file or directory\n"
    d = diagnose(context(tmp_path, log, "smoke-failed"))
    assert d.new_plan is not None and d.new_plan.system_packages == ["libopenmpi-dev"]


def test_an_unreachable_git_dependency_comes_from_pypi_when_it_is_released_there(tmp_path: Path) -> None:
    import subprocess

    from paper2run_tui.engine.contracts.facts import Dependency
    cocoapi = Dependency(name="pycocotools", kind="git", source="requirements.txt", line=2,
                         raw="git+https://github.com/cocodataset/cocoapi.git#subdirectory=PythonAPI&egg=pycocotools")
    log = (FIXTURES / "git-unreachable.log").read_text()
    d = diagnose(context(tmp_path, log, dependencies=[cocoapi]))
    assert d.decision == "repair" and d.new_plan is not None
    sed = install_commands(d.new_plan)[1]  # before the failing `pip install -r requirements.txt`
    assert sed.startswith("sed -i -E ") and install_commands(d.new_plan)[2] == "pip install -r requirements.txt"
    # The edit itself, run by a real shell on the file as detr writes it: only the git line changes.
    (tmp_path / "requirements.txt").write_text("cython\n" + cocoapi.raw + "\ntorch>=1.5.0\n")
    subprocess.run(["bash", "-c", sed], cwd=tmp_path, check=True)
    assert (tmp_path / "requirements.txt").read_text() == "cython\npycocotools\ntorch>=1.5.0\n"


def test_an_unreachable_git_dependency_with_no_release_stops_naming_it(tmp_path: Path) -> None:
    from paper2run_tui.engine.contracts.facts import Dependency
    deps = [Dependency(name="pycocotools", kind="git", source="requirements.txt",
                       raw="git+https://github.com/cocodataset/cocoapi.git#subdirectory=PythonAPI&egg=pycocotools"),
            Dependency(name="panopticapi", kind="git", source="requirements.txt",
                       raw="git+https://github.com/cocodataset/panopticapi.git#egg=panopticapi")]
    d = diagnose(context(tmp_path, (FIXTURES / "git-unreachable.log").read_text(), dependencies=deps))
    assert d.decision == "stop" and d.matched_rules[0] == "git-unreachable"
    assert ("the build cannot reach github.com, and panopticapi (https://github.com/cocodataset/panopticapi.git) "
            "comes only from there") in d.reason
    assert "pycocotools could come from PyPI instead" in d.reason


def test_a_name_gone_from_a_library_resolves_the_dependencies_as_of_the_commit(tmp_path: Path) -> None:
    log = (FIXTURES / "api-moved-on.log").read_text()
    old = dict(commit_date=datetime(2021, 12, 22, tzinfo=UTC))
    d = diagnose(context(tmp_path, log, "smoke-failed", **old))
    assert d.decision == "repair" and d.new_plan is not None and d.new_plan.exclude_newer == "2021-12-22"
    assert "pytorch_lightning.utilities.seed.seed_everything" in d.reason
    again = diagnose(context(tmp_path, log, "smoke-failed", plan=d.new_plan, **old))
    assert again.decision == "stop"
    assert "missing even with pytorch-lightning as of the commit date" in again.reason
    recent = diagnose(context(tmp_path, log, "smoke-failed", commit_date=datetime.now(UTC)))
    assert recent.decision == "stop"
    assert "the installed pytorch-lightning no longer has pytorch_lightning.utilities.seed.seed_everything" in recent.reason


def test_a_missing_name_in_the_repositorys_own_code_or_in_python_is_not_a_library_that_moved_on(tmp_path: Path) -> None:
    own = "ImportError: cannot import name 'helper' from 'utils' (/repo/utils.py)\n"
    d = diagnose(context(tmp_path, own, "smoke-failed", local_modules=["utils"]))
    assert d.decision == "stop" and d.matched_rules == [] and d.reason.startswith("no known failure signature matched")
    stdlib = "AttributeError: module 'os' has no attribute 'made_up'\n"
    assert diagnose(context(tmp_path, stdlib, "smoke-failed")).matched_rules == []


def test_a_standard_library_name_python_removed_moves_to_the_python_before(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "stdlib-removed.log").read_text(), "smoke-failed"))
    assert d.decision == "repair" and d.new_plan is not None
    assert d.reason.startswith("the code uses inspect.getargspec, which Python 3.11 removed")
    assert d.new_plan.base_image == "python:3.9-slim"  # 3.10 is not local here; 3.9 is the newest before 3.11
    imp = diagnose(context(tmp_path, "ModuleNotFoundError: No module named 'imp'", "smoke-failed",
                           plan=PLAN.model_copy(update={"base_image": "python:3.13-slim", "python_version": "3.13"})))
    assert imp.matched_rules[0] == "stdlib-removed" and imp.new_plan is not None
    assert imp.new_plan.base_image == "python:3.11-slim"
    clock = diagnose(context(tmp_path, "AttributeError: module 'time' has no attribute 'clock'", "smoke-failed"))
    assert clock.decision == "stop"
    assert "time.clock was removed in Python 3.8; no base image with Python 3.7" in clock.reason


@pytest.mark.parametrize(("line", "expected"), [
    ("timm @ git+https://github.com/huggingface/pytorch-image-models.git@v0.9.2", "timm"),
    ("-e git+https://github.com/huggingface/pytorch-image-models@main#egg=timm", "timm"),
    ("git+https://github.com/cocodataset/cocoapi.git#subdirectory=PythonAPI&egg=pycocotools", "pycocotools"),
])
def test_the_git_line_is_replaced_however_it_names_its_ref(tmp_path: Path, line: str, expected: str) -> None:
    import subprocess

    from paper2run_tui.engine.contracts.facts import Dependency
    dep = Dependency(name="x", kind="git", source="requirements.txt", raw=line)
    d = diagnose(context(tmp_path, (FIXTURES / "git-unreachable.log").read_text(), dependencies=[dep]))
    assert d.new_plan is not None
    (tmp_path / "requirements.txt").write_text(f"numpy\n{line}\n")
    subprocess.run(["bash", "-c", install_commands(d.new_plan)[1]], cwd=tmp_path, check=True)
    assert (tmp_path / "requirements.txt").read_text() == f"numpy\n{expected}\n"


def test_torch_six_repairs_read_what_the_code_took_from_it(tmp_path: Path) -> None:
    """timm 0.3.2 (facebookresearch/mae) imports container_abcs, gone since torch 1.9: torch<2 would fail again."""
    log = ('  File "/usr/local/lib/python3.11/site-packages/timm/models/layers/helpers.py", line 6, in <module>\n'
           "    from torch._six import container_abcs\nModuleNotFoundError: No module named 'torch._six'\n")
    torch = IndexedPackages(packages=["torch", "torchvision"], index_url="https://download.pytorch.org/whl/cpu")
    plan = PLAN.model_copy(update={"dependencies": PLAN.dependencies.model_copy(
        update={"indexes": [torch], "packages": ["timm==0.3.2"]})})
    d = diagnose(context(tmp_path, log, "smoke-failed", plan=plan))
    assert d.new_plan is not None
    assert install_commands(d.new_plan)[-1] == "pip install 'torch<1.9' 'torchvision<0.10' 'numpy<2'"
    assert d.new_plan.base_image == "python:3.9-slim"
    newer = ("    from torch._six import string_classes\nModuleNotFoundError: No module named 'torch._six'\n")
    d = diagnose(context(tmp_path, newer, "smoke-failed"))
    assert d.new_plan is not None and install_commands(d.new_plan)[-1] == "pip install 'torch<2' 'numpy<2'"


def test_a_failure_an_earlier_step_recovered_from_is_not_the_cause(tmp_path: Path) -> None:
    """guided-diffusion: the CPU torch index's 'No matching distribution' (recovered by the fallback index) was taken
    for the cause of a later step's failure."""
    log = ("Step 9/18 : RUN pip install --index-url https://download.pytorch.org/whl/cpu torch || pip install torch\n"
           "ERROR: No matching distribution found for torch\nSuccessfully installed torch-2.15.0\n"
           "Step 10/18 : RUN pip install -r requirements.txt\n"
           "ModuleNotFoundError: No module named 'Cython'\n")
    d = diagnose(context(tmp_path, log))
    assert d.matched_rules == ["cython-missing"]


def test_an_entry_point_without_help_lowers_the_smoke_rung(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, (FIXTURES / "help-not-supported.log").read_text(), "smoke-failed"))
    assert d.decision == "repair" and d.new_plan is not None
    assert d.new_plan.smoke_command == 'python -c "import model"'  # the rung below entrypoint-help


ISOLATED = Path(__file__).parent / "fixtures" / "pip_output" / "isolated-build-missing-torch.log"


def test_a_module_missing_inside_an_isolated_build_is_installed_first_and_built_without_isolation(tmp_path: Path) -> None:
    """issue 17: torch-scatter's setup.py imports torch in pip's isolated build; torch in the image is not seen
    there, so the repair installs it first (from the CPU index) and builds the dependencies without isolation."""
    d = diagnose(context(tmp_path, ISOLATED.read_text()))
    assert d.decision == "repair" and d.new_plan is not None and d.new_plan.dependencies is not None
    assert "pip's isolated build environment" in d.new_plan.notes
    steps = install_commands(d.new_plan)
    torch = next(i for i, s in enumerate(steps) if "--index-url https://download.pytorch.org/whl/cpu torch" in s)
    assert torch < steps.index("pip install -r requirements.txt --no-build-isolation")
    again = diagnose(context(tmp_path, ISOLATED.read_text(), plan=d.new_plan))
    # Built without isolation already: the same log is no longer read as an isolated build's.
    assert again.new_plan is None or again.new_plan.notes.count("pip's isolated build environment") == 1


def test_the_same_module_missing_at_run_time_is_an_ordinary_install(tmp_path: Path) -> None:
    d = diagnose(context(tmp_path, "Traceback (most recent call last):\nModuleNotFoundError: No module named 'six'\n",
                         "smoke-failed"))
    assert d.new_plan is not None and d.new_plan.dependencies is not None
    assert d.new_plan.dependencies.build_isolation and install_commands(d.new_plan)[-1] == "pip install six"


def test_pkg_resources_missing_in_an_isolated_build_gets_old_setuptools_in_the_build(tmp_path: Path) -> None:
    log = ISOLATED.read_text().replace("No module named 'torch'", "No module named 'pkg_resources'")
    d = diagnose(context(tmp_path, log))
    assert d.new_plan is not None and d.new_plan.dependencies is not None
    assert not d.new_plan.dependencies.build_isolation
    steps = install_commands(d.new_plan)
    assert steps.index("pip install 'setuptools<81' wheel") < steps.index(
        "pip install -r requirements.txt --no-build-isolation")


def test_no_network_and_no_space_are_worded_for_the_phase_they_happened_in(tmp_path: Path) -> None:
    """The smoke run has no network and a capped /tmp by design: neither is the engine's DNS or disk."""
    probe = ("Traceback (most recent call last):\n  File \"train.py\", line 3, in <module>\n"
             "urllib.error.URLError: <urlopen error [Errno -3] Temporary failure in name resolution>\n")
    smoke = diagnose(context(tmp_path / "smoke", probe, "smoke-failed"))
    assert smoke.matched_rules[0] == "network-unreachable" and smoke.decision == "stop"
    assert smoke.reason.startswith("no network could be reached: the smoke command tried to (")
    assert "the smoke run has no network unless asked" in smoke.reason and "--network" in smoke.reason
    assert "DNS" not in smoke.reason and "build" not in smoke.reason
    build = diagnose(context(tmp_path / "build", (FIXTURES / "network-unreachable.log").read_text()))
    assert build.reason.startswith("no network could be reached: the build needed it (") and "DNS" in build.reason
    full = "OSError: [Errno 28] No space left on device: '/tmp/fill'\n"
    smoke = diagnose(context(tmp_path / "smoke-disk", full, "smoke-failed"))
    assert smoke.matched_rules[0] == "disk-full" and "/tmp is a 256m tmpfs" in smoke.reason
    assert "engine ran out of disk" not in smoke.reason
    build = diagnose(context(tmp_path / "build-disk", (FIXTURES / "disk-full.log").read_text()))
    assert "the Docker engine's disk filled during the build" in build.reason
