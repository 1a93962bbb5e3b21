"""Every rule fixture log against the deterministic plan of every benchmark repository, without building: the
decision and the rendered Dockerfile of each repair, to compare two commits when no recorded runs are at hand.

    .venv/bin/python benchmarks/rerule.py bench-repos/all.txt > rules-A.txt   # at one commit, then diff with B

A build failure is taken to be the last RUN before the source copy (where the dependencies install); the smoke
rules' logs are smoke failures. The repair's Dockerfile (not its fingerprint) is printed, so a change of the plan's
representation that builds the same thing shows no difference.
"""

from __future__ import annotations

import difflib
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from replan import LOCAL, benchmark_plans  # noqa: E402

from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt  # noqa: E402
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser  # noqa: E402
from paper2run_tui.engine.ports import CancelToken, ListSink  # noqa: E402
from paper2run_tui.engine.render.dockerfile import render_dockerfile  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "rule_logs"
SMOKE = {"data-file-missing", "smoke-command-not-found", "cuda-on-cpu", "needs-terminal", "help-not-supported",
         "static-imports-missing"}


def _body(text: str) -> list[str]:
    return [row for row in text.splitlines() if row.strip() and not row.startswith("#")]


def main() -> None:
    for repo, facts, plan in benchmark_plans([Path(a) for a in sys.argv[1:]]):
        rows = _body(render_dockerfile(plan, facts=facts, repo_dir=repo))
        copy = next(i for i, r in enumerate(rows) if r.startswith("COPY . "))
        failing = next(r for r in reversed(rows[:copy]) if r.startswith("RUN "))
        for log in sorted(FIXTURES.glob("*.log")):
            outcome = "smoke-failed" if log.stem in SMOKE else "build-failed"
            with tempfile.TemporaryDirectory() as tmp:
                adir = Path(tmp)
                name = "build_stdout" if outcome == "build-failed" else "smoke_stderr"
                (adir / f"{name}.log").write_text(log.read_text())
                attempt = FailedAttempt(number=1, plan=plan, dockerfile="", outcome=outcome, attempt_dir=adir,
                                        failing_step=failing if outcome == "build-failed" else None)
                dctx = DiagnosisContext(facts=facts, repo_dir=repo, attempt=attempt, local_images=LOCAL)
                d = RulesDiagnoser().diagnose(dctx, ListSink(), CancelToken())
            reason = d.reason.split("; repair: ")[0]  # the what-changed summary is a description of the diff below
            print(f"{repo.name} {log.stem}: {d.decision} {d.matched_rules[:1]} {reason[:150]}")
            if d.new_plan is not None:
                new = _body(render_dockerfile(d.new_plan, facts=facts, repo_dir=repo))
                for row in list(difflib.unified_diff(rows, new, lineterm="", n=0))[2:]:
                    print(f"    {row}")


if __name__ == "__main__":
    main()
