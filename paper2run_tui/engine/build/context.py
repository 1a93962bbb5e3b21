"""The build context: a tar we make ourselves, so the rendered Dockerfile stays out of the source layer."""

from __future__ import annotations

import io
import os
import tarfile
import tempfile
from pathlib import Path

from .base import BuildRequest

CONTEXT_SKIP = {".git", "__pycache__", ".mypy_cache", ".pytest_cache", ".ipynb_checkpoints"}


def build_context(request: BuildRequest) -> tempfile.SpooledTemporaryFile[bytes]:
    """A tar of the repository plus .paper2run/{Dockerfile, extra files}, and a .dockerignore that keeps the
    Dockerfile out of `COPY .` (so a Dockerfile change alone does not invalidate the source layer)."""
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - returned open
    root = request.context_dir
    ignore = ""
    with tarfile.open(fileobj=spool, mode="w") as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in CONTEXT_SKIP)
            rel_dir = os.path.relpath(dirpath, root)
            for name in sorted(filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if rel == ".dockerignore":
                    ignore = Path(dirpath, name).read_text(errors="replace")
                    continue
                full = os.path.join(dirpath, name)
                info = tar.gettarinfo(full, arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0  # the cache keys on content, not timestamps
                if info.isreg():
                    with open(full, "rb") as fh:
                        tar.addfile(info, fh)
                elif info.issym():
                    tar.addfile(info)

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add(".paper2run/Dockerfile", request.dockerfile.encode())
        for name, data in sorted(request.extra_files.items()):
            add(f".paper2run/{name}", data)
        add(".dockerignore", (ignore.rstrip("\n") + "\n.git\n.paper2run/Dockerfile\n").lstrip("\n").encode())
    spool.seek(0)
    return spool
