"""Bring the benchmark repositories to local checkouts that look like a clone: with the upstream commit's date.

    .venv/bin/python benchmarks/prepare_repos.py [../shared/bench/dev-repos.txt] [--dest bench-repos]

Each owner/name must have been fetched already (the fetch tool leaves it in MIRRORS/owner+name/repo; --mirrors or
PAPER2RUN_BENCH_MIRRORS give MIRRORS, by default ../.mirror beside the checkout). The shared bench folder
(--shared or PAPER2RUN_BENCH_SHARED, by default ../shared from the checkout) holds checkout.py and dev-repos.txt.
../shared/bench/checkout.py writes a one-commit checkout dated now; the planner and the time-travel repair read the
commit date, so this script re-dates that commit to the upstream HEAD's author and committer dates. Writes
DEST/list.txt (one local path per line) for bench_reproduce.py.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _default(env: str, relative: str) -> Path:
    value = os.environ.get(env)
    return Path(value) if value else (ROOT / relative).resolve()


def prepare(slug: str, dest_root: Path, mirrors: Path, checkout: Path) -> Path:
    git_dir = mirrors / slug.replace("/", "+") / "repo"
    if (git_dir / ".git").exists():  # a snapshot with a work tree; others are bare
        git_dir = git_dir / ".git"
    if not git_dir.exists():
        sys.exit(f"{slug}: no snapshot at {git_dir}; fetch it first (fetch tool, github:{slug})")
    dest = dest_root / slug.split("/")[1]
    subprocess.run([sys.executable, str(checkout), str(git_dir), str(dest)], check=True)
    date = subprocess.run(["git", f"--git-dir={git_dir}", "log", "-1", "--format=%aI"], capture_output=True,
                          text=True, check=True).stdout.strip()
    env = {**os.environ, "GIT_COMMITTER_DATE": date}
    subprocess.run(["git", "-C", str(dest), "-c", "user.email=bench@local", "-c", "user.name=bench", "commit", "-q",
                    "--amend", "--no-edit", f"--date={date}"], check=True, env=env)
    print(f"{dest}: dated {date}")
    return dest


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("list", type=Path, nargs="?", help="owner/name per line (default: SHARED/bench/dev-repos.txt)")
    ap.add_argument("--dest", type=Path, default=Path("bench-repos"))
    ap.add_argument("--mirrors", type=Path, default=_default("PAPER2RUN_BENCH_MIRRORS", "../.mirror"))
    ap.add_argument("--shared", type=Path, default=_default("PAPER2RUN_BENCH_SHARED", "../shared"))
    args = ap.parse_args()
    listing = args.list or args.shared / "bench" / "dev-repos.txt"
    checkout = args.shared / "bench" / "checkout.py"
    for needed in (listing, checkout, args.mirrors):
        if not needed.exists():
            sys.exit(f"error: {needed} does not exist (see --mirrors, --shared)")
    slugs = [s.strip() for s in listing.read_text().splitlines() if s.strip() and not s.startswith("#")]
    paths = [prepare(s, args.dest, args.mirrors, checkout) for s in slugs]
    (args.dest / "list.txt").write_text("".join(f"{p.resolve()}\n" for p in paths))
    print(f"{len(paths)} repositories; list in {args.dest / 'list.txt'}")


if __name__ == "__main__":
    main()
