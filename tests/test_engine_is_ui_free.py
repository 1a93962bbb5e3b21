"""The engine must stay UI-free: importing any engine module never imports textual (or rich)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import paper2run_tui.engine as engine


def engine_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(engine.__path__, prefix="paper2run_tui.engine."))


def test_there_are_engine_modules_to_check() -> None:
    names = engine_modules()
    assert "paper2run_tui.engine.pipeline" in names
    assert "paper2run_tui.engine.contracts.events" in names


def test_importing_every_engine_module_never_imports_textual() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {engine_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich') or m.startswith('paper2run_tui.tui'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"engine imported UI modules: {result.stdout.strip()}"
