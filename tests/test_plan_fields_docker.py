"""The dependency section's rendering, built for real: the planner's file edit, a requirement file, a repair's pin
and the project's own install, on the real engine (small packages only)."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_support import docker_or_fail

from paper2run_tui.engine.build.base import BuildRequest, SmokeRequest
from paper2run_tui.engine.build.cleanup import cleanup
from paper2run_tui.engine.build.docker_executor import DockerExecutor
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.contracts.dependencies import (
    DependencySection,
    FileEdits,
    PackageStep,
    RequirementFile,
)
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.engine.render import render_dockerfile

pytestmark = pytest.mark.docker
CA = Path("/etc/ssl/certs/ca-certificates.crt")


def test_the_rendered_section_installs_what_its_fields_say(make_repo) -> None:  # type: ignore[no-untyped-def]
    client = docker_or_fail()
    repo = make_repo({"requirements.txt": "six==1.10.0\n",
                      "pyproject.toml": '[project]\nname = "fielded"\nversion = "0.1.0"\n[build-system]\n'
                                        'requires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n',
                      "fielded/__init__.py": "import six\nVERSION = six.__version__\n"}, name="fielded")
    section = DependencySection(
        python="3.11", requirement_files=[RequirementFile(path="requirements.txt")], project="editable",
        edits=FileEdits(files=["requirements.txt"], respec={"six": "==1.16.0"}),  # the planner's re-pin
        additions=[PackageStep(packages=["six<1.17"])],  # a repair's pin, after the dependencies
    )
    plan = EnvPlan(base_image="python:3.11-slim", python_version="3.11", dependencies=section,
                   smoke_command="cd / && python -c 'import fielded, six; print(\"six\", fielded.VERSION)'")
    text = render_dockerfile(plan, facts=None, repo_dir=repo, ca_bundle=True)
    executor = DockerExecutor()
    labels = {"org.paper2run.run": "plan-fields"}
    try:
        built = executor.build(BuildRequest(attempt=1, context_dir=repo, dockerfile=text, tag="paper2run/fields:1",
                                            labels=labels, extra_files={"ca.crt": CA.read_bytes()}),
                               ListSink(), CancelToken())
        assert built.ok, built.error
        sink = ListSink()
        smoked = executor.smoke(SmokeRequest(attempt=1, image_tag=built.image_tag or "", plan=plan, timeout_s=60,
                                             labels=labels), sink, CancelToken())
        assert smoked.ok
        assert "six 1.16.0" in [e.text for e in sink.events if e.kind == "log"]  # the edit, not the file's 1.10.0
    finally:
        cleanup(client, run_id="plan-fields")


def test_a_dependency_whose_build_imports_a_module_is_repaired_in_its_build(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """issue 17: a local package's setup.py imports six; pip builds it in an isolated environment that lacks six.
    The rules must read the failure as the build's and repair it there (six first, no isolation): installing six
    into the image alone would fail the same way again."""
    from paper2run_tui.engine.config import RunConfig
    from paper2run_tui.engine.pipeline import run_pipeline
    from paper2run_tui.engine.record.store import load_run

    docker_or_fail()
    repo = make_repo({"requirements.txt": "./buildneeds\n",
                      "buildneeds/pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
                                                   'build-backend = "setuptools.build_meta"\n',
                      "buildneeds/setup.py": "import six  # a build-time import\nfrom setuptools import setup\n"
                                             "setup(name='buildneeds', version='0.1', py_modules=['buildneeds'])\n",
                      "buildneeds/buildneeds.py": "VALUE = 1\n",
                      "main.py": "import buildneeds\nprint(buildneeds.VALUE)\n"}, git=True, name="buildneeds-demo")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA, max_attempts=3), ListSink())
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    first = (outcome.run_dir / "attempts" / "01" / "diagnosis.json").read_text()  # type: ignore[operator]
    assert "pip's isolated build environment" in first, first
    assert outcome.status == "success", outcome.reason
    assert len(meta.attempts) == 2
