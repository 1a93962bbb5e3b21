"""Running git with live progress, cancellation, and errors a person can act on.

git is run as a child process (never prompting: no terminal, no askpass) whose stderr is
read on a thread; each progress line goes through gitpython's RemoteProgress parser and
out as a LogLine. The engine thread polls the cancel token while it waits, so Ctrl-C
stops a clone that is stuck on a slow network.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from git import RemoteProgress

from ..contracts.events import LogLine
from ..errors import UserError
from ..ports import Cancelled, CancelToken, EventSink
from .spec import scrub

_STAGES = {
    RemoteProgress.COUNTING: "counting objects",
    RemoteProgress.COMPRESSING: "compressing objects",
    RemoteProgress.RECEIVING: "receiving objects",
    RemoteProgress.RESOLVING: "resolving deltas",
    RemoteProgress.WRITING: "writing objects",
    RemoteProgress.FINDING_SOURCES: "finding sources",
    RemoteProgress.CHECKING_OUT: "checking out files",
}


def require_git() -> str:
    git = shutil.which("git")
    if git is None:
        raise UserError(
            "git is not installed (needed to fetch the repository)", "install git, e.g. `apt-get install git`"
        )
    return git


def git_env() -> dict[str, str]:
    """Never prompt (a prompt would hang a headless run); English messages we can classify."""
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "LC_ALL": "C",
        "LANG": "C",
    }
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=20")
    return env


class _SinkProgress(RemoteProgress):
    """Turns git's progress lines into LogLine events, at most one per stage per percent step."""

    def __init__(self, sink: EventSink) -> None:
        super().__init__()
        self._sink = sink
        self._last: tuple[int, int] = (-1, -1)
        self._last_ts = 0.0

    def update(
        self, op_code: int, cur_count: str | float, max_count: str | float | None = None, message: str = ""
    ) -> None:
        stage = op_code & RemoteProgress.OP_MASK
        try:
            cur, top = float(cur_count), float(max_count or 0)
        except (TypeError, ValueError):
            return
        pct = int(cur * 100 / top) if top else -1
        done = bool(op_code & RemoteProgress.END)
        now = time.monotonic()
        step = pct // 10 if pct >= 0 else -1
        if not done and (stage, step) == self._last and now - self._last_ts < 2.0:
            return
        self._last, self._last_ts = (stage, step), now
        label = _STAGES.get(stage, "working")
        amount = f"{pct}% ({int(cur)}/{int(top)})" if top else f"{int(cur)}"
        tail = f" {message.strip()}" if message and message.strip() else ""
        self._sink.emit(
            LogLine(source="acquire", stream="stderr", text=f"git: {label} {amount}{tail}".rstrip())
        )


class GitFailed(Exception):
    def __init__(self, args: Sequence[str], returncode: int, stderr: str) -> None:
        self.args_ = list(args)
        self.returncode = returncode
        self.stderr = scrub(stderr)
        super().__init__(scrub(f"git {' '.join(args)} exited {returncode}: {last_line(stderr)}"))


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in re.split(r"[\r\n]+", text) if ln.strip()]
    fatal = [ln for ln in lines if ln.startswith(("fatal:", "error:", "ssh:", "ERROR:"))]
    return fatal[0] if fatal else (lines or ["(no message)"])[-1]


def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None,
    sink: EventSink,
    cancel: CancelToken,
    progress: bool = False,
    timeout_s: float | None = None,
) -> str:
    """Run `git <args>`; return stdout. Raises GitFailed, Cancelled, or UserError on timeout."""
    return run_git_bytes(args, cwd=cwd, sink=sink, cancel=cancel, progress=progress,
                         timeout_s=timeout_s).decode("utf-8", "replace")


