"""The deterministic plan of each repository in a list, one line each, to compare two commits without building.

    .venv/bin/python benchmarks/replan.py bench-repos/list.txt > plans-A.txt   # at one commit
    git checkout B && .venv/bin/python benchmarks/replan.py bench-repos/list.txt > plans-B.txt
    diff plans-A.txt plans-B.txt

With --dockerfile, each repository's rendered Dockerfile follows its line (indented, without the header comment):
the comparison that still means something when the plan's representation changes (the fingerprint then differs
for the same build).

A benchmark table of commit A stands for commit B where the plans are the same and `rediagnose.py` finds no
diagnosis that would change. Local images: the three the benchmark machines have.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper2run_tui.engine.analyze import analyze_repo  # noqa: E402
from paper2run_tui.engine.contracts import EnvPlan, RepoFacts  # noqa: E402
from paper2run_tui.engine.plan.base import PlanContext  # noqa: E402
from paper2run_tui.engine.plan.deterministic import DeterministicPlanner  # noqa: E402
from paper2run_tui.engine.ports import CancelToken, ListSink  # noqa: E402
from paper2run_tui.engine.render.dockerfile import render_dockerfile  # noqa: E402

LOCAL = ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]


def benchmark_plans(listings: list[Path]) -> Iterator[tuple[Path, RepoFacts, EnvPlan]]:
    """Each listed repository (a local checkout per line) with its facts, as of its commit, and its deterministic
    plan on the benchmark machines' images. rerule.py diagnoses these same plans."""
    for listing in listings:
        for line in listing.read_text().splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            repo = Path(line.strip())
            stamp = subprocess.run(["git", "-C", str(repo), "log", "-1", "--format=%aI"], capture_output=True,
                                   text=True).stdout.strip()
            facts = analyze_repo(repo, commit_date=datetime.fromisoformat(stamp) if stamp else None)
            ctx = PlanContext(facts=facts, repo_dir=repo, local_images=LOCAL, gpu_available=False)
            yield repo, facts, DeterministicPlanner().plan(ctx, ListSink(), CancelToken()).plan


def main() -> None:
    args = sys.argv[1:]
    dockerfile = "--dockerfile" in args
    for repo, facts, plan in benchmark_plans([Path(a) for a in args if a != "--dockerfile"]):
        print(f"{repo.name}\t{plan.fingerprint()}\t{plan.base_image}\t{plan.exclude_newer or '-'}\t"
              f"{plan.smoke_command[:70]}")
        if dockerfile:
            text = render_dockerfile(plan, facts=facts, repo_dir=repo)
            for row in text.splitlines():
                if row.strip() and not row.startswith("# Rendered by"):
                    print(f"    {row}")


if __name__ == "__main__":
    main()
