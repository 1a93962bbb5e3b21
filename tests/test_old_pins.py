"""Manifests as their authors meant, for old pins: the Python table knows the pins that need 3.8, 3.7 or older;
Python-2 backports frozen into a requirements file are left out on Python 3; a pin only Python 2 can install is
said so; a script that imports argparse without parsing anything is no `--help` entry point."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_no_release import PLAN

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.contracts import RepoFacts
from paper2run_tui.engine.contracts.facts import Dependency
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
from paper2run_tui.engine.plan.python_version import choose_python, pin_ceiling
from paper2run_tui.engine.plan.requirement_fixes import requirement_edits
from paper2run_tui.engine.ports import CancelToken, ListSink


def _dep(spec: str, name: str = "tensorflow") -> Dependency:
    return Dependency(name=name, specifier=spec, raw=f"{name}{spec}", source="requirements.txt")


@pytest.mark.parametrize(("name", "spec", "ceiling"), [
    ("tensorflow", "==1.8.0", "3.6"), ("tensorflow", "==1.15.4", "3.7"), ("tensorflow", "==2.4.0", "3.8"),
    ("tensorflow", "==2.5.0", "3.9"), ("tensorflow", "==2.8.0", "3.10"), ("torch", "==1.2.0", "3.7"),
    ("torch", "==0.4.0", "3.6"), ("numpy", "==1.15.4", "3.7"), ("numpy", "==1.14.5", "3.6"), ("scipy", "==1.1.0", "3.6"),
])
def test_the_python_table_knows_old_pins(name: str, spec: str, ceiling: str) -> None:
    assert pin_ceiling(_dep(spec, name)) == ceiling


def test_a_pin_that_needs_python_3_6_chooses_it_and_a_readme_hint_alone_does_not() -> None:
    version, why = choose_python([], [_dep("==1.8.0")])
    assert version == "3.6" and "tensorflow==1.8.0 (requirements.txt) has no wheels for newer ones" in why[0]
    from paper2run_tui.engine.contracts.facts import PythonHint
    readme = PythonHint(spec="3.6", kind="readme", source="README.md", line=3)
    assert choose_python([readme], [])[0] != "3.6"


def test_python_2_backports_in_a_freeze_are_left_out_on_python_3() -> None:
    deps = [_dep("==3.2.0", "futures"), _dep("==1.1.6", "enum34"), _dep("==1.0.2", "funcsigs"),
            _dep("==1.0.post1", "backports.weakref"), _dep("==1.16.0", "six")]
    edits = requirement_edits(deps, "3.9", set())
    assert edits.drop == ["futures", "enum34", "funcsigs", "backports.weakref"]
    assert "futures==3.2.0 (requirements.txt) backports the Python 3 standard library to Python 2" in edits.notes[0]


def test_a_release_only_python_2_can_install_is_said_so(tmp_path: Path) -> None:
    adir = tmp_path / "attempts/01"
    adir.mkdir(parents=True)
    (adir / "build_stdout.log").write_text(
        "ERROR: Ignored the following versions that require a different python version: 3.2.0 Requires-Python <3,>=2.6\n"
        "ERROR: Could not find a version that satisfies the requirement futures==3.2.0 (from versions: none)\n"
        "ERROR: No matching distribution found for futures==3.2.0\n")
    failed = FailedAttempt(number=1, plan=PLAN, dockerfile="", outcome="build-failed", attempt_dir=adir,
                           failing_step="RUN pip install -r requirements.txt")
    d = RulesDiagnoser().diagnose(DiagnosisContext(facts=RepoFacts(name="demo"), repo_dir=tmp_path, attempt=failed),
                                  ListSink(), CancelToken())
    assert d.decision == "stop"
    assert "release 3.2.0 requires Python <3,>=2.6, which no Python 3 satisfies (a Python 2 release)" in d.reason
    assert "Python  " not in d.reason


def test_an_argparse_import_without_a_parser_is_no_help_entry_point(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"evals/run_eval.py": "from argparse import Namespace\nimport json\n\nif __name__ == '__main__':\n"
                                           "    print(json.dumps(vars(Namespace(seed=1))))\n",
                      "train.py": "import tyro\n\nif __name__ == '__main__':\n    args = tyro.cli(dict)\n"})
    helps = [c.command for c in analyze_repo(repo).smoke_candidates if c.kind == "entrypoint-help"]
    assert helps == ["python train.py --help"]


def _old_tf_repo(make_repo):  # type: ignore[no-untyped-def]
    return make_repo({"requirements.txt": "tensorflow==1.15.4\n", "model.py": "import tensorflow as tf\n",
                      "train.py": "import model\n"})


def test_the_exact_python_a_pin_needs_is_pulled_when_a_registry_gives_it(make_repo) -> None:  # type: ignore[no-untyped-def]
    from paper2run_tui.engine.plan.base import PlanContext
    from paper2run_tui.engine.plan.deterministic import DeterministicPlanner

    repo = _old_tf_repo(make_repo)
    asked: list[str] = []

    def registry(image: str) -> bool:  # a registry that has every python:X.Y-slim
        asked.append(image)
        return True

    ctx = PlanContext(facts=analyze_repo(repo), repo_dir=repo, local_images=["python:3.11-slim"], pull_image=registry)
    plan = DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan
    assert asked == ["python:3.7-slim"] and plan.base_image == "python:3.7-slim"
    assert "python:3.7-slim was not present locally and was pulled" in plan.notes


def test_without_a_registry_the_nearest_image_is_used_and_the_plan_says_so(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The real engine's pull (no registry answers here): the nearest local image, and the notes say the wanted
    one could not be pulled (the rules' stop then names it, see python_gap)."""
    from docker_support import docker_or_fail

    from paper2run_tui.engine.build.docker_executor import DockerExecutor
    from paper2run_tui.engine.plan.base import PlanContext
    from paper2run_tui.engine.plan.deterministic import DeterministicPlanner

    docker_or_fail()
    executor = DockerExecutor()
    local = executor.local_images()
    if "python:3.7-slim" in local:
        pytest.fail("python:3.7-slim is present on this engine: this test needs a Python the engine lacks")
    if executor.pull_image("python:3.7-slim", ListSink(), CancelToken()):
        pytest.fail("a registry answered: this test is about an engine with none (the pull succeeded)")
    repo = _old_tf_repo(make_repo)
    ctx = PlanContext(facts=analyze_repo(repo), repo_dir=repo, local_images=local,
                      pull_image=lambda image: executor.pull_image(image, ListSink(), CancelToken()))
    plan = DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan
    assert plan.python_version == "3.7" and plan.base_image != "python:3.7-slim"
    assert "python:3.7-slim is not present locally and could not be pulled" in plan.notes


