"""A manifest in a subfolder is installed where it lives: pip reads a requirement file's `-e .` and `./pkg` relative
to the directory it runs in, so `code/requirements.txt` holding `-e .` means code/, as its author ran it; a
project whose only metadata is `pkg/setup.py` is installed from pkg/. Planned, then built on the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_support import docker_or_fail

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.contracts.dependencies import DependencySection, RequirementFile
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.record.store import load_run
from paper2run_tui.engine.render.install import failing_optional_file, install_commands, source_commands

LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]
CA = Path("/etc/ssl/certs/ca-certificates.crt")

#: The code lives in code/, with its own requirements.txt that installs it (`-e .`) and its own setup.py.
CODE_IN_SUBFOLDER = {
    "README.md": "# Demo\n\n```\ncd code\npip install -r requirements.txt\n```\n",
    "code/requirements.txt": "six\n-e .\n",
    "code/setup.py": "from setuptools import setup\nsetup(name='subdemo', version='0.1', packages=['subdemo'])\n",
    "code/subdemo/__init__.py": "import six\n\nSIX = six.__version__\n",
}
#: Only pkg/ has metadata; the root holds a README and a notebook-ish script.
PACKAGE_IN_SUBFOLDER = {
    "README.md": "# Demo\n",
    "pkg/setup.py": "from setuptools import setup\nsetup(name='pkgdemo', version='0.1', packages=['pkgdemo'], "
                    "install_requires=['six'])\n",
    "pkg/pkgdemo/__init__.py": "import six\n\nSIX = six.__version__\n",
}


def _plan(repo: Path) -> EnvPlan:
    ctx = PlanContext(facts=analyze_repo(repo), repo_dir=repo, local_images=LOCAL, gpu_available=False)
    return DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan


def test_a_subfolder_requirement_file_with_local_paths_is_installed_from_its_folder(make_repo) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(make_repo(CODE_IN_SUBFOLDER))
    assert plan.dependencies is not None
    assert plan.dependencies.requirement_files == [RequirementFile(path="code/requirements.txt", with_source=True,
                                                                   folder="code")]
    assert "cd code && pip install -r requirements.txt" in source_commands(plan)
    assert "code/requirements.txt installed from code/, where it lives" in plan.notes


def test_a_requirements_folder_meaning_the_roots_project_stays_at_the_root(make_repo) -> None:  # type: ignore[no-untyped-def]
    """requirements/base.txt with `-e .` beside a root setup.py: run from the root, as such files are."""
    plan = _plan(make_repo({"setup.py": "from setuptools import setup\nsetup(name='d', packages=['d'])\n",
                            "d/__init__.py": "X = 1\n", "requirements/base.txt": "six\n-e .\n"}))
    assert plan.dependencies is not None
    assert all(not f.folder for f in plan.dependencies.requirement_files)
    assert not any(c.startswith("cd ") for c in install_commands(plan) + source_commands(plan))


def test_a_subfolder_file_without_local_paths_reads_the_same_from_the_root(make_repo) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(make_repo({"src2/requirements.txt": "six\n", "src2/run.py": "import six\n"}))
    assert plan.dependencies is not None and [f.folder for f in plan.dependencies.requirement_files] == [""]
    assert "pip install -r src2/requirements.txt" in install_commands(plan)


def test_a_project_whose_metadata_is_only_in_a_subfolder_is_installed_from_there(make_repo) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(make_repo(PACKAGE_IN_SUBFOLDER))
    assert plan.dependencies is not None and plan.dependencies.project_dir == "pkg"
    assert "pip install six" in install_commands(plan)
    assert source_commands(plan) == ["cd pkg && pip install --no-deps -e ."]


def test_metadata_in_two_subfolders_installs_neither_as_the_project(make_repo) -> None:  # type: ignore[no-untyped-def]
    files = {f"{name}/setup.py": f"from setuptools import setup\nsetup(name='{name}', install_requires=['six'])\n"
             for name in ("alpha", "beta")}
    plan = _plan(make_repo(files))
    assert plan.dependencies is not None and plan.dependencies.project == "none"
    assert source_commands(plan) == [] and "pip install six" in install_commands(plan)
    assert "project metadata in several subfolders" in plan.notes


def test_a_folder_outside_the_repository_is_refused_by_the_contract() -> None:
    for bad in ("..", "code/../..", "/etc", "a b", "./code"):
        with pytest.raises(ValueError):
            RequirementFile(path="requirements.txt", folder=bad)
        with pytest.raises(ValueError):
            DependencySection(project_dir=bad)


def test_an_optional_file_installed_from_its_folder_is_still_told_apart() -> None:
    section = DependencySection(pip="pip", packages=["six"], requirement_files=[
        RequirementFile(path="extra/requirements.txt", folder="extra", optional=True, with_source=True)])
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="true", dependencies=section)
    step = next(c for c in source_commands(plan) if "requirements.txt" in c)
    assert step == "cd extra && pip install -r requirements.txt"
    assert failing_optional_file(plan, f"RUN {step}") == "extra/requirements.txt"


@pytest.mark.docker
@pytest.mark.parametrize(("files", "module"), [(CODE_IN_SUBFOLDER, "subdemo"), (PACKAGE_IN_SUBFOLDER, "pkgdemo")],
                         ids=["requirements-with-dash-e", "setup-py-only-in-subfolder"])
def test_the_subfolder_project_builds_and_imports_on_the_real_engine(make_repo, tmp_path: Path, files,  # type: ignore[no-untyped-def]
                                                                     module: str) -> None:
    client = docker_or_fail()
    repo = make_repo(files, git=True, name=f"sub-{module}")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["smoke-ok"], [a.diagnosis for a in meta.attempts]
    # installed from its folder: the package imports from anywhere in the image, and pip knows it as editable
    out = client.containers.run(meta.image_tag, ["sh", "-c", f"cd / && python -c 'import {module}; "
                                                 f"print({module}.__file__)'"], remove=True)
    assert out.decode().strip().startswith("/repo/")
