"""Hostile or mistaken inputs end with one clear line and their documented exit code, never an internal error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from docker_support import docker_or_fail


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paper2run_tui", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("memory", ["abc", "1k", "-4g"])
def test_a_memory_limit_that_is_not_a_size_is_refused_before_anything_starts(make_repo, tmp_path: Path,
                                                                              memory: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"demo/__init__.py": ""}, name="demo")
    done = _cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--headless", f"--memory={memory}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --memory") and "Traceback" not in done.stderr
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.docker
@pytest.mark.parametrize("image", ["paper2run-absent/none:1", "Not/A/Valid:Name"])
def test_a_base_image_that_does_not_exist_is_a_preflight_failure(make_repo, tmp_path: Path, image: str) -> None:  # type: ignore[no-untyped-def]
    docker_or_fail()
    repo = make_repo({"demo/__init__.py": ""}, name="demo")
    done = _cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--headless", "--no-ca",
                "--allow-base-image", image, env={"PAPER2RUN_BASE_IMAGE_MAP": f"3.11={image},3.13={image},3.9={image}"})
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode in (3, 10), done.stdout[-2000:]  # preflight failed, or the plan policy refused the name
    assert last.startswith("run finished: ") and ("preflight-failed" in last or "refused-by-plan-policy" in last)
