"""A unix-socket proxy in front of the real Docker engine that a test can cut: engine loss without ever stopping the
shared daemon. `cut()` closes every open connection and refuses new ones; `restore()` accepts again."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

from paper2run_tui.engine.build.docker_client import engine_host


def upstream_path() -> str:
    host = engine_host()
    if not host.startswith("unix://"):
        raise RuntimeError(f"the engine proxy needs a unix-socket engine, not {host}")
    return host[len("unix://"):]


class EngineProxy:
    def __init__(self, path: Path, upstream: str | None = None) -> None:
        self.path = path
        self.upstream = upstream or upstream_path()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.cuts = 0
        self.restore()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def restore(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.path))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """The engine is gone: open connections are reset and nobody answers at the socket any more."""
        self.cuts += 1
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                upstream.connect(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:  # cut while connecting
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
