"""Reproduction benchmark: the headless pipeline, with no LLM, over a list of repositories, one after another.

    .venv/bin/python benchmarks/bench_reproduce.py LIST [--out DIR] [--keep-images] [--minutes 15]

LIST has one repository per line (URL or local checkout; see ../shared/bench for how to bring real ones here).
Writes benchmarks/results/reproduce-<date>.md and .csv: repo, commit, status, highest smoke rung, attempts, rules
applied, time to first green, build time, failure class.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper2run_tui.engine.build.cleanup import cleanup  # noqa: E402
from paper2run_tui.engine.build.docker_client import connect  # noqa: E402
from paper2run_tui.engine.config import RunConfig  # noqa: E402
from paper2run_tui.engine.pipeline import run_pipeline  # noqa: E402
from paper2run_tui.engine.ports import CancelToken, ListSink  # noqa: E402
from paper2run_tui.engine.record.store import load_run  # noqa: E402

FIELDS = ["repo", "commit", "status", "highest_rung", "attempts", "rules", "first_green_s", "build_s", "failure_class",
          "reason"]


def one(repo: str, out: Path, minutes: float) -> dict[str, str]:
    cancel = CancelToken()
    timer = threading.Timer(minutes * 60, cancel.cancel, args=(f"over the {minutes:.0f}-minute budget",))
    timer.start()
    started = time.monotonic()
    try:
        outcome = run_pipeline(RunConfig(repo=repo, out=out, timeout=300, max_attempts=3, approve="auto"), ListSink(),
                               None, cancel)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    row = {"repo": Path(repo).name, "status": outcome.status, "reason": outcome.reason.replace("\n", " ")[:160],
           "run_id": ""}
    if outcome.run_dir is None:
        return row
    run = load_run(outcome.run_dir)
    meta = run.metadata
    row["run_id"] = meta.run_id
    diagnoses = [a.diagnosis for a in run.attempts if a.diagnosis]
    row.update({
        "commit": (meta.commit_sha or "")[:10],
        "highest_rung": meta.highest_smoke_rung or "",
        "attempts": str(len(meta.attempts)),
        "rules": " ".join(r for a in meta.attempts for r in a.matched_rules[:1]),
        "first_green_s": f"{elapsed:.0f}" if meta.status == "success" else "",
        "build_s": f"{sum(a.build_seconds or 0 for a in meta.attempts):.0f}",
        "failure_class": next((d.failure_class or "" for d in diagnoses[::-1] if d), "") if meta.status != "success" else "",
    })
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("list", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/work/runs"))
    ap.add_argument("--keep-images", action="store_true")
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--tag", default="", help="suffix for the result files (reproduce-<date>-<tag>.md), e.g. a re-run")
    args = ap.parse_args()
    repos = [line.strip() for line in args.list.read_text().splitlines() if line.strip() and not line.startswith("#")]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d") + (f"-{args.tag}" if args.tag else "")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    results = Path(__file__).parent / "results"
    rows: list[dict[str, str]] = []
    for repo in repos:
        print(f"== {repo}", flush=True)
        row = one(repo, args.out, args.minutes)
        rows.append(row)
        print("   ", row, flush=True)
        if not args.keep_images and row.get("run_id"):
            # Only this run's containers and images: others (tests, other benchmarks) may share the engine.
            cleanup(connect(), run_id=row["run_id"])
        write(results, stamp, commit, rows, len(repos))


def write(results: Path, stamp: str, commit: str, rows: list[dict[str, str]], total: int) -> None:
    with open(results / f"reproduce-{stamp}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    green = [r for r in rows if r["status"] == "success" and r.get("highest_rung") in
             ("import-package", "entrypoint-help", "tests", "toy-run")]
    lines = [f"# Reproduction benchmark, no LLM — {stamp}, commit {commit}", "",
             f"{len(rows)} of {total} repositories run; green at 'import the package' or higher: {len(green)}/{len(rows)}", "",
             "| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    lines += ["| " + " | ".join(r.get(k, "").replace("|", "/") for k in FIELDS) + " |" for r in rows]
    (results / f"reproduce-{stamp}.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
