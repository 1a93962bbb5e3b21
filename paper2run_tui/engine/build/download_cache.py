"""A download cache on the host for engines whose builder has no cache mounts (Docker's classic builder).

One small HTTP server per cache folder and address, run by this process (our code only: it fetches and serves
bytes, it never runs anything from a repository), on the engine's bridge gateway so build containers reach it:

- `/simple/...`: PyPI's simple index (HTML or JSON), fetched upstream each time, its file links rewritten to
  `/files/...`, so pip verifies the hashes PyPI publishes;
- `/files/...`: the wheels and sdists (and PEP 658 metadata) from files.pythonhosted.org, kept in the folder once
  downloaded: the next attempt or run that asks for one gets it from the disk;
- a forward proxy for plain-HTTP GETs (apt: Debian's mirrors), keeping `.deb` files; everything else passes through.
  It refuses loopback, link-local and its own address, so a container cannot use it to reach the host's services.

Files are written to a temporary name and renamed when complete (a broken download is never served). The port is
remembered in the folder so that the wired build text (and with it the layer cache) stays the same between runs.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import posixpath
import socket
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, BinaryIO

PYPI = "https://pypi.org"
PYPI_FILES = "https://files.pythonhosted.org"
_CHUNK = 1 << 20
_KEPT_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".metadata", ".deb")


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    bytes_hit: int = 0
    bytes_fetched: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, hit: bool, size: int) -> None:
        with self.lock:
            if hit:
                self.hits, self.bytes_hit = self.hits + 1, self.bytes_hit + size
            else:
                self.misses, self.bytes_fetched = self.misses + 1, self.bytes_fetched + size

    def snapshot(self) -> tuple[int, int, int, int]:
        with self.lock:
            return self.hits, self.misses, self.bytes_hit, self.bytes_fetched


def describe_delta(before: tuple[int, int, int, int], after: tuple[int, int, int, int]) -> str:
    hits, misses, b_hit, b_fetched = (a - b for a, b in zip(after, before, strict=True))
    return (f"download cache: {hits} file(s) from the cache ({b_hit / 1e6:.1f} MB), "
            f"{misses} downloaded and kept ({b_fetched / 1e6:.1f} MB)")


def _safe_relative(path: str) -> str | None:
    """A URL path as a relative path inside the cache folder, or None (`..`, empty)."""
    norm = posixpath.normpath("/" + urllib.parse.unquote(path)).lstrip("/")
    if not norm or norm == "." or any(part in ("..", "") for part in norm.split("/")):
        return None
    return norm


def _refused_destination(host: str, own: tuple[str, int]) -> bool:
    try:
        infos = socket.getaddrinfo(host, 80, proto=socket.IPPROTO_TCP)
    except OSError:
        return True
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or str(ip) == own[0]:
            return True
    return False


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        return  # a client that went away mid-transfer (a cancelled build): nothing to report


class CacheServer:
    """The running server: its address, the URLs a build uses, and what it served."""

    def __init__(self, folder: Path, bind: str, port: int, pypi: str = PYPI, files: str = PYPI_FILES) -> None:
        self.folder, self.pypi, self.files = folder, pypi.rstrip("/"), files.rstrip("/")
        self.stats = CacheStats()
        self.httpd = _QuietServer((bind, port), _handler(self))
        self.httpd.daemon_threads = True
        self.address: tuple[str, int] = self.httpd.server_address[:2]  # type: ignore[assignment]
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="download-cache", daemon=True)
        self.thread.start()

    @property
    def netloc(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    @property
    def index_url(self) -> str:
        return f"http://{self.netloc}/simple"

    @property
    def proxy_url(self) -> str:
        return f"http://{self.netloc}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what the handler does -----------------------------------------------------------------------------------

    def kept_path(self, kind: str, rel: str) -> Path:
        return self.folder / kind / rel

    def fetch(self, url: str, headers: dict[str, str]) -> Any:
        request = urllib.request.Request(url, headers={"User-Agent": "paper2run-tui download cache", **headers})
        return urllib.request.urlopen(request, timeout=120)  # noqa: S310 - http(s) URLs we built


def _handler(server: CacheServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            return

        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            target = urllib.parse.urlsplit(self.path)
            if target.scheme:  # a proxy request (apt), or one for us that came through a proxy setting
                if target.netloc != server.netloc:
                    return self._proxy(target)
                path = target.path + (f"?{target.query}" if target.query else "")
            else:
                path = self.path
            if path == "/_paper2run":
                return self._send_bytes(200, json.dumps({"folder": str(server.folder)}).encode(), "application/json")
            if path.startswith("/simple/") or path == "/simple":
                return self._index(path)
            if path.startswith("/files/"):
                rel = _safe_relative(path[len("/files/"):].split("?", 1)[0])
                if rel is None:
                    return self._send_bytes(400, b"bad path\n")
                return self._kept(server.files + "/" + rel, server.kept_path("pypi", rel))
            return self._send_bytes(404, b"not here\n")

        def _index(self, path: str) -> None:
            accept = self.headers.get("Accept", "text/html")
            try:
                response = server.fetch(server.pypi + path, {"Accept": accept})
            except urllib.error.HTTPError as exc:
                return self._send_bytes(exc.code, exc.read() or b"", exc.headers.get("Content-Type", "text/plain"))
            except (urllib.error.URLError, OSError) as exc:
                return self._send_bytes(502, f"upstream: {exc}\n".encode())
            with response:
                body = response.read()
                kind = response.headers.get("Content-Type", "text/html")
            body = body.replace(server.files.encode() + b"/", f"http://{server.netloc}/files/".encode())
            return self._send_bytes(200, body, kind)

        def _proxy(self, target: urllib.parse.SplitResult) -> None:
            if target.scheme != "http" or not target.hostname or target.port not in (None, 80):
                return self._send_bytes(403, b"only plain HTTP on port 80 is proxied\n")
            if _refused_destination(target.hostname, server.address):
                return self._send_bytes(403, b"destination refused\n")
            url = urllib.parse.urlunsplit(target)
            rel = _safe_relative(target.netloc + target.path)
            if rel is not None and target.path.endswith(".deb") and not target.query:
                return self._kept(url, server.kept_path("apt", rel))
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() in ("accept", "if-modified-since", "if-none-match", "range", "cache-control")}
            try:
                response = server.fetch(url, headers)
            except urllib.error.HTTPError as exc:
                return self._send_bytes(exc.code, exc.read() or b"", exc.headers.get("Content-Type", "text/plain"),
                                        extra=_passed(exc.headers))
            except (urllib.error.URLError, OSError) as exc:
                return self._send_bytes(502, f"upstream: {exc}\n".encode())
            with response:
                body = response.read()
                return self._send_bytes(response.status, body, response.headers.get("Content-Type", ""),
                                        extra=_passed(response.headers))

        def _kept(self, url: str, path: Path) -> None:
            if path.is_file():
                size = path.stat().st_size
                server.stats.add(True, size)
                with open(path, "rb") as fh:
                    self._send_file(fh, size)
                return None
            try:
                response = server.fetch(url, {})
            except urllib.error.HTTPError as exc:
                return self._send_bytes(exc.code, exc.read() or b"", exc.headers.get("Content-Type", "text/plain"))
            except (urllib.error.URLError, OSError) as exc:
                return self._send_bytes(502, f"upstream: {exc}\n".encode())
            with response:
                self._tee(response, path)
            return None

        def _tee(self, response: Any, path: Path) -> None:
            """Send the upstream body on while writing it to the folder; renamed into place when complete, before
            its last bytes go out (so the client's next request for it finds it)."""
            length = response.headers.get("Content-Length")
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".part-", dir=path.parent)
            out = os.fdopen(fd, "wb")
            done = 0
            try:
                if length is None:  # no length to announce: fetch it all, then serve it from the disk
                    while chunk := response.read(_CHUNK):
                        out.write(chunk)
                        done += len(chunk)
                    out.close()
                    os.replace(tmp, path)
                    server.stats.add(False, done)
                    with open(path, "rb") as fh:
                        self._send_file(fh, done)
                    return
                expected = int(length)
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", length)
                self.end_headers()
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    if done == expected:
                        out.close()
                        os.replace(tmp, path)
                        server.stats.add(False, done)
                    self.wfile.write(chunk)
                if done != expected:
                    raise OSError(f"short download: {done} of {length} bytes")
            finally:
                out.close()
                with contextlib.suppress(OSError):
                    os.unlink(tmp)

        def _send_file(self, fh: BinaryIO, size: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(size))
            self.end_headers()
            while chunk := fh.read(_CHUNK):
                self.wfile.write(chunk)

        def _send_bytes(self, status: int, body: bytes, kind: str = "text/plain",
                        extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            if kind:
                self.send_header("Content-Type", kind)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if status not in (204, 304):
                self.wfile.write(body)

    return Handler


def _passed(headers: Any) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower() in ("last-modified", "etag", "date", "expires")}


_SERVERS: dict[tuple[str, str], CacheServer] = {}
_LOCK = threading.Lock()
PORTS_FILE = "ports.json"


def serve(folder: Path, bind: str) -> CacheServer:
    """The server for this folder on this address, started once per process, on the port the folder remembers
    for the address when it is free (so the wired build text, and the layer cache, stay the same)."""
    key = (str(folder.resolve()), bind)
    with _LOCK:
        if key in _SERVERS:
            return _SERVERS[key]
        folder.mkdir(parents=True, exist_ok=True)
        ports_path = folder / PORTS_FILE
        try:
            ports = json.loads(ports_path.read_text())
        except (OSError, ValueError):
            ports = {}
        server = None
        if isinstance(ports.get(bind), int):
            with contextlib.suppress(OSError):
                server = CacheServer(folder, bind, ports[bind])
        if server is None:  # first time on this address, or another process has the port (kept for it)
            server = CacheServer(folder, bind, 0)
            if bind not in ports:
                ports[bind] = server.address[1]
                tmp = ports_path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(ports, indent=1, sort_keys=True) + "\n")
                os.replace(tmp, ports_path)
        _SERVERS[key] = server
        return server
