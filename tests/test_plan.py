"""The deterministic planner on fixture repos of each shape: the plan and its reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.contracts import EnvPlan, RepoFacts
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.install import install_commands, source_commands

LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]


def plan_for(repo: Path, local: list[str] | None = None, image_map: dict[str, str] | None = None,
             gpu_available: bool | None = None) -> EnvPlan:
    ctx = PlanContext(facts=analyze_repo(repo), repo_dir=repo, local_images=LOCAL if local is None else local,
                      base_image_map=image_map or {}, gpu_available=gpu_available)
    return DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan


def test_requirements_repo(make_repo) -> None:
    repo = make_repo({"requirements.txt": "requests==2.31.0\nopencv-python\n", "app/__init__.py": "import requests\n",
                      "app/__main__.py": "import argparse\n"})
    p = plan_for(repo)
    assert p.base_image == "python:3.11-slim" and p.python_version == "3.11"
    assert install_commands(p)[-1] == "pip install -r requirements.txt"
    assert p.system_packages == ["libgl1", "libglib2.0-0"]
    assert p.smoke_command == "python -m app --help"
    assert [r.rung for r in p.smoke_ladder] == ["static-imports", "import-package", "entrypoint-help"]
    assert "'requests'" in p.smoke_ladder[0].command
    assert "dependencies from requirements.txt" in p.notes


def test_project_installs_deps_first_and_itself_after_the_source(make_repo) -> None:
    repo = make_repo({"pyproject.toml": '[project]\nname="a"\nrequires-python=">=3.8,<3.10"\ndependencies=["six>=1.16"]\n'
                                        '[project.scripts]\na = "a:main"\n', "a/__init__.py": "def main(): pass\n"})
    p = plan_for(repo)
    assert p.python_version == "3.9" and p.base_image == "python:3.9-slim"
    assert install_commands(p)[-1] == "pip install 'six>=1.16'"
    assert source_commands(p) == ["pip install --no-deps -e ."]
    assert p.smoke_command == "a --help"


def test_old_pins_choose_an_old_python(make_repo) -> None:
    repo = make_repo({"requirements.txt": "numpy==1.18.5\ntorch==1.4.0\n", "m.py": "import numpy\n"})
    p = plan_for(repo, local=[])
    assert p.python_version == "3.8" and p.base_image == "python:3.8-slim"
    assert "numpy==1.18.5" in p.notes or "torch==1.4.0" in p.notes


def test_missing_local_image_picks_the_nearest_and_says_so(make_repo) -> None:
    repo = make_repo({"requirements.txt": "numpy==1.18.5\n", "m.py": "import numpy\n"})
    p = plan_for(repo)
    assert p.base_image == "python:3.9-slim"
    assert "python:3.8-slim is not present locally; using the nearest local image python:3.9-slim" in p.notes


def test_configured_image_map_wins(make_repo) -> None:
    repo = make_repo({"requirements.txt": "six\n", "m.py": "import six\n"})
    assert plan_for(repo, image_map={"3.11": "mirror.local/python:3.11"}).base_image == "mirror.local/python:3.11"


def test_torch_comes_from_the_cpu_index_with_a_fallback(make_repo) -> None:
    repo = make_repo({"requirements.txt": "torch==2.1.0\ntqdm\n", "m.py": "import torch\n"})
    p = plan_for(repo)
    assert install_commands(p)[1] == ("pip install --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu torch==2.1.0"
                                  " || pip install torch==2.1.0")
    assert not p.requires_gpu


def test_no_manifest_infers_distributions_from_imports(make_repo) -> None:
    repo = make_repo({"main.py": "import cv2, yaml\nfrom sklearn import svm\nfrom PIL import Image\nimport helpers\n",
                      "helpers.py": "import os\n"})
    p = plan_for(repo)
    assert install_commands(p)[-1] == "pip install opencv-python-headless PyYAML scikit-learn Pillow"
    assert "dependencies inferred from the code's imports" in p.notes


def test_readme_pip_line_beats_imports(make_repo) -> None:
    repo = make_repo({"main.py": "import numpy\n", "README.md": "Install:\n\n```\npip install numpy==1.26.4 scipy\n```\n"})
    p = plan_for(repo)
    assert install_commands(p)[-1] == "pip install numpy==1.26.4 scipy"


def test_conda_environment_is_translated_to_pip(make_repo) -> None:
    repo = make_repo({"environment.yml": "dependencies:\n  - python=3.9\n  - pytorch=1.13.1\n  - cudatoolkit=11.3\n"
                                         "  - numpy=1.23\n  - pip:\n    - einops\n", "m.py": "import torch\n"})
    p = plan_for(repo)
    assert p.python_version == "3.9"
    assert any("torch==1.13.1" in s for s in install_commands(p))
    assert "pip install einops 'numpy==1.23.*'" in install_commands(p)
    assert "conda-only packages dropped: cudatoolkit" in p.notes


def test_hard_gpu_code_asks_for_a_gpu_with_a_cpu_fallback(make_repo) -> None:
    repo = make_repo({"requirements.txt": "torch\n", "train.py": "import torch\nx = torch.ones(1).cuda()\n"})
    for gpu_available in (True, None):  # an engine with a GPU runtime, or one not asked (a dry run)
        p = plan_for(repo, gpu_available=gpu_available)
        assert p.requires_gpu and p.cpu_fallback
        assert install_commands(p)[1] == "pip install torch"


def test_hard_gpu_code_on_an_engine_without_a_gpu_gets_the_cpu_plan_and_says_why(make_repo) -> None:
    repo = make_repo({"requirements.txt": "torch\n", "train.py": "import torch\nx = torch.ones(1).cuda()\n"})
    p = plan_for(repo, gpu_available=False)
    assert not p.requires_gpu
    assert "--index-url https://download.pytorch.org/whl/cpu torch" in install_commands(p)[1]
    assert "train.py; this engine has no GPU runtime, so the plan is for the CPU" in p.notes


def test_torch_index_lines_dropped_from_requirements_when_torch_has_its_own_step(make_repo, tmp_path) -> None:
    import subprocess
    reqs = "--find-links https://download.pytorch.org/whl/torch_stable.html\n\ntorch==1.11.0+cu113\npandas==1.3.5\n"
    repo = make_repo({"requirements.txt": reqs, "m.py": "import torch\n"})
    p = plan_for(repo)
    sed = next(s for s in install_commands(p) if "pytorch[.]org" in s)
    copy = tmp_path / "requirements.txt"
    copy.write_text(reqs)
    subprocess.run(sed, shell=True, cwd=tmp_path, check=True)  # the step itself, run on a copy
    assert copy.read_text() == "\ntorch==1.11.0+cu113\npandas==1.3.5\n"


FROZEN_ENV = ("dill==0.3.3\nmsgpack-python==1.0.2\npython==3.6.12\npytorch==1.3.1\ntorchvision==0.4.2\n"
              "tensorflow==1.14.0\ntqdm==4.56.0\n")


def _run_step(step: str, repo: Path, tmp_path: Path) -> str:
    """Run a plan's sed step on a copy of the requirements file and return what pip will read."""
    import shutil
    import subprocess
    work = tmp_path / "copy"
    work.mkdir()
    shutil.copy(repo / "requirements.txt", work / "requirements.txt")
    subprocess.run(step, shell=True, cwd=work, check=True)
    return (work / "requirements.txt").read_text()


