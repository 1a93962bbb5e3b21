"""The download cache's two halves without an engine: the wiring a build text gets (and loses again), and the host's
cache server over real HTTP, in front of an upstream index this test serves itself. The engines' own builds with
the cache are in test_engines.py (each engine)."""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from paper2run_tui.engine.build.cache_wiring import index_wiring, mixed_wiring, mount_wiring
from paper2run_tui.engine.build.download_cache import CacheServer, serve
from paper2run_tui.engine.contracts import EnvPlan
from paper2run_tui.engine.render import render_dockerfile

WHEEL = b"not really a wheel, but bytes to keep\n" * 1000


class Upstream:
    def __init__(self) -> None:
        self.requests: list[str] = []
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:  # noqa: N802
                upstream.requests.append(self.path)
                if self.path == "/simple/demo/":
                    files = f"http://127.0.0.1:{upstream.port}/files"
                    digest = hashlib.sha256(WHEEL).hexdigest()
                    body = f'<a href="{files}/packages/ab/demo-1.0-py3-none-any.whl#sha256={digest}">demo</a>'.encode()
                elif self.path == "/files/packages/ab/demo-1.0-py3-none-any.whl":
                    body = WHEEL
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.httpd.shutdown()
    up.httpd.server_close()


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _instructions(dockerfile: str) -> list[str]:
    """The instructions as the classic builder prints them: a line ending in a backslash joined to the next."""
    out, current = [], ""
    for line in dockerfile.splitlines():
        if not current and (not line.strip() or line.startswith("#")):
            continue
        continued = line.rstrip().endswith("\\")
        current += line.rstrip()[:-1] if continued else line
        if not continued:
            out.append(current)
            current = ""
    return out


def test_the_wiring_adds_no_step_and_comes_off_again(tmp_path: Path) -> None:
    plan = EnvPlan(base_image="python:3.11-slim", system_packages=["libgomp1"],
                   install_steps=["pip install torch==1.12.1", "python -m pip install tqdm || pip install tqdm"],
                   smoke_command="python train.py")
    dockerfile = render_dockerfile(plan, facts=None, repo_dir=tmp_path)
    steps = _instructions(dockerfile)
    downloading = [s for s in steps if "pip install" in s or "apt-get install" in s]
    assert len(downloading) == 3 and any("apt-get install" in s for s in downloading)  # the apt step spans lines
    for wiring in (mount_wiring(), index_wiring("http://10.0.0.1:9/simple", "http://10.0.0.1:9", "10.0.0.1:9"),
                   mixed_wiring("http://10.0.0.1:9/simple", "10.0.0.1:9")):
        wired = wiring.apply(dockerfile)
        assert wired.count("\n") == dockerfile.count("\n")  # the same lines, so the same step numbers
        wired_steps = _instructions(wired)
        assert len(wired_steps) == len(steps)
        changed = [(a, b) for a, b in zip(steps, wired_steps, strict=True) if a != b]
        assert [a for a, _ in changed] == downloading
        assert all(wiring.original(b) == a for a, b in changed)  # what the step headers and the failing step say
        assert wiring.original("RUN echo untouched") == "RUN echo untouched"
    mounted = mount_wiring().apply(dockerfile)
    assert "RUN --mount=type=cache,id=paper2run-pip,target=/root/.cache/pip unset PIP_NO_CACHE_DIR; pip install torch" \
        in mounted
    assert "docker-clean" in mounted and "exit $s" in mounted  # apt's cleaner moved aside for the step, put back
    both = mixed_wiring("http://10.0.0.1:9/simple", "10.0.0.1:9")
    step = "RUN apt-get install -y gcc && pip install cython"
    wired = both.apply(step + "\n").rstrip("\n")
    assert wired.startswith("RUN --mount=type=cache,id=paper2run-apt") and "export PIP_INDEX_URL=" in wired
    assert both.original(wired) == step


def test_the_cache_server_rewrites_the_index_and_keeps_the_files(upstream: Upstream, tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{upstream.port}"
    server = CacheServer(tmp_path / "cache", "127.0.0.1", 0, pypi=base, files=f"{base}/files")
    try:
        status, index = _get(server.index_url + "/demo/")
        assert status == 200 and f"http://{server.netloc}/files/packages/ab/demo-1.0".encode() in index
        assert b"#sha256=" in index  # pip still checks the hash the index publishes
        link = index.split(b'href="')[1].split(b"#")[0].decode()
        assert _get(link) == (200, WHEEL)
        assert _get(link) == (200, WHEEL)
        assert upstream.requests.count("/files/packages/ab/demo-1.0-py3-none-any.whl") == 1, "the second came from disk"
        assert (tmp_path / "cache/pypi/packages/ab/demo-1.0-py3-none-any.whl").read_bytes() == WHEEL
        deadline = time.monotonic() + 5  # the miss is counted once the file is in place, after its last byte went
        while server.stats.snapshot()[1] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        hits, misses, bytes_hit, _ = server.stats.snapshot()
        assert (hits, misses, bytes_hit) == (1, 1, len(WHEEL))
        assert _get(server.index_url + "/nothing-here/")[0] == 404
        assert _get(f"http://{server.netloc}/files/..%2f..%2fetc/passwd")[0] in (400, 404)
        assert not list(tmp_path.glob("cache/**/.part-*")), "no partial file left"
        # As a proxy it refuses the host's own services (loopback), so a container cannot reach them through it.
        proxy = urllib.request.build_opener(urllib.request.ProxyHandler({"http": server.proxy_url}))
        with pytest.raises(urllib.error.HTTPError) as refused:
            proxy.open(f"http://127.0.0.1:{upstream.port}/simple/demo/", timeout=10)
        assert refused.value.code == 403
    finally:
        server.stop()


def test_the_port_is_remembered_per_folder_and_address(tmp_path: Path) -> None:
    first = serve(tmp_path / "c", "127.0.0.1")
    assert serve(tmp_path / "c", "127.0.0.1") is first  # one server per folder and address in a process
    port = first.address[1]
    first.stop()
    from paper2run_tui.engine.build import download_cache

    download_cache._SERVERS.clear()
    again = serve(tmp_path / "c", "127.0.0.1")
    try:
        assert again.address[1] == port, "the same port, so the wired build text and its layer cache stay the same"
    finally:
        again.stop()
        download_cache._SERVERS.clear()


def test_the_cache_is_on_unless_a_flag_or_the_setting_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    from paper2run_tui.engine.batch.slurm import _cli_args
    from paper2run_tui.settings import build_run_config

    monkeypatch.delenv("PAPER2RUN_DOWNLOAD_CACHE", raising=False)
    monkeypatch.setenv("PAPER2RUN_CONFIG_FILE", "")
    assert build_run_config({"repo": "."}).download_cache is True
    off = build_run_config({"repo": ".", "no_download_cache": True})
    assert off.download_cache is False and "--no-download-cache" in _cli_args(off, Path("out"))  # a Slurm job too
    monkeypatch.setenv("PAPER2RUN_DOWNLOAD_CACHE", "off")
    assert build_run_config({"repo": "."}).download_cache is False
