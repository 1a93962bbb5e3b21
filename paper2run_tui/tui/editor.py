"""Open a file or a folder in the person's $VISUAL / $EDITOR, the app suspended meanwhile (App.suspend)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from textual.app import App, SuspendNotSupported

#: Editors that take `+LINE` before the file (vi family, nano, emacs, micro, kakoune).
_PLUS_LINE = {"vi", "vim", "nvim", "view", "nano", "emacs", "emacsclient", "micro", "kak", "joe", "mg"}


def editor_command(path: Path, line: int | None = None) -> list[str] | None:
    """The command that opens `path` (at `line` where the editor understands +LINE); None without an editor."""
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not editor:
        return None
    argv = shlex.split(editor)
    if not argv:
        return None
    if line and Path(argv[0]).name in _PLUS_LINE:
        argv.append(f"+{line}")
    return [*argv, str(path)]


def open_in_editor(app: App[object], path: Path, line: int | None = None) -> int | None:
    """Run the editor on `path` with the terminal handed over; its exit code (None: no editor, said in a notice
    that also names the path, so it can be opened by hand)."""
    command = editor_command(path, line)
    if command is None:
        app.notify(f"Set $EDITOR (or $VISUAL) to open files from here. The path: {path}", severity="warning",
                   timeout=10)
        return None
    try:
        with app.suspend():
            code = _run(command)
    except SuspendNotSupported:  # no terminal to hand over (a headless app, a web driver): run it as it is
        code = _run(command)
    if code != 0:
        app.notify(f"{command[0]} exited with {code} on {path}", severity="warning")
    return code


def _run(command: list[str]) -> int:
    try:
        return subprocess.call(command)
    except OSError as exc:
        return 127 if isinstance(exc, FileNotFoundError) else 126