def test_a_frozen_conda_env_is_made_installable_on_the_python_available(make_repo, tmp_path) -> None:
    """python==, pytorch and msgpack-python make pip fail on their first line; pins with no release for the only
    Python here are re-pinned within their major version when the code imports them, left out when it does not."""
    repo = make_repo({"requirements.txt": FROZEN_ENV, "train.py": "import torch, torchvision, dill, tqdm, msgpack\nimport argparse\n"})
    p = plan_for(repo, local=["python:3.9-slim", "python:3.11-slim"])
    assert p.base_image == "python:3.9-slim"
    sed = next(s for s in install_commands(p) if s.startswith("sed -i -E -e"))
    assert install_commands(p).index(sed) < install_commands(p).index("pip install -r requirements.txt")
    assert _run_step(sed, repo, tmp_path).splitlines() == [
        "dill==0.3.3", "msgpack==1.0.2", "torch>=1.3.1,<2", "torchvision>=0.4.2,<1", "tqdm==4.56.0"]
    torch_step = next(s for s in install_commands(p) if "download.pytorch.org" in s)
    assert "'torch>=1.3.1,<2'" in torch_step and "1.3.1 " not in torch_step
    assert "tensorflow==1.14.0 (requirements.txt) has no release for Python 3.9 and no code imports it" in p.notes
    assert "python==3.6.12 (requirements.txt) is a conda package" in p.notes
    assert "so the newest torch>=1.3.1,<2 is asked for (same major version)" in p.notes


