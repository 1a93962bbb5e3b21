"""Compare two attempts (of one run or of two runs) or two runs: what each ended as, and the plan and Dockerfile
diffs. UI-free; the TUI's compare screen and tests share it. The plan diff is the gate's (gate/plan_diff.py)."""

from __future__ import annotations

import difflib

from pydantic import BaseModel, Field

from ..gate.plan_diff import plan_diff
from .store import AttemptRecord, LoadedRun


class Comparison(BaseModel):
    a: str = Field(description="The first side's label, e.g. demo-2026…#1")
    b: str
    summary: list[str] = Field(default_factory=list, description="One line per field that says how each ended")
    plan_diff: str = Field(default="", description="Unified diff of the plans (empty: the same)")
    dockerfile_diff: str = Field(default="", description="Unified diff of the Dockerfiles (empty: the same)")


def text_diff(before: str | None, after: str | None, a: str, b: str) -> str:
    lines = difflib.unified_diff((before or "").splitlines(keepends=True), (after or "").splitlines(keepends=True),
                                 fromfile=a, tofile=b)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _attempt_line(run: LoadedRun, attempt: AttemptRecord | None) -> str:
    if attempt is None:
        return "no attempt"
    s = next((x for x in run.metadata.attempts if x.number == attempt.number), None)
    if s is None:
        return "not recorded in metadata.json"
    parts: list[str] = [s.outcome]
    if s.smoke_rung:
        parts.append(f"rung {s.smoke_rung}")
    if s.build_seconds is not None:
        parts.append(f"build {s.build_seconds:.1f} s")
    if s.smoke_seconds is not None:
        parts.append(f"smoke {s.smoke_seconds:.1f} s")
    if s.decision:
        parts.append(f"gate: {s.decision}")
    if s.failing_step:
        parts.append(f"failing step: {s.failing_step[:60]}")
    return " · ".join(parts)


def compare_attempts(run_a: LoadedRun, number_a: int, run_b: LoadedRun, number_b: int) -> Comparison:
    """Two attempts, of one run (run_a is run_b) or of two."""
    first = next((x for x in run_a.attempts if x.number == number_a), None)
    second = next((x for x in run_b.attempts if x.number == number_b), None)
    same_run = run_a.path == run_b.path
    a = f"attempt {number_a}" if same_run else f"{run_a.metadata.run_id}#{number_a}"
    b = f"attempt {number_b}" if same_run else f"{run_b.metadata.run_id}#{number_b}"
    return Comparison(
        a=a, b=b,
        summary=[f"{a}: {_attempt_line(run_a, first)}", f"{b}: {_attempt_line(run_b, second)}"],
        plan_diff=plan_diff(first.plan if first else None, second.plan if second else None, a=a, b=b),
        dockerfile_diff=text_diff(first.dockerfile if first else None, second.dockerfile if second else None,
                                  f"{a}/Dockerfile", f"{b}/Dockerfile"),
    )


def compare_runs(run_a: LoadedRun, run_b: LoadedRun) -> Comparison:
    """Two runs: how each ended, then their final plans (the last attempt's when no plan.json) and Dockerfiles."""
    a, b = run_a.metadata.run_id, run_b.metadata.run_id
    last_a = run_a.attempts[-1] if run_a.attempts else None
    last_b = run_b.attempts[-1] if run_b.attempts else None

    def line(run: LoadedRun) -> str:
        m = run.metadata
        took = f" · {m.duration_s:.1f} s" if m.duration_s is not None else ""
        rung = f" · rung {m.highest_smoke_rung}" if m.highest_smoke_rung else ""
        return (f"{m.run_id}: {m.status}{rung} · {len(m.attempts)} attempt(s){took} · {m.repo}"
                f"{' @ ' + m.commit_sha[:12] if m.commit_sha else ''} · {m.model or 'no model'}")

    plan_a = run_a.plan or (last_a.plan if last_a else None)
    plan_b = run_b.plan or (last_b.plan if last_b else None)
    return Comparison(
        a=a, b=b, summary=[line(run_a), line(run_b)],
        plan_diff=plan_diff(plan_a, plan_b, a=a, b=b),
        dockerfile_diff=text_diff(last_a.dockerfile if last_a else None, last_b.dockerfile if last_b else None,
                                  f"{a}/Dockerfile", f"{b}/Dockerfile"),
    )
