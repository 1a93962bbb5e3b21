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
