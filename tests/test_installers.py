"""Installers: one module per ecosystem, each detected from the facts and filling the dependency section. pixi is
the one added as the example of "a new package manager is one module": these tests are all it needed."""

from __future__ import annotations

from pathlib import Path

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
from paper2run_tui.engine.plan.installers import DEPENDENCY_MANIFEST_KINDS, INSTALLERS
from paper2run_tui.engine.plan.installers.pixi import PixiWorkspace
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render.install import install_commands, source_commands

LOCAL = ["python:3.9-slim", "python:3.10-slim", "python:3.11-slim", "python:3.13-slim"]
PIXI = """[workspace]
name = "demo"
channels = ["conda-forge"]
platforms = ["linux-64"]

[dependencies]
python = "3.10.*"
numpy = ">=1.24"
pytorch = "2.1.*"
cudatoolkit = "11.8"

[pypi-dependencies]
demo = { path = ".", editable = true }
einops = "*"
rich = { version = ">=13", extras = ["jupyter"] }

[feature.dev.dependencies]
pytest = "*"
"""


def plan_for(repo: Path) -> EnvPlan:
    ctx = PlanContext(facts=analyze_repo(repo), repo_dir=repo, local_images=LOCAL, gpu_available=False)
    return DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan


def test_a_pixi_workspace_is_planned_from_its_conda_and_pypi_dependencies(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"pixi.toml": PIXI, "demo/__init__.py": "import numpy, einops\n"})
    plan = plan_for(repo)
    assert plan.python_version == "3.10" and plan.base_image == "python:3.10-slim"
    section = plan.dependencies
    assert section is not None and section.project == "editable"
    assert section.indexes[0].packages == ["torch==2.1.*"]  # conda's pytorch, from the CPU index
    assert section.packages == ["numpy>=1.24", "einops", "rich[jupyter]>=13"]  # no cudatoolkit, no dev feature
    assert install_commands(plan)[-1] == "pip install 'numpy>=1.24' einops 'rich[jupyter]>=13'"
    assert source_commands(plan) == ["pip install --no-deps -e ."]
    assert "conda-only packages dropped: cudatoolkit" in plan.notes


def test_pixi_in_pyproject_and_no_pixi_at_all(make_repo) -> None:  # type: ignore[no-untyped-def]
    pyproject = '[project]\nname = "demo"\nversion = "0.1"\n\n[tool.pixi.pypi-dependencies]\nsix = "==1.16.0"\n'
    repo = make_repo({"pyproject.toml": pyproject, "demo/__init__.py": "import six\n"})
    plan = plan_for(repo)
    assert plan.dependencies is not None and "six==1.16.0" in plan.dependencies.packages
    plain = make_repo({"requirements.txt": "six\n", "m.py": "import six\n"})
    from paper2run_tui.engine.plan.installers.base import PlanJob

    job = PlanJob(ctx=PlanContext(facts=analyze_repo(plain), repo_dir=plain))
    assert not PixiWorkspace().detect(job)
    (plain / "pixi.toml").write_text("not = [toml")
    assert not PixiWorkspace().detect(job)  # a broken file is no workspace, and no crash


def test_every_installer_is_asked_in_order_and_owns_its_manifest_kinds() -> None:
    names = [i.name for i in INSTALLERS]
    assert names[0] == "requirements files" and names[-1] == "imports and README"  # the imports are a last resort
    assert {"requirements", "pyproject-poetry", "lockfile", "conda-environment"} <= DEPENDENCY_MANIFEST_KINDS
    assert "setup.py" not in DEPENDENCY_MANIFEST_KINDS  # it needs the source; copied with it
    owners: dict[str, str] = {}
    for installer in INSTALLERS:
        for kind in installer.manifest_kinds:
            assert kind not in owners, f"{kind} owned by {owners[kind]} and {installer.name}"
            owners[kind] = installer.name


def test_the_planner_is_short() -> None:
    import inspect

    assert len(inspect.getsource(DeterministicPlanner.plan).splitlines()) < 90