def test_pins_are_left_alone_when_the_python_they_need_is_available(make_repo) -> None:
    repo = make_repo({"requirements.txt": "tensorflow==1.15.4\nnumpy==1.15.4\n", "m.py": "import tensorflow\n"})
    p = plan_for(repo, local=["python:3.7-slim", "python:3.9-slim"])
    assert p.base_image == "python:3.7-slim"
    assert not any(s.startswith("sed") for s in install_commands(p))


def test_an_imported_pin_whose_whole_major_series_is_too_old_is_repinned_not_dropped(make_repo, tmp_path) -> None:
    """tensorflow 1.x has nothing for Python 3.9: the build will say so and the rules stop with that reason."""
    repo = make_repo({"requirements.txt": "tensorflow==1.15.4\nscipy==1.1.0\n", "m.py": "import tensorflow, scipy\n"})
    p = plan_for(repo, local=["python:3.9-slim"])
    sed = next(s for s in install_commands(p) if s.startswith("sed -i -E -e"))
    assert _run_step(sed, repo, tmp_path).splitlines() == ["tensorflow>=1.15.4,<2", "scipy>=1.1.0,<2"]


def test_requirement_edits_run_after_the_source_copy_when_the_file_installs_the_project(make_repo) -> None:
    repo = make_repo({"requirements.txt": "-e .\npytorch==1.3.1\n", "setup.py": "from setuptools import setup\nsetup(name='a')\n",
                      "a/__init__.py": "import torch\n"})
    p = plan_for(repo, local=["python:3.9-slim"])
    sed = next(s for s in source_commands(p) if s.startswith("sed -i -E -e"))
    assert source_commands(p).index(sed) < source_commands(p).index("pip install -r requirements.txt")
    assert not any(s.startswith("sed -i -E -e") for s in install_commands(p))


def test_a_toy_run_tops_the_ladder_and_the_notes_say_which(make_repo) -> None:
    repo = make_repo({"requirements.txt": "numpy\n", "README.md": "Run `python train.py --epochs 2`.\n",
                      "train.py": "import argparse, numpy\nif __name__ == '__main__':\n    argparse.ArgumentParser()\n"})
    p = plan_for(repo)
    assert [r.rung for r in p.smoke_ladder] == ["static-imports", "entrypoint-help", "toy-run"]
    assert p.smoke_ladder[-1].command == "python train.py --epochs 2"
    assert p.smoke_command == "python train.py --help"  # the toy run adds a rung; it never replaces the smoke command
    assert "CPU toy run, without network: python train.py --epochs 2" in p.notes


def test_the_readme_names_the_python_when_nothing_else_does(make_repo) -> None:
    repo = make_repo({"README.md": "# demo\n\nTested with Python 3.9 and PyTorch.\n", "requirements.txt": "six\n",
                      "m.py": "import six\n"})
    p = plan_for(repo)
    assert p.python_version == "3.9"
    assert "Python 3.9: the version the README names (README.md, line 3)" in p.notes


def test_a_readme_lower_bound_moves_the_default_up(make_repo) -> None:
    repo = make_repo({"README.md": "Requirements: Python 3.12+ (or Python 3.12 or later)\n", "requirements.txt": "six\n",
                      "m.py": "import six\n"})
    p = plan_for(repo, local=[])
    assert p.python_version == "3.12"
    assert "the README asks for Python >=3.12" in p.notes


