"""A filtered, read-only copy of a local folder into the run folder.

Why not shutil.copytree: we must never follow a symlink out of the repository (it could
pull in a home directory), must skip virtualenvs, node_modules, caches and huge files,
must say what was skipped, and must stay fast and cancellable on 100k-file trees.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..contracts.events import LogLine
from ..errors import UserError
from ..ports import CancelToken, EventSink

DEFAULT_MAX_FILE_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_SKIPPED_LISTED = 200
_SMALL_FILE = 1024 * 1024

# Folders never worth copying into a build context, with the reason we give.
SKIP_DIRS: dict[str, str] = {
    ".git": "git metadata",
    "node_modules": "node packages (reinstalled in the image)",
    ".venv": "virtualenv",
    "venv": "virtualenv",
    ".tox": "tox environments",
    ".nox": "nox environments",
}
QUIET_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints"}


@dataclass
class CopyReport:
    files: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0
    escaping_links: list[str] = field(default_factory=list)
    quiet_dirs: int = 0

    def skip(self, entry: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append(entry)

    def summary(self) -> list[str]:
        out = list(self.skipped)
        if self.skipped_count > len(self.skipped):
            out.append(f"... and {self.skipped_count - len(self.skipped)} more skipped entries")
        if self.quiet_dirs:
            out.append(f"{self.quiet_dirs} cache folder(s) such as __pycache__/ (regenerated on use)")
        return out


@dataclass(frozen=True)
class SizePolicy:
    """One size policy for every way a repository arrives, a clone or a copy of a folder: a file over
    `max_file_bytes` is left out with a reason; a checkout over `max_total_bytes` in all is refused with a clear
    error before it is written (a small pack can check out gigabytes: zeros compress to nothing)."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES

    def file_reason(self, rel: str, size: int) -> str | None:
        """The skipped-list entry of a file over the per-file limit, else None."""
        if size <= self.max_file_bytes:
            return None
        return f"{rel} ({human_size(size)}, over the {human_size(self.max_file_bytes)} limit)"

    def over_total(self, total: int, files: int, how: str) -> UserError:
        return UserError(
            f"the repository is too big: {how} {human_size(total)} in {files} files, over the "
            f"{human_size(self.max_total_bytes)} limit for a whole checkout (files over "
            f"{human_size(self.max_file_bytes)} already left out)",
            "clone or copy it yourself, remove the data and checkpoints the build does not need, and pass the folder",
        )


def utf8_name(name: str) -> bool:
    """Whether a file name (as os gives it, undecodable bytes as surrogates) is valid UTF-8: the facts, the events
    and the run folder's JSON are UTF-8, so a name that is not cannot be recorded and is skipped."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(name: str) -> str:
    """A name with undecodable bytes shown as escapes, for the skipped list."""
    return os.fsencode(name).decode("utf-8", errors="backslashreplace")


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" or n >= 100 else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return f"{n:.0f} GB"  # pragma: no cover


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _is_run_folder(path: str) -> bool:
    """A previous run's folder (it holds a copy of the repo; copying it again would nest copies)."""
    return os.path.isfile(os.path.join(path, "events.jsonl")) and os.path.isfile(
        os.path.join(path, "metadata.json")
    )


