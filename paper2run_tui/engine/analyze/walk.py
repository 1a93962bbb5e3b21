"""Walk a repository once, bounded in files and time, never following symlinks or entering junk folders."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

SKIP_DIRS = {
    ".git", ".hg", ".svn", "node_modules", "__pycache__", ".tox", ".nox", ".mypy_cache", ".pytest_cache",
    ".ruff_cache", ".venv", "venv", ".eggs", "build", "dist", ".idea", ".vscode", ".ipynb_checkpoints",
    "site-packages", ".paper2run",
}
#: Files larger than this are counted but never read for content.
MAX_READ_BYTES = 1_000_000


@dataclass
class AnalyzeLimits:
    max_files: int = 200_000
    time_budget_s: float = 10.0
    max_read_bytes: int = MAX_READ_BYTES


class RepoFile:
    """A file of the walk; name and suffix computed once (the analyzer asks for them many times)."""

    __slots__ = ("name", "rel", "size", "suffix")

    def __init__(self, rel: str, size: int) -> None:
        self.rel = rel
        self.size = size
        self.name = rel.rsplit("/", 1)[-1]
        dot = self.name.rfind(".")
        self.suffix = self.name[dot:].lower() if dot > 0 else ""


@dataclass
class Walk:
    root: Path
    files: list[RepoFile] = field(default_factory=list)
    skipped: int = 0
    truncated: bool = False
    warnings: list[str] = field(default_factory=list)

    def by_name(self, *names: str) -> list[RepoFile]:
        wanted = {n.lower() for n in names}
        return [f for f in self.files if f.name.lower() in wanted]

    def read(self, f: RepoFile, limit: int = MAX_READ_BYTES) -> str | None:
        """The file's text, or None when it is too big or binary (NUL bytes in the first 8 KB)."""
        if f.size > limit:
            return None
        try:
            with open(f"{self.root}/{f.rel}", "rb") as fh:
                data = fh.read()
        except OSError:
            return None
        if b"\0" in data[:8192]:
            return None
        return data.decode("utf-8", errors="replace")


def walk_repo(root: Path, limits: AnalyzeLimits, deadline: float | None = None) -> Walk:
    result = Walk(root=root)
    deadline = deadline or time.monotonic() + limits.time_budget_s
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        try:
            it = os.scandir(root / rel_dir if rel_dir else root)
        except OSError:
            result.skipped += 1
            continue
        with it:
            entries = sorted(it, key=lambda e: e.name)
        # A virtualenv of any name is marked by pyvenv.cfg.
        if any(e.name == "pyvenv.cfg" for e in entries) and rel_dir:
            result.skipped += 1
            continue
        subdirs = []
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                if entry.is_symlink():
                    result.skipped += 1
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if entry.name in SKIP_DIRS or entry.name.endswith(".egg-info"):
                        result.skipped += 1
                    else:
                        subdirs.append(rel)
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                size = entry.stat(follow_symlinks=False).st_size
            except OSError:
                result.skipped += 1
                continue
            result.files.append(RepoFile(rel, size))
            if len(result.files) >= limits.max_files:
                result.truncated = True
                result.warnings.append(f"stopped after {limits.max_files} files: facts cover part of the repository")
                return result
        if time.monotonic() > deadline:
            result.truncated = True
            result.warnings.append(f"stopped after {limits.time_budget_s:.0f} s: facts cover part of the repository")
            return result
        stack.extend(reversed(subdirs))
    return result