def test_ci_and_manifests_win_over_the_readme(make_repo) -> None:
    ci = "jobs:\n  t:\n    strategy:\n      matrix:\n        python-version: ['3.10']\n"
    repo = make_repo({"README.md": "Python 3.9\n", ".github/workflows/ci.yml": ci, "requirements.txt": "six\n",
                      "m.py": "import six\n"})
    assert plan_for(repo, local=[]).python_version == "3.10"
    repo = make_repo({"README.md": "Needs Python 3.9 or later.\n", "setup.py": "from setuptools import setup\n"
                      "setup(name='a', python_requires='<3.9')\n", "a/__init__.py": ""})
    p = plan_for(repo, local=[])
    assert p.python_version == "3.8"
    assert "the README's Python (>=3.9) contradicts the manifests, which win" in p.notes


def test_classifiers_that_had_reached_end_of_life_before_the_commit_are_stale() -> None:
    from datetime import UTC, datetime

    from paper2run_tui.engine.contracts.facts import PythonHint
    from paper2run_tui.engine.plan.python_version import choose_python

    hints = [PythonHint(spec=v, kind="classifier", source="setup.py") for v in ("3.6", "3.8")]
    hints.append(PythonHint(spec=">=3.8", kind="python_requires", source="setup.py"))
    # Then: 3.8 was current, so it is what the authors meant.
    assert choose_python(hints, [], datetime(2023, 5, 1, tzinfo=UTC))[0] == "3.8"
    # In 2026, a package still declaring 3.8 at most has stale metadata: the default is used, and said so.
    version, reasons = choose_python(hints, [], datetime(2026, 8, 2, tzinfo=UTC))
    assert version == "3.11"
    assert ("the classifiers name Python 3.8 at the newest, which had reached its end of life (2024-10-07) before "
            "the commit (2026-08-02): stale metadata, not used") in reasons


def test_no_manifest_uses_the_versions_the_readme_states(make_repo) -> None:
    repo = make_repo({"README.md": "Requirements: PyTorch 1.7+ and TensorFlow 1.x\n",
                      "main.py": "import torch\nimport numpy\n", "log.py": "import tensorflow as tf\n"})
    p = plan_for(repo, local=[])
    assert "'torch>=1.7'" in install_commands(p)[1]
    assert install_commands(p)[2] == "pip install 'tensorflow>=1.0,<2' numpy"
    assert 'torch>=1.7: the README says "PyTorch 1.7+" (README.md, line 1)' in p.notes
    # TensorFlow 1 has no wheels past Python 3.7: the README's statement chooses the Python too.
    assert p.python_version == "3.7"


def test_tests_get_their_rung_and_pytest_when_the_project_does_not_install_it(make_repo) -> None:
    repo = make_repo({"requirements.txt": "six\n", "requirements-dev.txt": "pytest\n", "pkg/__init__.py": "import six\n",
                      "tests/test_pkg.py": "import pkg\ndef test_it():\n    assert pkg\n"})
    p = plan_for(repo)
    assert [r.rung for r in p.smoke_ladder] == ["static-imports", "import-package", "tests"]
    assert p.smoke_ladder[-1].command == "timeout 600 python -m pytest -x -q"
    assert install_commands(p)[-1] == "pip install pytest"  # the dev file is not installed, so pytest is not there
    repo = make_repo({"requirements.txt": "six\npytest\n", "pkg/__init__.py": "import six\n",
                      "tests/test_pkg.py": "import pkg\n"})
    assert "pip install pytest" not in install_commands(plan_for(repo))


def _dated(facts_repo: Path, when: str) -> PlanContext:
    from datetime import datetime

    facts = analyze_repo(facts_repo, commit_date=datetime.fromisoformat(when))
    return PlanContext(facts=facts, repo_dir=facts_repo, local_images=LOCAL)


