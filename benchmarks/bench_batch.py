"""Batch throughput with 1 and 2 jobs on the local engine: the same small fixture repositories (real builds and
smoke runs; their images removed after each run), wall time of the whole batch, as a ratio.

    .venv/bin/python benchmarks/bench_batch.py [N_REPOS]   -> benchmarks/results/batch_throughput.md
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper2run_tui.engine.batch.listing import parse_list  # noqa: E402
from paper2run_tui.engine.batch.scheduler import BatchSpec, PoolMember, run_batch  # noqa: E402
from paper2run_tui.engine.config import RunConfig  # noqa: E402
from paper2run_tui.engine.ports import CancelToken  # noqa: E402

APP = "import argparse\nif __name__ == '__main__':\n    argparse.ArgumentParser(description={n!r}).parse_args()\n"


class Quiet:
    def row_changed(self, row) -> None:  # type: ignore[no-untyped-def]
        pass

    def row_finished(self, row, done, total) -> None:  # type: ignore[no-untyped-def]
        print(f"  {row.item.key}: {row.status} in {row.seconds}s on {row.engine}", flush=True)

    def message(self, text: str) -> None:
        print(f"  {text}", flush=True)


def make_repos(root: Path, n: int) -> list[Path]:
    repos = []
    for i in range(n):
        repo = root / f"bench{i}"
        (repo / f"bench{i}").mkdir(parents=True)
        (repo / f"bench{i}" / "__init__.py").write_text("")
        (repo / f"bench{i}" / "__main__.py").write_text(APP.format(n=f"bench {i}"))
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "-c", "user.email=b@b", "-c", "user.name=b", "commit", "-qm", "x"], cwd=repo, check=True)
        repos.append(repo)
    return repos


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def steps_cached(run_dir: str | None) -> str:
    import json

    if not run_dir:
        return "?"
    with contextlib.suppress(OSError, ValueError, KeyError, IndexError):
        attempt = json.loads((Path(run_dir) / "metadata.json").read_text())["attempts"][0]
        return f"{attempt.get('steps_cached') or 0}/{attempt.get('steps_total') or '?'}"
    return "?"


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    with tempfile.TemporaryDirectory() as tmp:
        repos = make_repos(Path(tmp) / "repos", n + 1)
        warm, repos = repos[0], repos[1:]
        base = RunConfig(repo=".", ca_cert=Path("/etc/ssl/certs/ca-certificates.crt"), timeout=60, max_attempts=1)
        # A warm-up repository first, its image kept: the steps every fixture shares (base, CA, pip's own upgrade)
        # are then in the layer cache for both batches alike, so the first batch measured does not pay for them.
        print("warm-up:", flush=True)
        warmed = run_batch(BatchSpec(folder=Path(tmp) / "warm", items=parse_list(f"{warm}\n"),
                            pool=[PoolMember(name="local", slots=1)], keep_images=True), base, Quiet(), CancelToken())
        items = parse_list("".join(f"{r}\n" for r in repos))
        seconds, rows, loads = {}, {}, {}
        for jobs in (1, 2):
            print(f"{jobs} job(s):", flush=True)
            spec = BatchSpec(folder=Path(tmp) / f"batch-{jobs}", items=items,
                             pool=[PoolMember(name="local", slots=jobs)], keep_images=False)
            before = load()
            t0 = time.monotonic()
            state = run_batch(spec, base, Quiet(), CancelToken())
            seconds[jobs] = time.monotonic() - t0
            loads[jobs] = (before, load())
            rows[jobs] = [(r.item.key, r.status, r.seconds, steps_cached(r.run_dir)) for r in state.rows]
            ok = sum(r.status == "success" for r in state.rows)
            print(f"  {ok}/{n} success in {seconds[jobs]:.1f} s", flush=True)
        if warmed.rows[0].run_dir:
            from paper2run_tui.engine.build.cleanup import cleanup
            from paper2run_tui.engine.build.docker_client import connect

            cleanup(connect(), run_id=Path(warmed.rows[0].run_dir).name)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    out = Path(__file__).parent / "results" / "batch_throughput.md"
    per_repo = "".join(f"| {j} | " + " | ".join(f"{k}: {st} {sec} s, {c} steps cached" for k, st, sec, c in rs) + " |\n"
                       for j, rs in rows.items())
    out.write_text(
        f"# Batch throughput, 1 vs 2 jobs ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit})\n\n"
        f"{n} fixture repositories (a package with an argparse entry point), real builds and smoke ladders on the "
        "local Docker engine, images removed after each run, one run each, after a warm-up repository (kept) so that "
        "the steps all fixtures share are in the layer cache for both batches. The machine (2 cores) was shared "
        "with other sessions; the load average before and after each batch is given.\n\n"
        "| jobs | wall time (s) | repositories per minute | load before / after |\n| --- | --- | --- | --- |\n"
        + "".join(f"| {j} | {s:.1f} | {n * 60 / s:.2f} | {loads[j][0]} / {loads[j][1]} |\n" for j, s in seconds.items())
        + f"\nThroughput ratio, 2 jobs / 1 job: **{seconds[1] / seconds[2]:.2f}x**\n\nPer repository:\n\n"
        "| jobs | repositories |\n| --- | --- |\n" + per_repo)
    print(out.read_text())


if __name__ == "__main__":
    main()
