"""The engine registry (built-ins, entry points, module:Class) and the build progress parsers, without an engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from paper2run_tui.engine.build.progress import BUILDAH, DOCKER_CLASSIC, CacheHit, StepSeen, parser_named
from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.diagnose.rules_diagnoser import failing_step_output
from paper2run_tui.engine.engines import ENTRY_POINT_GROUP, engine_class, engine_names, make_executor
from paper2run_tui.engine.engines.docker import DockerEngine
from paper2run_tui.engine.engines.podman import PodmanEngine
from paper2run_tui.engine.errors import UserError
from paper2run_tui.settings import build_run_config


class RecordingEngine(DockerEngine):
    """A plug-in engine for the tests: a Docker engine under another name."""

    name = "recording"


def test_built_in_engines_are_chosen_by_name_and_get_the_configured_host() -> None:
    config = RunConfig(repo=".", engine="podman", engine_host="unix:///tmp/x.sock")
    executor = make_executor(config)
    assert isinstance(executor, PodmanEngine) and executor.host == "unix:///tmp/x.sock"
    assert isinstance(make_executor(RunConfig(repo=".")), DockerEngine)
    assert make_executor(config, name="docker", host="tcp://10.0.0.1:2376").host == "tcp://10.0.0.1:2376"


def test_an_entry_point_plugin_and_a_module_path_are_engines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "p2r_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: p2r-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\nrecording = test_engine_registry:RecordingEngine\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "recording" in engine_names()
    assert engine_class("recording").__name__ == "RecordingEngine"
    assert engine_class("test_engine_registry:RecordingEngine") is sys.modules["test_engine_registry"].RecordingEngine


def test_an_unknown_engine_is_a_clear_error_naming_the_choices() -> None:
    with pytest.raises(UserError, match="no such engine .* docker, podman"):
        engine_class("kubernetes")
    with pytest.raises(UserError, match="cannot import it"):
        engine_class("no_such_module:Engine")


def test_the_engine_comes_from_the_flag_or_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAPER2RUN_ENGINE", "podman")
    monkeypatch.setenv("PAPER2RUN_ENGINE_HOST", "unix:///run/user/1000/podman/podman.sock")
    config = build_run_config({"repo": "."})
    assert config.engine == "podman" and config.engine_host == "unix:///run/user/1000/podman/podman.sock"
    assert build_run_config({"repo": ".", "engine": "docker"}).engine == "docker"
    monkeypatch.setenv("PAPER2RUN_ENGINE", "dokcer")
    with pytest.raises(UserError, match="dokcer: no such engine"):
        build_run_config({"repo": "."})


def test_tls_files_missing_are_named() -> None:
    from paper2run_tui.engine.engines.docker import tls_config

    with pytest.raises(UserError, match="ca.pem, cert.pem, key.pem missing"):
        tls_config(Path("/nonexistent"))


def test_each_builders_progress_format_is_parsed_by_its_own_parser() -> None:
    assert DOCKER_CLASSIC.parse("Step 2/5 : RUN pip install x") == StepSeen(2, 5, "RUN pip install x")
    assert DOCKER_CLASSIC.parse(" ---> Using cache") == CacheHit()
    assert DOCKER_CLASSIC.parse("STEP 2/5: RUN pip install x") is None
    assert BUILDAH.parse("STEP 2/5: RUN pip install x") == StepSeen(2, 5, "RUN pip install x")
    assert BUILDAH.parse("--> Using cache 3c1f0e9a") == CacheHit()
    assert BUILDAH.parse("Step 2/5 : RUN x") is None
    assert parser_named("buildah") is BUILDAH
    with pytest.raises(ValueError, match="known: buildah, docker-classic"):
        parser_named("kaniko")


def test_the_diagnosers_find_the_failing_step_in_either_format() -> None:
    docker_log = "Step 1/2 : FROM x\n ---> abc\nStep 2/2 : RUN boom\nERROR: boom\n"
    buildah_log = "STEP 1/2: FROM x\nSTEP 2/2: RUN boom\nERROR: boom\n"
    assert failing_step_output(docker_log).startswith("Step 2/2 : RUN boom")
    assert failing_step_output(buildah_log).startswith("STEP 2/2: RUN boom")