def test_an_old_repository_with_unversioned_dependencies_is_resolved_as_of_its_commit(make_repo) -> None:
    from paper2run_tui.engine.plan.time_travel import PLANNER_MARK

    repo = make_repo({"requirements.txt": "six\nnumpy\nrequests==2.25.1\n", "m.py": "import six, numpy, requests\n"})
    p = DeterministicPlanner().plan(_dated(repo, "2021-06-01T00:00:00+00:00"), ListSink(), CancelToken()).plan
    assert p.exclude_newer == "2021-06-01"
    assert p.python_version == "3.9" and p.base_image == "python:3.9-slim"  # the Python its packages were built for
    assert install_commands(p)[0] == "python -m pip install --upgrade 'pip>=25.3'"
    assert install_commands(p)[-1] == "export PIP_UPLOADED_PRIOR_TO=2021-06-01T00:00:00Z && pip install -r requirements.txt"
    assert f"{PLANNER_MARK}: the commit is from 2021-06-01 and 2 of 3 dependencies carry no version" in p.notes


def test_time_travel_is_not_chosen_for_recent_or_pinned_repositories_or_without_a_python_of_the_time(make_repo) -> None:
    def travels(files: dict[str, str], when: str) -> bool:
        repo = make_repo(files)
        return DeterministicPlanner().plan(_dated(repo, when), ListSink(), CancelToken()).plan.exclude_newer is not None

    unpinned = {"requirements.txt": "six\nnumpy\n", "m.py": "import six, numpy\n"}
    assert travels(unpinned, "2021-06-01T00:00:00+00:00")
    assert not travels(unpinned, "2025-06-01T00:00:00+00:00")  # recent: today's releases are its own
    assert not travels({"requirements.txt": "six==1.15.0\nnumpy==1.20.3\n", "m.py": "import six\n"},
                       "2021-06-01T00:00:00+00:00")  # pinned: nothing to resolve
    assert not travels(unpinned, "2019-03-01T00:00:00+00:00")  # its Python (3.7) is not here


def test_a_build_failing_under_the_planners_time_travel_is_retried_with_todays_releases(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from paper2run_tui.engine.contracts.dependencies import DependencySection, RequirementFile
    from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt
    from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser
    from paper2run_tui.engine.plan.time_travel import PLANNER_MARK, with_time_travel

    section = DependencySection(pip="pip", requirement_files=[RequirementFile(path="requirements.txt")])
    today = EnvPlan(base_image="python:3.9-slim", python_version="3.9", dependencies=section,
                    smoke_command="python -c 'import six'")
    travelled = with_time_travel(today, datetime(2021, 6, 1, tzinfo=UTC), "planner", f"{PLANNER_MARK}: old")
    assert install_commands(travelled) == [
        "python -m pip install --upgrade 'pip>=25.3'",
        "export PIP_UPLOADED_PRIOR_TO=2021-06-01T00:00:00Z && pip install -r requirements.txt"]
    for log, rule in (("ERROR: No matching distribution found for torch==1.8.1\n", "no-matching-distribution"),
                      ((Path(__file__).parent / "fixtures/rule_logs/pip-invalid-metadata.log").read_text(),
                       "pip-invalid-metadata")):
        (tmp_path / "build_stdout.log").write_text(log)
        ctx = DiagnosisContext(facts=RepoFacts(name="x", commit_date=datetime(2021, 6, 1, tzinfo=UTC)), repo_dir=tmp_path,
                               local_images=LOCAL,
                               attempt=FailedAttempt(number=1, plan=travelled, dockerfile="", outcome="build-failed",
                                                     attempt_dir=tmp_path, failing_step=f"RUN {install_commands(travelled)[-1]}"))
        d = RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())
        assert d.matched_rules[0] == rule and d.new_plan is not None
        assert d.new_plan.exclude_newer is None
        assert not any("PIP_UPLOADED_PRIOR_TO" in s for s in install_commands(d.new_plan))
        expected = install_commands(today) if rule == "no-matching-distribution" else [
            "python -m pip install --upgrade 'pip<24.1' setuptools wheel", "pip install -r requirements.txt"]
        assert install_commands(d.new_plan) == expected


