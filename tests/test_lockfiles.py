"""Lock files: read from every manager's format, and the planner installs under them (pins and constraints)."""

from __future__ import annotations

import json
from pathlib import Path

from test_plan import plan_for

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.contracts import EnvPlan, RepoFacts
from paper2run_tui.engine.contracts.dependencies import DependencySection, LockConstraints
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.install import LOCK_CONSTRAINTS, install_commands, source_commands

POETRY_LOCK = '''
[[package]]
name = "numpy"
version = "1.19.5"
category = "main"

[[package]]
name = "six"
version = "1.15.0"
category = "main"

[[package]]
name = "pytest"
version = "6.2.1"
category = "dev"

[[package]]
name = "mylib"
version = "0.1.0"
category = "main"
[package.source]
type = "git"
url = "https://example.com/mylib.git"
'''

UV_LOCK = '''
version = 1
requires-python = ">=3.10"

[[package]]
name = "demo"
version = "0.1.0"
source = { editable = "." }

[[package]]
name = "six"
version = "1.16.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "colorama"
version = "0.4.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "importlib-metadata"
version = "4.13.0"
source = { registry = "https://pypi.org/simple" }
resolution-markers = ["python_full_version < '3.10'"]

[[package]]
name = "importlib-metadata"
version = "8.5.0"
source = { registry = "https://pypi.org/simple" }
'''


def _pins(facts: RepoFacts) -> dict[str, tuple[str, str | None, str]]:
    return {p.name: (p.version, p.group, p.source) for p in facts.locked}


def test_poetry_lock_keeps_registry_packages_with_their_group(make_repo) -> None:
    facts = analyze_repo(make_repo({"poetry.lock": POETRY_LOCK, "m.py": "import numpy\n"}))
    assert _pins(facts) == {"numpy": ("1.19.5", None, "poetry.lock"), "six": ("1.15.0", None, "poetry.lock"),
                            "pytest": ("6.2.1", "dev", "poetry.lock")}


def test_uv_lock_skips_the_project_itself_and_packages_split_by_markers(make_repo) -> None:
    facts = analyze_repo(make_repo({"uv.lock": UV_LOCK, "m.py": "import six\n"}))
    assert _pins(facts) == {"six": ("1.16.0", None, "uv.lock"), "colorama": ("0.4.6", None, "uv.lock")}


def test_pipfile_lock_default_and_develop(make_repo) -> None:
    lock = {"_meta": {}, "default": {"requests": {"version": "==2.25.1"}, "local": {"path": "."}},
            "develop": {"black": {"version": "==20.8b1"}}}
    facts = analyze_repo(make_repo({"Pipfile.lock": json.dumps(lock), "m.py": "import requests\n"}))
    assert _pins(facts) == {"requests": ("2.25.1", None, "Pipfile.lock"), "black": ("20.8b1", "dev", "Pipfile.lock")}


def test_pdm_lock_groups(make_repo) -> None:
    lock = ('[[package]]\nname = "attrs"\nversion = "21.4.0"\ngroups = ["default"]\n\n'
            '[[package]]\nname = "mypy"\nversion = "0.990"\ngroups = ["lint"]\n\n'
            '[[package]]\nname = "vendored"\nversion = "1.0"\npath = "./vendored"\ngroups = ["default"]\n')
    facts = analyze_repo(make_repo({"pdm.lock": lock, "m.py": "import attrs\n"}))
    assert _pins(facts) == {"attrs": ("21.4.0", None, "pdm.lock"), "mypy": ("0.990", "dev", "pdm.lock")}


def test_a_broken_lock_file_is_a_warning(make_repo) -> None:
    facts = analyze_repo(make_repo({"poetry.lock": "[[package]\nname=", "m.py": "x = 1\n"}))
    assert facts.locked == []
    assert any("could not read the lock file poetry.lock" in w for w in facts.warnings)


PYPROJECT = '''[tool.poetry]
name = "demo"
version = "0.1.0"
[tool.poetry.dependencies]
python = "^3.8"
numpy = "^1.19"
six = "*"
[tool.poetry.dev-dependencies]
pytest = "^6.2"
'''


