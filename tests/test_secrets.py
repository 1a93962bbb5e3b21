"""No secret at rest: a planted API key, a token in the repository URL and a proxy password are in no file of the
run folder, in no layer or history entry of the image, and in no log. The repository is cloned over real HTTP from
127.0.0.1 (git's dumb protocol) with the token in the URL; the proxy is only a build arg here (no step reaches the
network, so it is never contacted)."""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path

import pytest
from docker_support import docker_or_fail
from scripted import FixedPlanner

from paper2run_tui.engine.config import LlmSettings, RunConfig
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import ListSink

pytestmark = pytest.mark.docker
KEY = "nvapi-PLANTED-key-7f3a9c"
TOKEN = "ghp_PLANTEDtoken4b2e81"
PROXY_PASSWORD = "PLANTED-proxy-pass-55d1"
SECRETS = (KEY, TOKEN, PROXY_PASSWORD)


class GitHttpBackend(http.server.BaseHTTPRequestHandler):
    """git's smart HTTP protocol (shallow clones work) through `git http-backend`, the CGI program git ships."""

    root = ""

    def do_GET(self) -> None:
        self._cgi()

    def do_POST(self) -> None:
        self._cgi()

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path, "QUERY_STRING": query,
               "REQUEST_METHOD": self.command, "CONTENT_TYPE": self.headers.get("Content-Type", ""),
               "CONTENT_LENGTH": str(len(body)), "PATH": "/usr/bin:/bin"}
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode().split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        return


@pytest.fixture
def git_http(tmp_path: Path, make_repo):  # type: ignore[no-untyped-def]
    """A bare repository served over smart HTTP on 127.0.0.1 (any user part of the URL is accepted)."""
    work = make_repo({"demo/__init__.py": "X = 1\n", "README.md": "# demo\n"}, git=True, name="demo-src")
    root = tmp_path / "served"
    root.mkdir()
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(root / "demo.git")], check=True)
    handler = type("Backend", (GitHttpBackend,), {"root": str(root)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://x-access-token:{TOKEN}@127.0.0.1:{server.server_address[1]}/demo.git"
    server.shutdown()


def _leaks(data: bytes) -> list[str]:
    return [s for s in SECRETS if s.encode() in data]


def test_no_planted_secret_is_at_rest_anywhere(git_http: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = docker_or_fail()
    monkeypatch.setenv("NVIDIA_API_KEY", KEY)
    proxy = f"http://puser:{PROXY_PASSWORD}@127.0.0.1:9"
    plan = EnvPlan(base_image="python:3.11-slim", install_steps=["echo installing"],
                   smoke_command="python -c 'import demo; print(demo.X)'")
    config = RunConfig(repo=git_http, out=tmp_path / "runs", timeout=30, no_ca=True, max_attempts=1,
                       llm=LlmSettings(api_key=KEY, model="m"),  # type: ignore[arg-type]
                       proxy_env={"HTTP_PROXY": proxy, "HTTPS_PROXY": proxy, "NO_PROXY": "localhost"})
    sink = ListSink()
    outcome = run_pipeline(config, sink, planner=FixedPlanner(plan), diagnoser=None)
    assert outcome.status == "success", outcome.reason
    run_dir = outcome.run_dir
    assert run_dir is not None
    # the clone really went through the URL with the token
    assert (run_dir / "repo" / "demo" / "__init__.py").is_file()
    found = {}
    for path in run_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            leaked = _leaks(path.read_bytes())
            if leaked:
                found[str(path.relative_to(run_dir))] = leaked
    assert found == {}, found
    assert "127.0.0.1" in (run_dir / "repo" / ".git" / "config").read_text()  # the remote is kept, its token not
    events = "\n".join(e.model_dump_json() for e in sink.events)
    assert _leaks(events.encode()) == []
    image = client.images.get(outcome.metadata.image_tag)  # type: ignore[union-attr]
    history = subprocess.run(["docker", "history", "--no-trunc", image.id], capture_output=True, text=True,
                             check=True).stdout
    assert _leaks(history.encode()) == [], "a secret is in docker history"
    saved = b"".join(image.save())  # every layer is an uncompressed tar inside: its files' bytes are in here
    assert len(saved) > 10_000_000
    assert _leaks(saved) == [], "a secret is in an image layer or its config (`docker save`)"
