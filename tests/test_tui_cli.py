"""The real command in a real pseudo-terminal: `paper2run-tui runs` and `paper2run-tui run` open the app,
and the process exits with the run's status code."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sys
import time
from pathlib import Path

from tui_scenes import DEMO_REPO, write_past_runs

ANSI = re.compile(rb"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


class Terminal:
    """A child process on a pty, 100x30, whose screen output we can wait on and type into."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPER2RUN_", "NVIDIA_", "OPENAI_"))}
        env.update(TERM="xterm-256color", COLUMNS="100", LINES="30")
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "paper2run_tui", *args], env)
        self.output = b""

    def read_for(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    self.output += os.read(self.fd, 65536)
                except OSError:
                    return

    @property
    def screen_text(self) -> bytes:
        """What was drawn, without the escape sequences between the characters."""
        return ANSI.sub(b"", self.output)

    def wait_for(self, text: bytes, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while text not in self.screen_text:
            if time.monotonic() > end:
                raise AssertionError(f"{text!r} never appeared; last output: {self.output[-600:]!r}")
            self.read_for(0.1)

    def type(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def exit_code(self, timeout: float = 30.0) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            self.read_for(0.1)
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, 9)
        raise AssertionError(f"the app did not exit; last output: {self.output[-600:]!r}")


def test_runs_opens_the_browser_and_q_quits(tmp_path: Path) -> None:
    write_past_runs(tmp_path / "runs")
    term = Terminal(["runs", "--out", "runs"], tmp_path)
    term.wait_for(b"karpathy/micrograd")
    term.wait_for(b"Open run")
    term.type(b"q")
    assert term.exit_code() == 0


def test_run_opens_straight_on_the_live_run_and_exits_with_its_status(tmp_path: Path, make_repo) -> None:  # type: ignore[no-untyped-def]
    demo = make_repo(DEMO_REPO, git=True, name="demo")
    term = Terminal(["run", "--repo", str(demo), "--out", "runs", "--dry-run", "--approve", "auto"], tmp_path)
    term.wait_for(b"dry-run", timeout=60)  # the banner shows the final status
    term.wait_for(b"Run finished", timeout=30)  # and the notification: the engine's thread is done
    term.type(b"q")
    assert term.exit_code() == 0
    [run_dir] = (tmp_path / "runs").iterdir()
    assert json.loads((run_dir / "metadata.json").read_text())["status"] == "dry-run"