def _is_virtualenv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def copy_filtered(
    src: Path,
    dest: Path,
    sink: EventSink,
    cancel: CancelToken,
    *,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    exclude: Sequence[Path] = (),
) -> CopyReport:
    """Copy src's tree into dest (created). Reads src only; symlinks inside the tree stay links.

    `exclude`: folders inside src never to enter (the run's own output when --out is inside the repo).
    A file over `max_file_bytes` is skipped with a reason; a tree over `max_total_bytes` raises UserError (the
    caller removes the partial copy).
    """
    policy = SizePolicy(max_file_bytes, max_total_bytes)
    root = os.path.realpath(src)
    excluded = {os.path.realpath(p) for p in (*exclude, dest)}
    report = CopyReport()
    dest.mkdir(parents=True, exist_ok=True)
    stack: list[tuple[str, str]] = [(root, str(dest))]
    next_note = 10_000
    while stack:
        cur_src, cur_dest = stack.pop()
        cancel.raise_if_cancelled()
        try:
            entries = list(os.scandir(cur_src))
        except OSError as exc:
            report.skip(f"{os.path.relpath(cur_src, root)}/ (unreadable: {exc.strerror})")
            continue
        for entry in entries:
            rel = os.path.relpath(entry.path, root)
            if not utf8_name(entry.name):
                report.skip(f"{printable(rel)} (its name is not UTF-8)")
                continue
            try:
                if entry.is_symlink():
                    _copy_link(entry.path, os.path.join(cur_dest, entry.name), rel, root, report)
                    continue
                if entry.is_dir(follow_symlinks=False):
                    name = entry.name
                    if name in QUIET_DIRS:
                        report.quiet_dirs += 1
                        continue
                    reason = SKIP_DIRS.get(name)
                    if reason is None and _is_virtualenv(entry.path):
                        reason = "virtualenv (has pyvenv.cfg)"
                    if reason is None and (entry.path in excluded or _is_run_folder(entry.path)):
                        reason = "paper2run output, not part of the repository"
                    if reason is not None:
                        if name != ".git":
                            report.skip(f"{rel}/ ({reason})")
                        continue
                    target = os.path.join(cur_dest, name)
                    os.mkdir(target)
                    stack.append((entry.path, target))
                    continue
                if entry.name == ".git":  # a submodule's or worktree's gitlink file: points outside the copy
                    continue
                st = entry.stat(follow_symlinks=False)
                if not stat.S_ISREG(st.st_mode):
                    report.skip(f"{rel} (not a regular file)")
                    continue
                too_big = policy.file_reason(rel, st.st_size)
                if too_big is not None:
                    report.skip(too_big)
                    continue
                if report.bytes + st.st_size > max_total_bytes:
                    raise policy.over_total(report.bytes + st.st_size, report.files + 1, "copying it reached")
                _copy_file(entry.path, os.path.join(cur_dest, entry.name), st)
                report.files += 1
                report.bytes += st.st_size
            except PermissionError as exc:
                report.skip(f"{rel} (unreadable: {exc.strerror})")
            except FileNotFoundError:
                report.skip(f"{rel} (vanished while copying)")
            except OSError as exc:
                if exc.errno != errno.ENAMETOOLONG:
                    raise
                report.skip(f"{rel[:120]}... (path too long for the run folder: {len(rel)} characters)")
        if report.files >= next_note:
            sink.emit(
                LogLine(source="acquire", text=f"copied {report.files} files ({report.bytes / 1e6:.1f} MB)")
            )
            next_note += 10_000
    return report


def _copy_file(src: str, target: str, st: os.stat_result) -> None:
    """Small files (most of a repo) in one read and one write: measurably faster than copyfile."""
    mode = 0o755 if st.st_mode & 0o111 else 0o644
    if st.st_size > _SMALL_FILE:
        shutil.copyfile(src, target, follow_symlinks=False)
        os.chmod(target, mode)
        return
    with open(src, "rb") as fh:
        data = fh.read()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def _copy_link(path: str, target: str, rel: str, root: str, report: CopyReport) -> None:
    """Keep a link that stays inside the tree (rewritten relative); skip one that leaves it."""
    link = os.readlink(path)
    resolved = os.path.realpath(os.path.join(os.path.dirname(path), link))
    if not _inside(resolved, root):
        report.skip(f"{rel} -> {link} (symlink points outside the repository; not followed)")
        report.escaping_links.append(rel)
        return
    relative = os.path.relpath(resolved, os.path.realpath(os.path.dirname(path)))
    os.symlink(relative, target)