def test_a_repair_that_needs_an_older_python_pulls_it(tmp_path: Path) -> None:
    adir = tmp_path / "attempts/01"
    adir.mkdir(parents=True)
    (adir / "build_stdout.log").write_text("ERROR: Package 'oldlib' requires a different Python: 3.11.9 not in '<3.8'\n")
    failed = FailedAttempt(number=1, plan=PLAN, dockerfile="", outcome="build-failed", attempt_dir=adir,
                           failing_step="RUN pip install -r requirements.txt")
    pulled: list[str] = []
    ctx = DiagnosisContext(facts=RepoFacts(name="demo"), repo_dir=tmp_path, attempt=failed,
                           local_images=["python:3.9-slim", "python:3.11-slim"],
                           pull_image=lambda image: pulled.append(image) or True)
    d = RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())
    assert d.new_plan is not None and d.new_plan.base_image == "python:3.7-slim" and pulled == ["python:3.7-slim"]


def test_a_scripts_pep_723_header_is_read_and_installed(make_repo) -> None:  # type: ignore[no-untyped-def]
    from paper2run_tui.engine.plan.base import PlanContext
    from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
    from paper2run_tui.engine.render.install import install_commands

    header = ('# /// script\n# requires-python = ">=3.10"\n# dependencies = [\n#   "requests<3",\n#   "rich",\n# ]\n'
              '# ///\nimport argparse\nimport requests\nimport rich\n\nif __name__ == "__main__":\n'
              '    argparse.ArgumentParser().parse_args()\n')
    repo = make_repo({"fetch.py": header})
    facts = analyze_repo(repo)
    assert [m.kind for m in facts.manifests] == ["pep723-script"]
    assert [(d.name, d.specifier, d.source) for d in facts.dependencies] == [("requests", "<3", "fetch.py"),
                                                                            ("rich", "", "fetch.py")]
    assert any(h.spec == ">=3.10" and h.kind == "python_requires" for h in facts.python_hints)
    ctx = PlanContext(facts=facts, repo_dir=repo, local_images=["python:3.9-slim", "python:3.11-slim"])
    plan = DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan
    assert plan.base_image == "python:3.11-slim" and "pip install 'requests<3' rich" in install_commands(plan)


def test_a_script_header_next_to_the_projects_own_metadata_does_not_join_its_dependencies(make_repo) -> None:  # type: ignore[no-untyped-def]
    header = '# /// script\n# dependencies = ["wandb"]\n# ///\nimport wandb\n'
    repo = make_repo({"pyproject.toml": '[project]\nname = "demo"\nversion = "0.1"\ndependencies = ["six"]\n',
                      "demo/__init__.py": "import six\n", "train_extra.py": header})
    groups = {d.name: d.group for d in analyze_repo(repo).dependencies}
    assert groups == {"six": None, "wandb": "script"}
