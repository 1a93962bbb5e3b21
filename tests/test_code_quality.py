"""The checks a reviewer would run by hand, run by the suite so main stays clean: ruff and mypy on the package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "paper2run_tui", "tests", "benchmarks")
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_package_type_checks() -> None:
    done = _run("mypy", "paper2run_tui")
    assert done.returncode == 0, done.stdout + done.stderr
