"""The naive baseline's pure parts (benchmarks/baseline.py): which manifests it installs, which README command it runs,
what it imports when the README has none, and the table that puts it beside the product."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location("bench_baseline", Path(__file__).parents[1] / "benchmarks" / "baseline.py")
assert _SPEC and _SPEC.loader
baseline = importlib.util.module_from_spec(_SPEC)
sys.modules["bench_baseline"] = baseline
_SPEC.loader.exec_module(baseline)


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_manifests_requirements_then_project(tmp_path: Path) -> None:
    _tree(tmp_path, {"requirements.txt": "numpy\n", "setup.py": "from setuptools import setup\nsetup()\n"})
    assert baseline.choose_manifests(tmp_path) == ["pip install -r requirements.txt", "pip install ."]


def test_manifests_pyproject_only_when_installable(tmp_path: Path) -> None:
    _tree(tmp_path, {"pyproject.toml": "[tool.black]\nline-length = 120\n"})
    assert baseline.choose_manifests(tmp_path) == []  # a linter's config is not a project
    (tmp_path / "pyproject.toml").write_text('[tool.poetry]\nname = "x"\n[tool.poetry.dependencies]\npython = "^3.9"\n')
    assert baseline.choose_manifests(tmp_path) == ["pip install ."]
    (tmp_path / "pyproject.toml").write_text("this is [not toml")
    assert baseline.choose_manifests(tmp_path) == []


def test_manifests_ignore_conda_and_subfolders(tmp_path: Path) -> None:
    _tree(tmp_path, {"environment.yml": "dependencies:\n  - numpy\n", "sub/requirements.txt": "torch\n"})
    assert baseline.choose_manifests(tmp_path) == []


def test_readme_command_first_script_in_checkout(tmp_path: Path) -> None:
    _tree(tmp_path, {"train.py": "", "pkg/demo.py": "", "pkg/__init__.py": ""})
    readme = "\n".join([
        "# Title", "Install with `pip install -r requirements.txt`.", "```bash",
        "$ python setup.py install",          # not a smoke command
        "python missing.py --epochs 3",       # not in the checkout
        "python train.py --data <path>",      # a placeholder
        "python train.py \\", "    --epochs 1",
        "```",
    ])
    found = baseline.readme_command(readme, tmp_path)
    assert found == baseline.Smoke("python train.py --epochs 1", "toy-run", "readme")
    assert baseline.readme_command("```\npython -m pkg.demo --help\n```", tmp_path) == \
        baseline.Smoke("python -m pkg.demo --help", "entrypoint-help", "readme")
    assert baseline.readme_command("```\npython -m pip install x\npython -m torch.distributed.launch t.py\n```",
                                   tmp_path) is None


def test_readme_command_cd_and_pytest(tmp_path: Path) -> None:
    _tree(tmp_path, {"sub/run.py": ""})
    assert baseline.readme_command("cd sub && python run.py", tmp_path).command == "cd sub && python run.py"
    assert baseline.readme_command("python run.py", tmp_path) is None  # run.py is in sub/, not the root
    assert baseline.readme_command("```\n> python -m pytest tests\n```", tmp_path).rung == "tests"


@pytest.mark.parametrize(("files", "expected"), [
    ({"mypkg/__init__.py": "", "tests/__init__.py": "", "train.py": ""}, 'python -c "import mypkg"'),
    ({"src/srcpkg/__init__.py": "", "setup.py": ""}, 'python -c "import srcpkg"'),
    ({"setup.py": "", "model.py": "", "train.py": ""}, 'python -c "import model"'),
])
def test_import_fallback(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    _tree(tmp_path, files)
    smoke = baseline.choose_smoke(tmp_path)
    assert smoke == baseline.Smoke(expected, "import-package", "import")


def test_no_python_no_smoke(tmp_path: Path) -> None:
    _tree(tmp_path, {"README.md": "th train.lua", "train.lua": ""})
    assert baseline.choose_smoke(tmp_path) is None


def test_dockerfile_installs_ca_and_steps_in_order() -> None:
    text = baseline.dockerfile("python:3.11-slim", ["pip install -r requirements.txt", "pip install ."], ca=True)
    lines = text.splitlines()
    assert lines[0] == "FROM python:3.11-slim"
    assert lines.index("COPY repo/ /repo") < lines.index("RUN pip install -r requirements.txt") < \
        lines.index("RUN pip install .")
    assert any(line.startswith("ENV PIP_CERT=") for line in lines)
    assert "ca.crt" not in baseline.dockerfile("python:3.11-slim", [], ca=False)


def test_failure_class_and_last_error() -> None:
    log = "Collecting x\nERROR: Could not find a version that satisfies the requirement x==9\n" \
          "ERROR: No matching distribution found for x==9\n"
    assert baseline.failure_class(log) == "no-release"
    assert baseline.last_error_line(log) == "ERROR: No matching distribution found for x==9"
    trace = "Traceback (most recent call last):\n  File \"a.py\", line 1\nModuleNotFoundError: No module named 'y'\n"
    assert baseline.failure_class(trace) == "ModuleNotFoundError"


def test_beside_names_baseline_wins() -> None:
    product = [{"repo": "a", "mode": "no model", "status": "success", "highest_rung": "import-package"},
               {"repo": "b", "mode": "no model", "status": "stopped-by-rules", "highest_rung": ""}]
    base = [{"repo": "a", "mode": "baseline", "status": "smoke-failed", "highest_rung": ""},
            {"repo": "b", "mode": "baseline", "status": "success", "highest_rung": "import-package"}]
    text = baseline.beside(product, base, "T")
    assert "product 1/2, naive baseline 1/2" in text
    assert "Baseline green where the product is not: b." in text
    assert text.count("\n| a |") == 1 and text.count("\n| b |") == 1


def test_last_error_skips_docker_lines_and_colours() -> None:
    log = "ERROR: No matching distribution found for tensorflow==1.15\n\x1b[0mRemoving intermediate container d4b5\n" \
          "The command '/bin/sh -c pip install -r requirements.txt' returned a non-zero code: 1\n"
    assert baseline.last_error_line(log) == "ERROR: No matching distribution found for tensorflow==1.15"
