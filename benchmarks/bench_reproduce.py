"""Reproduction benchmark: the headless pipeline over a list of repositories, one after another.

    .venv/bin/python benchmarks/bench_reproduce.py LIST [--out DIR] [--keep-images] [--minutes 15]
        [--llm BASE_URL [--model local]]

With --llm each repository runs twice in the same invocation, with no model and then with the model at BASE_URL
(e.g. a local llama.cpp server); the table compares the two (the model path must never be worse) and counts what
became of the model's plans: valid, repaired in the corrective round, replaced by the deterministic plan, and the
answers the plan policy refused.

LIST has one repository per line (URL or local checkout; see ../shared/bench for how to bring real ones here).
Writes benchmarks/results/reproduce-<date>.md and .csv: repo, commit, status, highest smoke rung, attempts, rules
applied, time to first green, build time, failure class.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper2run_tui.engine.build.cleanup import cleanup, run_leftovers  # noqa: E402
from paper2run_tui.engine.build.docker_client import connect  # noqa: E402
from paper2run_tui.engine.config import LlmSettings, RunConfig  # noqa: E402
from paper2run_tui.engine.pipeline import run_pipeline  # noqa: E402
from paper2run_tui.engine.ports import CancelToken, ListSink  # noqa: E402
from paper2run_tui.engine.record.store import load_run  # noqa: E402

FIELDS = ["repo", "mode", "commit", "status", "highest_rung", "attempts", "rules", "first_green_s", "build_s",
          "failure_class", "model_plan", "policy_refusals", "llm_calls", "diagnoses", "context", "reason"]
RUNGS = ["", "static-imports", "import-package", "entrypoint-help", "tests", "toy-run"]


def one(repo: str, out: Path, minutes: float, llm: LlmSettings | None = None) -> dict[str, str]:
    cancel = CancelToken()
    timer = threading.Timer(minutes * 60, cancel.cancel, args=(f"over the {minutes:.0f}-minute budget",))
    timer.start()
    started = time.monotonic()
    try:
        config = RunConfig(repo=repo, out=out, timeout=300, max_attempts=3, approve="auto",
                           llm=llm or LlmSettings())
        outcome = run_pipeline(config, ListSink(), None, cancel)
    finally:
        timer.cancel()
    elapsed = time.monotonic() - started
    row = {"repo": Path(repo).name, "mode": "model" if llm else "no model", "status": outcome.status,
           "reason": outcome.reason.replace("\n", " ")[:160], "run_id": ""}
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
        "llm_calls": str(len(meta.llm_calls)) if llm else "",
        # who diagnosed each failed attempt (rules, llm, fallback = the model could not be used) and its decision
        "diagnoses": " ".join(f"{d.source}:{d.decision}" for d in diagnoses) if llm else "",
        # the window the prompts were fitted to, and how many of the calls had parts cut to fit it
        "context": context_note(meta.llm_calls) if llm else "",
    })
    review = outcome.run_dir / "model_plan_review.json"
    if review.is_file():
        data = json.loads(review.read_text())
        row.update({"model_plan": data.get("outcome", ""), "policy_refusals": str(data.get("policy_refusals", 0))})
    return row


def context_note(calls: list) -> str:  # type: ignore[type-arg]
    windows = sorted({c.context_window for c in calls if c.context_window})
    cut = sum(1 for c in calls if c.prompt_cuts)
    return (f"{'/'.join(map(str, windows))}, {cut} cut" if windows else "unknown") if calls else ""


def rank(row: dict[str, str]) -> int:
    rung = row.get("highest_rung", "")
    return (RUNGS.index(rung) if rung in RUNGS else 0) + (10 if row.get("status") == "success" else 0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("list", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/work/runs"))
    ap.add_argument("--keep-images", action="store_true", help="never remove the runs' images")
    ap.add_argument("--share-cache", action="store_true",
                    help="with --llm: remove a repository's images after both of its runs, so the model run reuses "
                         "the no-model run's build cache (its times are then not comparable, its results are)")
    ap.add_argument("--minutes", type=float, default=15)
    ap.add_argument("--tag", default="", help="suffix for the result files (reproduce-<date>-<tag>.md), e.g. a re-run")
    ap.add_argument("--llm", metavar="BASE_URL", help="also run each repository with the model at this endpoint")
    ap.add_argument("--model", default="local", help="the model name at --llm (default: local)")
    ap.add_argument("--llm-context", type=int, help="the endpoint's context window (default: learned from it)")
    args = ap.parse_args()
    llm = LlmSettings(base_url=args.llm, model=args.model, timeout_s=600, max_tokens=1024,
                      context_tokens=args.llm_context) if args.llm else None
    repos = [line.strip() for line in args.list.read_text().splitlines() if line.strip() and not line.startswith("#")]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d") + (f"-{args.tag}" if args.tag else "")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    results = Path(__file__).parent / "results"
    rows: list[dict[str, str]] = []
    for repo in repos:
        mine: list[str] = []
        for settings in ([None, llm] if llm else [None]):
            print(f"== {repo} ({'model' if settings else 'no model'})", flush=True)
            row = one(repo, args.out, args.minutes, settings)
            rows.append(row)
            print("   ", row, flush=True)
            mine += [row["run_id"]] if row.get("run_id") else []
            if not args.keep_images and not args.share_cache:
                _remove(mine, args.out)
            write(results, stamp, commit, rows, len(repos), args.llm)
        if not args.keep_images:
            _remove(mine, args.out)


def _remove(run_ids: list[str], out: Path) -> None:
    """Only these runs' containers and images, and what their failed or stopped builds left without a label (the
    ids in attempts/NN/build_leftovers.txt: gigabytes each for a torch project); others (tests, other benchmarks)
    may share the engine."""
    while run_ids:
        run_id = run_ids.pop()
        cleanup(connect(), run_ids=[run_id], leftovers=run_leftovers(out / run_id))


def write(results: Path, stamp: str, commit: str, rows: list[dict[str, str]], total: int,
          llm_url: str | None = None) -> None:
    with open(results / f"reproduce-{stamp}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    green = [r for r in rows if r["status"] == "success" and r.get("highest_rung") in
             ("import-package", "entrypoint-help", "tests", "toy-run")]
    title = f"with the model at {llm_url} and with no model" if llm_url else "no LLM"
    lines = [f"# Reproduction benchmark, {title} — {stamp}, commit {commit}", "",
             f"{len(rows)} runs of {total} repositories; green at 'import the package' or higher: {len(green)}/{len(rows)}", ""]
    if llm_url:
        lines += comparison(rows)
    lines += ["| " + " | ".join(FIELDS) + " |", "|" + "---|" * len(FIELDS)]
    lines += ["| " + " | ".join(r.get(k, "").replace("|", "/") for k in FIELDS) + " |" for r in rows]
    (results / f"reproduce-{stamp}.md").write_text("\n".join(lines) + "\n")


def comparison(rows: list[dict[str, str]]) -> list[str]:
    """Per repository: is the model path at least as good as the no-model path? And what became of its plans."""
    by_repo: dict[str, dict[str, dict[str, str]]] = {}
    for r in rows:
        by_repo.setdefault(r["repo"], {})[r["mode"]] = r
    pairs = [(name, m["no model"], m["model"]) for name, m in by_repo.items() if "no model" in m and "model" in m]
    worse = [name for name, base, model in pairs if rank(model) < rank(base)]
    better = [name for name, base, model in pairs if rank(model) > rank(base)]
    models = [m for _, _, m in pairs]
    count = {k: sum(1 for m in models if m.get("model_plan") == k) for k in ("valid", "repaired", "replaced")}
    refusals = sum(int(m.get("policy_refusals") or 0) for m in models)
    return [f"Model path vs no model, {len(pairs)} repositories: worse on {len(worse)} ({', '.join(worse) or 'none'}), "
            f"better on {len(better)} ({', '.join(better) or 'none'}), the same on {len(pairs) - len(worse) - len(better)}.",
            f"The model's first plans: valid {count['valid']}, repaired in the corrective round {count['repaired']}, "
            f"replaced by the deterministic plan {count['replaced']}; answers refused by the plan policy: {refusals}.", ""]


if __name__ == "__main__":
    main()
