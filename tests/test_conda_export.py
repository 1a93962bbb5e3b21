"""A frozen conda export (every package pinned, build strings) older than the project's own setup.py/pyproject does
not win over them. Evidence from the checkout only: the history when it has more than one commit (which file last
changed when), else the files' content (the export pins what the metadata excludes). Modification times are not
evidence: a clone sets them all to the moment it was made."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from docker_support import docker_or_fail

from paper2run_tui.engine.analyze import analyze_repo
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.record.store import load_run
from paper2run_tui.engine.render.install import install_commands

LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]
CA = Path("/etc/ssl/certs/ca-certificates.crt")

EXPORT = """name: demo
channels:
  - defaults
dependencies:
  - _libgcc_mutex=0.1=main
  - ca-certificates=2020.10.14=0
  - openssl=1.1.1h=h7b6447c_0
  - python=3.7.9=h7579374_0
  - six=1.10.0=py37_0
  - pyyaml=5.3.1=py37h7b6447c_1
  - zlib=1.2.11=h7b6447c_3
  - pip:
    - tqdm==4.50.0
prefix: /home/someone/miniconda3/envs/demo
"""
SETUP = ("from setuptools import setup\nsetup(name='demo', version='0.2', packages=['demo'], python_requires='>=3.9',\n"
         "      install_requires=['six>=1.16', 'PyYAML'])\n")
INIT = "import six\nimport yaml\n\nSIX = six.__version__\n"


def _plan(repo: Path) -> EnvPlan:
    ctx = PlanContext(facts=analyze_repo(repo), repo_dir=repo, local_images=LOCAL, gpu_available=False)
    return DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan


def _commit(repo: Path, files: dict[str, str], when: str) -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    env = {"GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(repo), "commit", "-qm", "c"], check=True, env=env)


def test_an_export_whose_pins_the_metadata_excludes_is_set_aside(make_repo) -> None:  # type: ignore[no-untyped-def]
    plan = _plan(make_repo({"environment.yml": EXPORT, "setup.py": SETUP, "demo/__init__.py": INIT}))
    assert plan.dependencies is not None
    assert plan.python_version == "3.11" and plan.base_image == "python:3.11-slim"  # not the export's 3.7
    assert "pip install 'six>=1.16' PyYAML" in install_commands(plan)
    assert not any("1.10.0" in c or "tqdm" in c for c in install_commands(plan))
    assert ("environment.yml set aside: a frozen conda export (6 of 6 packages pinned with their build strings; "
            "older than the project's metadata (environment.yml pins six 1.10.0, which setup.py's six>=1.16 "
            "excludes))") in plan.notes


def test_with_history_the_export_committed_before_the_metadata_is_set_aside(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """No pin contradicts the metadata here; the history says which came first."""
    export = EXPORT.replace("six=1.10.0=py37_0", "six=1.16.0=py37_0")
    repo = make_repo({}, name="history")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _commit(repo, {"environment.yml": export}, "2020-11-02T10:00:00Z")
    _commit(repo, {"setup.py": SETUP.replace("python_requires='>=3.9',", ""), "demo/__init__.py": INIT},
            "2022-03-01T10:00:00Z")
    facts = analyze_repo(repo)
    dates = {m.source: m.last_changed for m in facts.manifests if m.last_changed}
    assert dates["environment.yml"].year == 2020 and dates["setup.py"].year == 2022  # type: ignore[union-attr]
    plan = _plan(repo)
    assert "git: environment.yml last changed 2020-11-02, setup.py 2022-03-01" in plan.notes
    assert plan.python_version == "3.11"


def test_an_export_newer_than_the_metadata_is_kept(make_repo) -> None:  # type: ignore[no-untyped-def]
    export = EXPORT.replace("six=1.10.0=py37_0", "six=1.16.0=py37_0")
    repo = make_repo({}, name="newer")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    _commit(repo, {"setup.py": SETUP.replace("python_requires='>=3.9',", ""), "demo/__init__.py": INIT},
            "2020-11-02T10:00:00Z")
    _commit(repo, {"environment.yml": export}, "2022-03-01T10:00:00Z")
    plan = _plan(repo)
    assert "set aside" not in plan.notes
    assert any("six==1.16.0" in c for c in install_commands(plan))  # the export's pin, as before


def test_one_commit_and_no_contradiction_is_no_evidence(make_repo) -> None:  # type: ignore[no-untyped-def]
    """A shallow clone: every file has the same commit, and the content does not say which is older."""
    export = EXPORT.replace("six=1.10.0=py37_0", "six=1.16.0=py37_0")
    plan = _plan(make_repo({"environment.yml": export, "setup.py": SETUP.replace("python_requires='>=3.9',", ""),
                            "demo/__init__.py": INIT}, git=True))
    assert "set aside" not in plan.notes


def test_a_hand_written_environment_is_not_an_export(make_repo) -> None:  # type: ignore[no-untyped-def]
    written = "name: demo\ndependencies:\n  - python=3.8\n  - numpy\n  - six<1.12\n  - pyyaml\n  - tqdm\n"
    plan = _plan(make_repo({"environment.yml": written, "setup.py": SETUP, "demo/__init__.py": INIT}))
    assert "set aside" not in plan.notes


@pytest.mark.docker
def test_the_metadatas_environment_is_what_the_real_engine_builds(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = docker_or_fail()
    repo = make_repo({"environment.yml": EXPORT, "setup.py": SETUP, "demo/__init__.py": INIT}, git=True,
                     name="stale-export")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["smoke-ok"]
    out = client.containers.run(meta.image_tag, ["python", "-c", "import sys, demo; print(sys.version_info[:2], "
                                                 "demo.SIX)"], remove=True)
    version, six = out.decode().strip().rsplit(" ", 1)
    assert version == "(3, 11)" and tuple(int(p) for p in six.split(".")[:2]) >= (1, 16)
