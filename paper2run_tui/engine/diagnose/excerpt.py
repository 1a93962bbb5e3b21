"""An error-focused excerpt of a failure's logs, within a budget: the first error with its traceback, the
failing build step, and the last lines — never a blind tail. One pass over the lines, so 1M-line logs are cheap."""

from __future__ import annotations

import re
from collections import deque

from ..build.progress import STEP_HEADER

_ERROR = re.compile(r"\w*(?:Error|Exception)\b|\b(?:error|ERROR|Traceback|FAILED|fatal|Killed|Retrying|cannot|"
                    r"failed|No module named|not found|No matching distribution|No such file)\b")
_STEP = STEP_HEADER
_NOISE = re.compile(r"^\s*(?:Downloading|Collecting|Requirement already|Using cached|Obtaining|Installing|Building wheel|"
                    r"Created wheel|Stored in|Preparing metadata|  Downloading|━|Progress|\s*\d+%)")

CHARS_PER_TOKEN = 4


def error_excerpt(text: str, budget_tokens: int = 3000, tail_lines: int = 30) -> str:
    budget = budget_tokens * CHARS_PER_TOKEN
    lines = text.splitlines()
    first_error = None
    last_step = None
    step_before_error = None
    traceback_start = None
    for i, line in enumerate(lines):
        if _STEP.match(line):
            last_step = i
        if line.startswith("Traceback (most recent call last)") and first_error is None:
            traceback_start = i
        if first_error is None and _ERROR.search(line) and not _NOISE.match(line):
            first_error = i
            step_before_error = last_step
            if traceback_start is None and line.startswith("Traceback"):
                traceback_start = i
    sections: list[tuple[str, list[str]]] = []
    if step_before_error is not None:
        sections.append(("failing build step", [lines[step_before_error][:500]]))
    if first_error is not None:
        start = traceback_start if traceback_start is not None and traceback_start <= first_error else max(0, first_error - 5)
        end = min(len(lines), first_error + 25)
        sections.append(("first error", [line[:500] for line in lines[start:end]]))
    tail = deque((line[:500] for line in lines[-tail_lines:] if not _NOISE.match(line)), maxlen=tail_lines)
    sections.append(("last lines", list(tail)))
    out: list[str] = []
    used = 0
    for title, body in sections:
        header = f"--- {title} ---"
        out.append(header)
        used += len(header) + 1
        for line in body:
            if used + len(line) + 1 > budget:
                out.append("[… cut to stay within the budget]")
                return "\n".join(out)
            out.append(line)
            used += len(line) + 1
    return "\n".join(out)
