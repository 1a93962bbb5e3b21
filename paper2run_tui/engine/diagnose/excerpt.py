"""An error-focused excerpt of a failure's logs, within a budget: the first error with its traceback, the
failing build step, and the last lines — never a blind tail. One pass over the lines, so 1M-line logs are cheap."""

from __future__ import annotations

import re

from ..build.progress import STEP_HEADER

_ERROR = re.compile(r"\w*(?:Error|Exception)\b|\b(?:error|ERROR|Traceback|FAILED|fatal|Killed|Retrying|cannot|"
                    r"failed|No module named|not found|No matching distribution|No such file)\b")
_STEP = STEP_HEADER
_NOISE = re.compile(r"^\s*(?:Downloading|Collecting|Requirement already|Using cached|Obtaining|Installing|Building wheel|"
                    r"Created wheel|Stored in|Preparing metadata|  Downloading|━|Progress|\s*\d+%)")

CHARS_PER_TOKEN = 4


def error_excerpt(text: str, budget_tokens: int = 3000, tail_lines: int = 30) -> str:
    """Within `budget_tokens`: a smaller budget cuts the middle first (the lines after the first error, the older of
    the last lines), so the failing step, the first error and the very last lines stay."""
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
    tail_all = [line[:500] for line in lines[-tail_lines:] if not _NOISE.match(line)]
    for after, tail_n in ((25, tail_lines), (12, 15), (6, 8), (3, 4), (1, 2)):
        sections: list[tuple[str, list[str]]] = []
        if step_before_error is not None:
            sections.append(("failing build step", [lines[step_before_error][:500]]))
        if first_error is not None:
            start = traceback_start if traceback_start is not None and traceback_start <= first_error else max(0, first_error - 5)
            start = max(start, first_error - max(5, after))  # a long traceback keeps its end, where the error is
            end = min(len(lines), first_error + after)
            sections.append(("first error", [line[:500] for line in lines[start:end]]))
        sections.append(("last lines", tail_all[-tail_n:]))
        size = sum(len(f"--- {title} ---") + 1 + sum(len(x) + 1 for x in body) for title, body in sections)
        if size <= budget:
            break
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
