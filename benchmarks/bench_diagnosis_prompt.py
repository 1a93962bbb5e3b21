"""Diagnosis prompt size for logs of 1k, 100k and 1M lines: does the error excerpt keep each failure's root-cause
line while staying under a fixed budget? The failure logs are the rule fixtures (real-looking messages), buried in
pip-style noise before and after.

    .venv/bin/python benchmarks/bench_diagnosis_prompt.py   -> benchmarks/results/diagnosis_prompt.md
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper2run_tui.engine.diagnose.excerpt import CHARS_PER_TOKEN, error_excerpt  # noqa: E402
from paper2run_tui.engine.diagnose.rules import RULES  # noqa: E402

BUDGET = 3000
FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rule_logs"


def noise(n: int) -> str:
    return "\n".join(f"  Downloading package-{i}.whl ({i % 97} kB)" if i % 3 else f"Step {i % 20}/20 : RUN echo {i}"
                     for i in range(n))


def main() -> None:
    rows = []
    for lines in (1_000, 100_000, 1_000_000):
        kept = 0
        sizes = []
        t0 = time.perf_counter()
        for rule in RULES:
            failure = (FIXTURES / f"{rule.id}.log").read_text()
            root = rule.pattern.search(failure)
            assert root is not None
            before = noise(lines // 2)
            log = f"{before}\n{failure}\n{noise(lines - lines // 2)}"
            excerpt = error_excerpt(log, BUDGET)
            sizes.append(len(excerpt) // CHARS_PER_TOKEN)
            kept += bool(rule.pattern.search(excerpt))
        rows.append((lines, max(sizes), kept, len(RULES), (time.perf_counter() - t0) / len(RULES)))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = ["# Diagnosis prompt: error excerpt under a budget", "",
           f"- date {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}; budget {BUDGET} tokens (chars/4) for the log "
           f"excerpt; {len(RULES)} failure logs (tests/fixtures/rule_logs) buried mid-log in pip/step noise", "",
           "| log lines | largest excerpt (tokens) | root causes kept | seconds per log |", "|---|---|---|---|"]
    out += [f"| {n:,} | {size} | {k}/{t} | {sec:.2f} |" for n, size, k, t, sec in rows]
    text = "\n".join(out) + "\n"
    (Path(__file__).parent / "results" / "diagnosis_prompt.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
