"""Rungs that prove something: the import rung imports a module with code in it, and the static check holds the
environment to the undeclared imports the library makes unconditionally (not the optional or lazy ones)."""

from __future__ import annotations

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.analyze.import_targets import has_code
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
from paper2run_tui.engine.ports import CancelToken, ListSink

CORE = "import numpy as np\nimport yaml\n\n\ndef norm(x):\n    return np.linalg.norm(x)\n"
PLOT = ("try:\n    import matplotlib\nexcept ImportError:\n    matplotlib = None\n\n\ndef show():\n"
        "    import seaborn\n    return seaborn\n")


def _plan(repo):  # type: ignore[no-untyped-def]
    facts = analyze_repo(repo)
    ctx = PlanContext(facts=facts, repo_dir=repo, local_images=["python:3.11-slim"])
    return facts, DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan


def test_what_counts_as_code() -> None:
    assert not has_code('"""A docstring."""\n')
    assert not has_code('"""Doc."""\nfrom __future__ import annotations\n__version__ = "1.0"\n__all__ = []\npass\n')
    assert has_code("from .core import norm\n")
    assert has_code("print 'python 2'\n")  # cannot be told apart: counted as code


def test_a_docstring_only_package_is_proven_by_its_most_imported_module_with_code(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"setup.py": "from setuptools import setup\nsetup(name='demo', install_requires=['numpy'])\n",
                      "demo/__init__.py": '"""The demo package."""\n__version__ = "0.1"\n',
                      "demo/core.py": CORE, "demo/plot.py": PLOT, "demo/cli.py": "import argparse\nimport rich\n"
                      "if __name__ == '__main__':\n    argparse.ArgumentParser().parse_args()\n",
                      "demo/tests/test_core.py": "import pytest\nimport hypothesis\n",
                      "run.py": "from demo.core import norm\nimport wandb\n"})
    facts, plan = _plan(repo)
    rung = next(r for r in plan.smoke_ladder if r.rung == "import-package")
    assert rung.command == 'python -c "import demo.core"'
    reason = next(c.reason for c in facts.smoke_candidates if c.kind == "import")
    assert reason.startswith("demo/__init__.py has no code; importing demo.core proves")
    static = next(r.command for r in plan.smoke_ladder if r.rung == "static-imports")
    # numpy is declared; yaml and rich are undeclared but imported at the top of the package's modules: checked.
    # matplotlib (try/except), seaborn (inside a function), pytest (its tests) and wandb (a root script) are not
    # the library's unconditional needs.
    assert "'numpy'" in static and "'yaml'" in static and "'rich'" in static
    for extra in ("matplotlib", "seaborn", "pytest", "hypothesis", "wandb"):
        assert f"'{extra}'" not in static, extra


def test_a_package_with_no_code_anywhere_gets_no_import_rung(make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"demo/__init__.py": '"""Nothing here."""\n', "demo/sub/__init__.py": "",
                      "lib.py": "import six\n\n\ndef f():\n    return six\n", "main.py": "import lib\n"})
    facts, plan = _plan(repo)
    imports = [c.command for c in facts.smoke_candidates if c.kind == "import"]
    assert 'python -c "import demo"' not in imports
    assert imports == ['python -c "import lib"']  # the loose library module is the honest lower proof
