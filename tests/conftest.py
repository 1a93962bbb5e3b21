"""Shared fixtures. Fixture repos are made by the tests themselves (see `make_repo`)."""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

FileTree = dict[str, str | bytes]


def write_tree(root: Path, files: FileTree) -> Path:
    """Write {relative path: text or bytes} under root; text is dedented."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(textwrap.dedent(content).lstrip("\n"), encoding="utf-8")
    return root


def git_commit_all(root: Path, message: str = "fixture") -> str:
    env = {**os.environ, "GIT_AUTHOR_DATE": "2021-03-04T05:06:07Z", "GIT_COMMITTER_DATE": "2021-03-04T05:06:07Z"}
    run = lambda *a: subprocess.run(["git", "-C", str(root), *a], check=True, capture_output=True, env=env)  # noqa: E731
    if not (root / ".git").exists():
        run("init", "-q", "-b", "main")
    run("add", "-A")
    run("-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", message)
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """make_repo({"requirements.txt": "numpy==1.26.4\\n", ...}, git=True, name="demo") -> path."""
    counter = {"n": 0}

    def _make(files: FileTree, git: bool = False, name: str | None = None) -> Path:
        counter["n"] += 1
        root = tmp_path / (name or f"repo{counter['n']}")
        root.mkdir(parents=True)
        write_tree(root, files)
        if git:
            git_commit_all(root)
        return root

    return _make


@pytest.fixture(autouse=True)
def _remove_images_of_test_runs(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The product keeps a run's image (it is the result); a test suite must not: remove the images of every run
    folder a test left under its tmp_path, so repeated runs of the suite do not fill the disk."""
    yield
    run_ids = []
    for meta in tmp_path.rglob("metadata.json"):
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("run_id") and data.get("attempts"):
            run_ids.append(data["run_id"])
    if not run_ids:
        return
    from paper2run_tui.engine.build.cleanup import cleanup
    from paper2run_tui.engine.build.docker_client import connect
    from paper2run_tui.engine.errors import PreflightError
    try:
        client = connect(timeout=10)
    except PreflightError:
        return  # the test itself failed on the missing engine, with the message that says so
    for run_id in run_ids:
        cleanup(client, run_id)


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One real model server per test worker (tests/real_llm.py); fails with a clear message when it cannot start."""
    from real_llm import LlamaServer

    server = LlamaServer(tmp_path_factory.mktemp("llama")).start()
    yield server
    server.stop()
