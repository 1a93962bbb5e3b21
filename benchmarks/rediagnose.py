"""Re-diagnose recorded failures with today's rules, without building anything.

    .venv/bin/python benchmarks/rediagnose.py RUNS_DIR [RUNS_DIR ...]

For every failed attempt in every run folder: the recorded diagnosis (the rules of the commit that ran it) next to
what the current rules decide on the same logs, plan and facts. A rule change that would have changed a benchmark
run shows up here; one that would not is shown not to. Local images are taken as the engine has them now.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper2run_tui.engine.contracts import DiagnosisDecision, EnvPlan, RepoFacts  # noqa: E402
from paper2run_tui.engine.diagnose.base import DiagnosisContext, FailedAttempt  # noqa: E402
from paper2run_tui.engine.diagnose.rules_diagnoser import RulesDiagnoser  # noqa: E402
from paper2run_tui.engine.ports import CancelToken, ListSink  # noqa: E402


def _local_images() -> list[str]:
    try:
        import docker

        return sorted({t for image in docker.from_env(timeout=10).images.list() for t in image.tags})
    except Exception:  # noqa: BLE001 - no engine: the planner's usual three
        return ["python:3.9-slim", "python:3.11-slim", "python:3.13-slim"]


def rediagnose(run_dir: Path, local_images: list[str]) -> list[tuple[int, str, str, bool]]:
    """[(attempt, recorded, now, same)] for each attempt that has a diagnosis.json."""
    facts = RepoFacts.model_validate_json((run_dir / "repo_facts.json").read_text())
    meta = json.loads((run_dir / "metadata.json").read_text())
    history: list[FailedAttempt] = []
    rows = []
    for summary in meta.get("attempts", []):
        adir = run_dir / "attempts" / f"{summary['number']:02d}"
        if not (adir / "diagnosis.json").exists():
            continue
        plan = EnvPlan.model_validate_json((adir / "plan.json").read_text())
        failed = FailedAttempt(number=summary["number"], plan=plan, dockerfile="", outcome=summary["outcome"],
                               attempt_dir=adir, exit_code=summary.get("exit_code"),
                               failing_step=summary.get("failing_step"))
        ctx = DiagnosisContext(facts=facts, repo_dir=run_dir / "repo", attempt=failed, history=list(history),
                               local_images=local_images)
        recorded = DiagnosisDecision.model_validate_json((adir / "diagnosis.json").read_text())
        now = RulesDiagnoser().diagnose(ctx, ListSink(), CancelToken())
        same = (recorded.decision == now.decision and recorded.matched_rules[:1] == now.matched_rules[:1]
                and (recorded.new_plan.fingerprint() if recorded.new_plan else None)
                == (now.new_plan.fingerprint() if now.new_plan else None))
        rows.append((summary["number"], f"{recorded.decision} {recorded.matched_rules[:1]}: {recorded.reason[:90]}",
                     f"{now.decision} {now.matched_rules[:1]}: {now.reason[:90]}", same))
        history.append(failed)
    return rows


def main() -> None:
    local = _local_images()
    changed = 0
    for root in map(Path, sys.argv[1:]):
        for run_dir in sorted(p for p in root.iterdir() if (p / "metadata.json").exists()):
            for attempt, recorded, now, same in rediagnose(run_dir, local):
                changed += not same
                print(f"{run_dir.name} #{attempt}: {'same' if same else 'CHANGED'}\n  recorded: {recorded}"
                      + ("" if same else f"\n  now:      {now}"))
    print(f"{changed} diagnosis(es) would change with the current rules")


if __name__ == "__main__":
    main()
