"""Finding the CA bundle and proxies for a build, and finding the engine through DOCKER_HOST or the docker context.
Real files in a temporary directory; no engine needed except where a test says @pytest.mark.docker."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from docker_support import docker_or_fail

from paper2run_tui.engine.build.ca_proxy import detect_ca_bundle, proxy_build_args
from paper2run_tui.engine.build.docker_client import connect, context_host, engine_host
from paper2run_tui.engine.errors import PreflightError, UserError

PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def test_explicit_ca_cert_wins_and_a_bad_one_is_a_user_error(tmp_path: Path) -> None:
    good, other, bad = tmp_path / "good.pem", tmp_path / "other.pem", tmp_path / "bad.txt"
    good.write_text(PEM)
    other.write_text(PEM)
    bad.write_text("not a certificate\n")
    assert detect_ca_bundle(good, {"SSL_CERT_FILE": str(other)}) == good
    with pytest.raises(UserError, match="not a PEM"):
        detect_ca_bundle(bad, {"SSL_CERT_FILE": str(other)})
    with pytest.raises(UserError, match="does not exist"):
        detect_ca_bundle(tmp_path / "missing.pem", {})


def test_env_order_skips_unusable_bundles(tmp_path: Path) -> None:
    first, second, junk = tmp_path / "a.pem", tmp_path / "b.pem", tmp_path / "junk"
    first.write_text(PEM)
    second.write_text(PEM)
    junk.write_text("hello")
    assert detect_ca_bundle(None, {"PIP_CERT": str(second), "REQUESTS_CA_BUNDLE": str(first)}) == first
    assert detect_ca_bundle(None, {"SSL_CERT_FILE": str(junk), "PIP_CERT": str(second)}) == second
    assert detect_ca_bundle(None, {"SSL_CERT_FILE": str(tmp_path / "gone")}) is None
    assert detect_ca_bundle(None, {}) is None


def test_proxy_build_args_passes_only_what_is_set() -> None:
    env = {"HTTPS_PROXY": "http://p:3128", "no_proxy": "localhost", "HTTP_PROXY": "", "PATH": "/bin"}
    assert proxy_build_args(env) == {"HTTPS_PROXY": "http://p:3128", "no_proxy": "localhost"}


def _context_home(home: Path, name: str, host: str) -> None:
    (home / ".docker").mkdir(parents=True)
    (home / ".docker" / "config.json").write_text(json.dumps({"currentContext": name}))
    meta = home / ".docker" / "contexts" / "meta" / "0123abcd"
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": {"Host": host}}}))


def test_the_current_docker_context_names_the_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _context_home(tmp_path, "remote", "unix:///tmp/paper2run-dead-context.sock")
    assert context_host(tmp_path) == "unix:///tmp/paper2run-dead-context.sock"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert engine_host() == "unix:///tmp/paper2run-dead-context.sock"
    with pytest.raises(PreflightError, match="no Docker engine answers at unix:///tmp/paper2run-dead-context.sock"):
        connect(timeout=5)
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/other.sock")
    assert engine_host() == "unix:///tmp/other.sock"  # DOCKER_HOST beats the context


def test_default_context_or_no_config_means_no_context_host(tmp_path: Path) -> None:
    assert context_host(tmp_path) is None
    _context_home(tmp_path, "default", "unix:///ignored.sock")
    assert context_host(tmp_path) is None


@pytest.mark.docker
def test_a_context_pointing_at_the_real_engine_connects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = engine_host()
    docker_or_fail()
    _context_home(tmp_path, "here", real)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert connect(timeout=10).ping() is True
