"""Search a run folder's logs: which file, which line. UI-free, so the TUI, the CLI and tests share it.

Files are read line by line (a log can be gigabytes), undecodable bytes replaced, ANSI escapes and carriage
returns dropped from what is matched and shown; the hit's line number is the file's own, so an editor opens there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel, Field

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: What a hit shows of a giant line (the file keeps it whole).
SHOWN_CHARS = 300


class LogHit(BaseModel):
    """One matching line of one log file of a run folder."""

    file: str = Field(description="Path relative to the run folder, e.g. attempts/01/smoke_stderr.log")
    line: int = Field(description="1-based line number in that file")
    text: str = Field(description="The line, ANSI escapes removed, cut to SHOWN_CHARS")


class LogSearch(BaseModel):
    query: str
    hits: list[LogHit] = Field(default_factory=list)
    files: int = Field(default=0, description="How many log files were searched")
    truncated: bool = Field(default=False, description="More hits than max_hits: the first ones are kept")


def log_files(run_dir: Path) -> list[Path]:
    """run.log first, then each attempt's logs in attempt order, then logs/ (LLM dumps, exception.txt)."""
    found: list[Path] = []
    if (run_dir / "run.log").is_file():
        found.append(run_dir / "run.log")
    attempts = run_dir / "attempts"
    if attempts.is_dir():
        for attempt in sorted(p for p in attempts.iterdir() if p.is_dir()):
            found += sorted(p for p in attempt.glob("*.log") if p.is_file())
    logs = run_dir / "logs"
    if logs.is_dir():
        found += sorted(p for p in logs.rglob("*") if p.is_file() and p.suffix in (".log", ".txt", ".md", ".json"))
    return found


def _lines(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        for raw in fh:
            yield raw.rstrip("\n").rstrip("\r")


def search_logs(run_dir: Path, query: str, *, regex: bool = False, max_hits: int = 1000) -> LogSearch:
    """Every line of the run's logs that holds `query` (case-insensitive; a regular expression when `regex`).
    An invalid regular expression raises ValueError with re's message."""
    result = LogSearch(query=query)
    if not query:
        return result
    try:
        pattern = re.compile(query if regex else re.escape(query), re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    for path in log_files(run_dir):
        result.files += 1
        rel = path.relative_to(run_dir).as_posix()
        try:
            for number, line in enumerate(_lines(path), start=1):
                text = _ANSI.sub("", line).replace("\r", "")
                if pattern.search(text):
                    if len(result.hits) >= max_hits:
                        result.truncated = True
                        return result
                    result.hits.append(LogHit(file=rel, line=number, text=text[:SHOWN_CHARS]))
        except OSError:
            continue  # vanished or unreadable: the others still count
    return result


def read_window(path: Path, line: int, before: int = 200, after: int = 800) -> tuple[int, list[str]]:
    """(first line number, lines) around `line` of a file, without loading the whole of a giant log."""
    start = max(1, line - before)
    out: list[str] = []
    for number, text in enumerate(_lines(path), start=1):
        if number < start:
            continue
        if number > line + after:
            break
        out.append(_ANSI.sub("", text))
    return start, out