@pytest.mark.parametrize(("files", "deps_step", "source_steps"), [
    ({"pyproject.toml": '[tool.poetry]\nname = "a"\n[tool.poetry.dependencies]\npython = "^3.9"\nsix = "^1.16"\n'
                        '[tool.poetry.group.dev.dependencies]\npytest = "*"\n'},
     "pip install 'six>=1.16,<2'", ["pip install --no-deps -e ."]),
    ({"pyproject.toml": '[project]\nname = "a"\ndependencies = ["six>=1.16"]\n[tool.hatch.build]\npackages = ["a"]\n'},
     "pip install 'six>=1.16'", ["pip install --no-deps -e ."]),
    ({"pyproject.toml": '[project]\nname = "a"\ndependencies = ["six>=1.16"]\n[tool.pdm]\ndistribution = true\n'},
     "pip install 'six>=1.16'", ["pip install --no-deps -e ."]),
    ({"pyproject.toml": '[project]\nname = "a"\ndependencies = ["six>=1.16"]\n[tool.uv]\ndev-dependencies = ["pytest"]\n'},
     "pip install 'six>=1.16'", ["pip install --no-deps -e ."]),
    ({"Pipfile": '[packages]\nsix = ">=1.16"\n[dev-packages]\npytest = "*"\n'}, "pip install 'six>=1.16'", []),
], ids=["poetry", "hatch", "pdm", "uv", "pipenv"])
def test_each_manager_installs_its_main_dependencies_before_the_source(make_repo, files, deps_step, source_steps) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({**files, "a/__init__.py": "import six\n"})
    p = plan_for(repo)
    assert install_commands(p)[-1] == deps_step  # dev groups are left out
    assert source_commands(p) == source_steps
    assert p.smoke_command == 'python -c "import a"'


def test_a_distribution_named_twice_is_one_requirement_the_pinned_one(make_repo) -> None:
    """taming-transformers: setup.py's `torch` and environment.yaml's `pytorch=1.7.0` made `pip install torch
    torch==1.7.0`, which pip reports as a conflict."""
    repo = make_repo({"setup.py": "from setuptools import setup\nsetup(name='t', install_requires=['torch', 'tqdm'])\n",
                      "environment.yaml": "dependencies:\n  - python=3.8.5\n  - pytorch=1.7.0\n",
                      "t/__init__.py": "import torch\n"})
    p = plan_for(repo, local=[])
    torch_step = next(s for s in install_commands(p) if "index-url" in s)
    assert torch_step.endswith("/whl/cpu torch==1.7.0 || pip install torch==1.7.0")
    assert "torch==1.7.0 (environment.yaml) over torch (setup.py): one requirement per distribution" in p.notes


def test_a_version_the_code_asserts_is_the_version_installed(make_repo) -> None:
    repo = make_repo({"main_finetune.py": "import timm\nassert timm.__version__ == \"0.3.2\" # version check\n"
                                          "import torch\n"})
    p = plan_for(repo)
    assert "pip install timm==0.3.2" in install_commands(p)
    assert 'timm==0.3.2: the code checks "timm.__version__ == \'0.3.2\'" (main_finetune.py, line 2)' in p.notes


def test_a_subfolders_requirements_do_not_stand_in_for_a_projects_own_dependencies(make_repo) -> None:
    repo = make_repo({"setup.py": "from setuptools import setup\nsetup(name='g', install_requires=['blobfile>=1.0.5', 'tqdm'])\n",
                      "evaluations/requirements.txt": "tensorflow-gpu>=2.0\nscipy\n", "g/__init__.py": "import tqdm\n"})
    p = plan_for(repo)
    assert not any("evaluations/requirements.txt" in s for s in install_commands(p))
    assert install_commands(p)[-1] == "pip install 'blobfile>=1.0.5' tqdm"
    bare = make_repo({"tools/requirements.txt": "six\n", "m.py": "import six\n"})
    assert install_commands(plan_for(bare))[-1] == "pip install -r tools/requirements.txt"  # nothing else declares any