def test_a_poetry_project_installs_under_its_lock_and_the_lock_chooses_python(make_repo) -> None:
    repo = make_repo({"pyproject.toml": PYPROJECT, "poetry.lock": POETRY_LOCK, "demo/__init__.py": "import numpy, six\n"})
    p = plan_for(repo)
    constraints = next(s for s in install_commands(p) if s.endswith(f"> {LOCK_CONSTRAINTS}"))
    assert constraints.startswith("printf '%s\\n' numpy==1.19.5 six==1.15.0 >") and "pytest" not in constraints
    assert install_commands(p)[-1] == f"pip install -c {LOCK_CONSTRAINTS} numpy==1.19.5 six==1.15.0"
    assert install_commands(p).index(constraints) < len(install_commands(p)) - 1  # written before it is read
    assert source_commands(p) == ["pip install --no-deps -e ."]
    # The lock's numpy 1.19.5 has no wheels past Python 3.9, which the manifest's ^1.19 alone would not say.
    assert p.python_version == "3.9" and p.base_image == "python:3.9-slim"
    assert "Python <= 3.9 because numpy==1.19.5" in p.notes
    assert "versions from poetry.lock: 2 declared dependencies pinned to the lock, 2 locked packages" in p.notes


def test_a_stale_lock_entry_is_left_out_and_said_so(make_repo) -> None:
    stale = POETRY_LOCK.replace('version = "1.15.0"', 'version = "1.10.0"')
    repo = make_repo({"pyproject.toml": PYPROJECT.replace('six = "*"', 'six = "^1.15"'), "poetry.lock": stale,
                      "demo/__init__.py": "import six\n"})
    p = plan_for(repo)
    assert "the lock is stale for six>=1.15,<2 (locked at 1.10.0)" in p.notes
    assert install_commands(p)[-1].endswith(" numpy==1.19.5 'six>=1.15,<2'")
    assert "six==" not in next(s for s in install_commands(p) if LOCK_CONSTRAINTS in s)


def test_requirements_files_win_over_a_lock(make_repo) -> None:
    repo = make_repo({"requirements.txt": "six\n", "poetry.lock": POETRY_LOCK, "m.py": "import six\n"})
    p = plan_for(repo)
    assert not any(LOCK_CONSTRAINTS in s for s in install_commands(p))
    assert "poetry.lock not used: the requirements files are what the project installs from" in p.notes


def test_a_conflict_under_the_lock_drops_the_lock_first(tmp_path: Path) -> None:
    failing = f"pip install -c {LOCK_CONSTRAINTS} six==1.15.0 other"
    lock = LockConstraints(sources=["poetry.lock"], constraints=["six==1.15.0"])
    plan = EnvPlan(base_image="python:3.11-slim", python_version="3.11",
                   dependencies=DependencySection(packages=["six==1.15.0", "other"], lock=lock),
                   smoke_command="python -c 'import six'")
    assert install_commands(plan) == [f"printf '%s\\n' six==1.15.0 > {LOCK_CONSTRAINTS}", failing]
    (tmp_path / "build_stdout.log").write_text(
        "ERROR: Cannot install other and six==1.15.0 because these package versions have conflicting dependencies.\n"
        "ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/\n")
    ctx = DiagnosisContext(facts=RepoFacts(name="x"), repo_dir=tmp_path, local_images=["python:3.11-slim"],
                           attempt=FailedAttempt(number=1, plan=plan, dockerfile="", outcome="build-failed",
                                                 attempt_dir=tmp_path, failing_step=f"RUN {failing}"))
    decision = RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())
    assert decision.matched_rules[0] == "resolution-impossible" and decision.new_plan is not None
    assert install_commands(decision.new_plan) == ["pip install six==1.15.0 other"]
    assert "installed without them" in decision.new_plan.notes


def test_a_pipenv_project_installs_under_pipfile_lock(make_repo) -> None:
    lock = {"default": {"requests": {"version": "==2.25.1"}, "urllib3": {"version": "==1.26.4"}}, "develop": {}}
    repo = make_repo({"Pipfile": '[packages]\nrequests = "*"\n[requires]\npython_version = "3.9"\n',
                      "Pipfile.lock": json.dumps(lock), "app.py": "import requests\n"})
    p = plan_for(repo)
    assert p.python_version == "3.9"
    assert install_commands(p)[-2] == f"printf '%s\\n' requests==2.25.1 urllib3==1.26.4 > {LOCK_CONSTRAINTS}"
    assert install_commands(p)[-1] == f"pip install -c {LOCK_CONSTRAINTS} requests==2.25.1"
