"""The UI-free engine: acquire, analyze, plan, render, build, diagnose, gate, record.

Nothing under this package may import textual (tests/test_engine_is_ui_free.py and the
import-linter contract in pyproject.toml enforce it). Clients talk to the engine through
the ports in :mod:`paper2run_tui.engine.ports`.
"""
