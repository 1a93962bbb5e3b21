"""Dockerfile snapshots and the layering that makes repairs cheap."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from paper2run_tui.engine.contracts import AttemptSummary, EnvPlan, RepoFacts, RungResult, RunMetadata
from paper2run_tui.engine.contracts.facts import Manifest
from paper2run_tui.engine.render import manifest_paths, render_dockerfile, render_instructions, render_report

SNAPSHOTS = Path(__file__).parent / "snapshots" / "dockerfiles"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"


def check_snapshot(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.Dockerfile"
    if UPDATE or not path.exists():
        path.write_text(text)
        if not UPDATE:
            pytest.fail(f"snapshot {path.name} was missing and has been written; rerun to compare")
    assert text == path.read_text(), f"Dockerfile differs from {path} (UPDATE_SNAPSHOTS=1 to accept)"


def facts_with(*manifests: tuple[str, str]) -> RepoFacts:
    return RepoFacts(
        name="demo", is_python=True,
        manifests=[Manifest(source=src, kind=kind, manager="pip") for src, kind in manifests],  # type: ignore[arg-type]
    )


@pytest.fixture
def repo(make_repo):
    return make_repo({
        "requirements.txt": "numpy==1.26.4\n-r requirements/extra.txt\n",
        "requirements/extra.txt": "six\n",
        "setup.py": "from setuptools import setup\nsetup(name='demo')\n",
        "demo/__init__.py": "",
        "environment.yml": "name: x\n",
    })


def test_full_plan_renders_in_layer_order(repo: Path) -> None:
    plan = EnvPlan(
        base_image="python:3.11-slim",
        system_packages=["libgl1", "git"],
        install_steps=["pip install -r requirements.txt"],
        source_steps=["pip install -e . --no-deps"],
        env={"MPLBACKEND": "Agg", "GREETING": "hello world"},
        smoke_command='python -c "import demo"',
    )
    text = render_dockerfile(plan, facts=facts_with(("requirements.txt", "requirements")), repo_dir=repo,
                             ca_bundle=True, proxy_args=["HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY"])
    check_snapshot("full", text)
    assert 'COPY ["requirements/extra.txt", "/repo/requirements/extra.txt"]' in text  # followed from -r
    order = [text.index(s) for s in ("FROM ", "COPY .paper2run/ca.crt", "apt-get install", 'COPY ["requirements.txt"',
                                    "RUN pip install -r requirements.txt", "COPY . /repo", "RUN pip install -e .",
                                    "ENV GREETING", "CMD ")]
    assert order == sorted(order)


def test_minimal_plan_has_no_ca_no_apt_no_manifests(repo: Path) -> None:
    plan = EnvPlan(base_image="python:3.9-slim", smoke_command="python -V")
    text = render_dockerfile(plan, facts=None, repo_dir=repo)
    check_snapshot("minimal", text)
    assert "apt-get" not in text and "ca.crt" not in text and "ARG " not in text


def test_smoke_only_change_touches_only_the_last_line(repo: Path) -> None:
    base = dict(base_image="python:3.11-slim", install_steps=["pip install -r requirements.txt"])
    a = render_dockerfile(EnvPlan(**base, smoke_command="python -V"), facts=None, repo_dir=repo).splitlines()
    b = render_dockerfile(EnvPlan(**base, smoke_command="python -c 1"), facts=None, repo_dir=repo).splitlines()
    differing = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    assert differing == [len(a) - 1] and a[-1].startswith("CMD ")


def test_attempt_number_does_not_change_the_dockerfile(repo: Path) -> None:
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python -V")
    assert render_dockerfile(plan, facts=None, repo_dir=repo, attempt=1) == render_dockerfile(
        plan, facts=None, repo_dir=repo, attempt=7
    )


def test_manifest_paths_follow_steps_and_refuse_escapes(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("x")
    (repo / "link.txt").symlink_to(outside)
    plan = EnvPlan(
        base_image="python:3.11-slim",
        install_steps=["pip install -r requirements/extra.txt -c ../secret.txt", "pip install -r link.txt",
                       "conda env update -f environment.yml", "pip install -r /etc/passwd", "pip install -r missing.txt"],
        smoke_command="true",
    )
    paths = manifest_paths(plan, facts_with(("requirements.txt", "requirements"), ("setup.py", "setup.py")), repo)
    assert paths == ["environment.yml", "requirements.txt", "requirements/extra.txt"]


def test_instructions_and_report_render_for_success_and_failure() -> None:
    meta = RunMetadata(run_id="demo-20260101T000000Z", repo="https://github.com/x/demo", repo_name="demo",
                       started_at=datetime(2026, 1, 1, tzinfo=UTC), status="success", image_tag="paper2run/demo:attempt-01",
                       smoke_outcome="alive-at-timeout", commit_sha="0123456789abcdef")
    plan = EnvPlan(base_image="python:3.11-slim", smoke_command="python serve.py", requires_gpu=True)
    text = render_instructions(meta, plan)
    assert "docker run --rm --gpus all paper2run/demo:attempt-01" in text
    assert "still running at the timeout" in text and "`0123456789ab`" in text
    meta.status = "stopped-by-rules"
    meta.reason = "data file data/train.csv is missing"
    report = render_report(meta, RepoFacts(name="demo"), ["used the CPU fallback"])
    assert "**Status: `stopped-by-rules`** — data file data/train.csv is missing" in report
    assert "What to try next" in report and "used the CPU fallback" in report
    meta.attempts = [AttemptSummary(number=1, outcome="smoke-ok", smoke_seconds=121.4, smoke_command_seconds=0.6,
                                    smoke_rung="toy-run", rungs=[
        RungResult(rung="import-package", command="python -c 'import demo'", outcome="passed", seconds=0.4,
                   counted=True),
        RungResult(rung="tests", command="pytest", outcome="failed", exit_code=2, seconds=0.4, counted=False),
        RungResult(rung="toy-run", command="python train.py", outcome="alive-at-timeout", seconds=120, counted=True)])]
    report = render_report(meta, RepoFacts(name="demo"), [])
    assert "- Smoke: 121.4 s (the smoke command 0.6 s, then the ladder)" in report
    assert "  - rung import-package: passed in 0.4 s — `python -c 'import demo'`" in report
    assert "  - rung tests: failed (exit 2) in 0.4 s — `pytest`" in report
    assert "  - rung toy-run: still running after 120 s without an error — `python train.py`" in report


def test_the_report_names_the_lock_and_the_versions_the_readme_states() -> None:
    from paper2run_tui.engine.contracts.facts import Dependency, LockedPin

    meta = RunMetadata(run_id="demo-20260101T000000Z", repo="x", repo_name="demo",
                       started_at=datetime(2026, 1, 1, tzinfo=UTC), status="success")
    facts = RepoFacts(name="demo", dependencies=[Dependency(name="six", raw="six", source="pyproject.toml")],
                      locked=[LockedPin(name="six", version="1.16.0", source="uv.lock"),
                              LockedPin(name="colorama", version="0.4.6", source="uv.lock")],
                      readme_versions=[Dependency(name="torch", specifier=">=0.4.0", raw="PyTorch 0.4.0+",
                                                  source="README.md", line=18, group="readme")])
    report = render_report(meta, facts, [])
    assert "- Dependencies declared: 1 (six)\n- Locked versions: 2 from uv.lock\n" in report
    assert '- Versions the README states: torch>=0.4.0 ("PyTorch 0.4.0+", `README.md`:18)\n- Python hints: none' in report
    assert "Locked versions" not in render_report(meta, RepoFacts(name="demo"), [])
