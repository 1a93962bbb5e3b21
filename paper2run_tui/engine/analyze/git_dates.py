"""When each manifest last changed, from the checkout's own history: `git log -1 -- FILE`. A shallow clone (the
usual checkout: one commit) says nothing about which file is older, so no date is given then; file modification
times are not used either (a clone or a copy sets them all to the moment it was made)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

from ..contracts.facts import Manifest

#: The manifests whose age is weighed (a conda export against the project's own metadata); a few git calls at most.
_WEIGHED = frozenset({"conda-environment", "setup.py", "setup.cfg", "pyproject-pep621", "pyproject-poetry",
                      "pyproject-hatch", "pyproject-pdm", "pyproject-uv", "pyproject-build-system"})
_MAX_FILES = 12


def _git(root: Path, *args: str) -> str | None:
    git = shutil.which("git")
    if git is None:
        return None
    try:
        done = subprocess.run([git, "-C", str(root), "-c", "core.fsmonitor=false", *args], capture_output=True,
                              text=True, timeout=15, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def with_last_changed(root: Path, manifests: list[Manifest]) -> list[Manifest]:
    """The manifests, each weighed one with the date of the last commit that changed it, when the checkout has a
    history of more than one commit."""
    if not (root / ".git").exists() or not any(m.kind in _WEIGHED for m in manifests):
        return manifests
    count = _git(root, "rev-list", "--count", "HEAD")
    if count is None or not count.isdigit() or int(count) < 2:
        return manifests
    out = []
    asked = 0
    for m in manifests:
        if m.kind in _WEIGHED and asked < _MAX_FILES:
            asked += 1
            stamp = _git(root, "log", "-1", "--format=%cI", "--", m.source)
            if stamp:
                with contextlib.suppress(ValueError):
                    m = m.model_copy(update={"last_changed": datetime.fromisoformat(stamp)})
        out.append(m)
    return out