def run_git_bytes(
    args: Sequence[str],
    *,
    cwd: Path | None,
    sink: EventSink,
    cancel: CancelToken,
    progress: bool = False,
    timeout_s: float | None = None,
    stdin: bytes | None = None,
) -> bytes:
    """run_git with stdout as git wrote it (file names that are not UTF-8 stay as they are), and `stdin` fed to
    git when given (e.g. NUL-separated paths for `--stdin -z`)."""
    cmd = [require_git(), "-c", "advice.detachedHead=false", *args]
    try:
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=git_env(),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: cancel stops git-remote-https and ssh too
        )
    except OSError as exc:
        raise UserError(
            f"cannot run git: {exc.strerror}", "install git, e.g. `apt-get install git`"
        ) from None
    on_progress = _SinkProgress(sink).new_message_handler() if progress else None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    chunks: queue.Queue[bytes | None] = queue.Queue()
    out_parts: list[bytes] = []

    def pump_stderr() -> None:
        assert proc.stderr is not None
        while True:
            data = os.read(proc.stderr.fileno(), 65536)
            if not data:
                break
            chunks.put(data)
        chunks.put(None)

    def pump_stdout() -> None:
        assert proc.stdout is not None
        out_parts.append(proc.stdout.read())

    def feed_stdin() -> None:
        assert proc.stdin is not None
        with contextlib.suppress(OSError):  # git ended early: its error is in stderr
            proc.stdin.write(stdin or b"")
        with contextlib.suppress(OSError):
            proc.stdin.close()

    threads = [
        threading.Thread(target=pump_stderr, daemon=True),
        threading.Thread(target=pump_stdout, daemon=True),
        *([threading.Thread(target=feed_stdin, daemon=True)] if stdin is not None else []),
    ]
    for t in threads:
        t.start()
    err_text: list[str] = []
    pending = ""
    deadline = time.monotonic() + timeout_s if timeout_s else None
    finished = False
    try:
        while not finished:
            if cancel.cancelled:
                raise Cancelled(cancel.reason or "cancelled")
            if deadline is not None and time.monotonic() > deadline:
                raise UserError(
                    f"git {args[0]} took longer than {int(timeout_s or 0)} s",
                    "check the network, or clone it yourself and pass the folder",
                )
            try:
                data = chunks.get(timeout=0.1)
            except queue.Empty:
                continue
            if data is None:
                finished = True
                text = pending
                pending = ""
            else:
                text = pending + decoder.decode(data)
                *lines, pending = re.split(r"[\r\n]", text)
                text = "\n".join(lines)
            for line in text.split("\n"):
                if not line.strip():
                    continue
                if on_progress is not None and _looks_like_progress(line):
                    on_progress(line)
                else:
                    err_text.append(line)
                    del err_text[:-_MAX_STDERR_LINES]
                    if progress:
                        sink.emit(LogLine(source="acquire", stream="stderr", text=scrub(line.strip())[:500]))
        proc.wait()
    except BaseException:
        _kill(proc)
        raise
    finally:
        for t in threads:
            t.join(timeout=2)
    stderr = "\n".join(err_text)
    if proc.returncode != 0:
        raise GitFailed(args, proc.returncode, stderr)
    return b"".join(out_parts)


_MAX_STDERR_LINES = 400


def _looks_like_progress(line: str) -> bool:
    return bool(re.match(r"^\s*(remote: )?[A-Z][A-Za-z ]+:\s+\d+%?", line)) or "Updating files:" in line


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill git and the helpers it started (they hold our pipes open)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)


_UNKNOWN_REF = re.compile(
    r"Remote branch .* not found|couldn't find remote ref|did not match any|unknown revision|"
    r"not our ref|invalid reference|not a valid object name|bad object|reference is not a tree|"
    r"is not a commit|no such ref|upload-pack: not our ref",
    re.IGNORECASE,
)
_AUTH = re.compile(
    r"Authentication failed|could not read Username|could not read Password|terminal prompts disabled|"
    r"Permission denied \(publickey|Host key verification failed|HTTP Basic: Access denied|403",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(
    r"Repository not found|does not appear to be a git repository|not found|returned error: 404|"
    r"No such file or directory|does not exist",
    re.IGNORECASE,
)
_UNREACHABLE = re.compile(
    r"Could not resolve host|Failed to connect|Connection refused|Connection timed out|Couldn't connect|"
    r"Network is unreachable|unable to access|Could not resolve hostname|Connection reset|SSL|"
    r"Operation timed out|No route to host|early EOF|the remote end hung up",
    re.IGNORECASE,
)


def explain_clone_failure(err: GitFailed, url: str, ref: str | None) -> UserError:
    """Map git's stderr to one line saying what is wrong and what to do."""
    msg, detail = err.stderr, last_line(err.stderr)
    if ref and _UNKNOWN_REF.search(msg):
        return UserError(
            f"unknown ref '{ref}' in {url} ({detail})",
            f"check the branch, tag or commit name (`git ls-remote {url}` lists branches and tags)",
        )
    if _AUTH.search(msg):
        return UserError(
            f"cannot access {url}: authentication failed or the repository is private ({detail})",
            "check the URL; for a private repository clone it yourself and pass the local folder",
        )
    if _UNREACHABLE.search(msg):
        return UserError(
            f"cannot reach {url} ({detail})",
            "check the URL and the network (proxy, VPN), or clone it yourself and pass the local folder",
        )
    if _NOT_FOUND.search(msg):
        return UserError(
            f"repository not found: {url} ({detail})", "check the URL (owner and name, or the path)"
        )
    return UserError(
        f"git could not fetch {url}: {detail}",
        "check the URL and --ref, or clone it yourself and pass the folder",
    )
