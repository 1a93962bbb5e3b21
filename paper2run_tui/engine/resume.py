"""Resume a past run from any attempt: a new run folder that keeps the source's name and repository, continues
the attempt numbers, and starts from the old run's configuration (config.json) with the given overrides.

The first plan is the attempt's `next_plan.json` (a repair that ran out of attempts) when present, else the plan
the attempt ran; a client may replace it (an edit, `--plan FILE`) or ask the gate to show it before the build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .build.base import Executor
from .config import RunConfig
from .contracts import DiagnosisDecision, EnvPlan
from .diagnose.base import Diagnoser
from .errors import UserError
from .pipeline import ResumeSeed, RunOutcome, run_pipeline
from .plan.base import Planner
from .ports import CancelToken, EventSink, Reviewer
from .record.store import AttemptRecord, load_run


def stored_config(run_dir: Path) -> dict[str, Any]:
    """The old run's configuration: its config.json, or (runs made before it existed) what metadata.json kept."""
    path = run_dir / "config.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserError(f"{path} is not readable JSON: {exc}", "resume from another run, or fix the file") from None
        if isinstance(data, dict):
            data.setdefault("llm", {}).pop("key_sent", None)
            return data
    meta = load_run(run_dir).metadata
    llm = {"model": meta.model, "base_url": meta.base_url} if meta.model else {}
    return {"repo": meta.repo, "paper": meta.paper, "ref": meta.ref, "max_attempts": meta.max_attempts,
            "approve": meta.approve if meta.approve in ("ask", "auto", "never") else "auto", "llm": llm}


def key_was_sent(run_dir: Path) -> bool:
    """Whether the old run sent a key to its endpoint (a resume sends the same setting's key, read again)."""
    try:
        data = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
        return bool(data["llm"]["key_sent"])
    except (OSError, ValueError, KeyError, TypeError):
        return False


def _attempt_plan(attempt: AttemptRecord) -> EnvPlan | None:
    """The plan to resume an attempt with: its next_plan.json (a repair that ran out of attempts), else the plan
    it ran, else the plan its gate was asked about (a run stopped at the gate)."""
    for name in ("next_plan.json", "plan.json", "proposed_plan.json"):
        path = attempt.path / name
        if path.is_file():
            try:
                return EnvPlan.model_validate_json(path.read_bytes())
            except ValueError:
                continue
    return None


def resume_seed(run_dir: Path, from_attempt: int | None, *, plan: EnvPlan | None = None,
                gate: bool = False) -> ResumeSeed | None:
    """What the resumed run starts from: the attempt's plan (or `plan`), its diagnosis, the old checkout.

    `from_attempt` None: the last attempt; a run stopped before its first attempt has none, and starts again
    (None). A run stopped at the gate resumes with the plan it was asked about (proposed_plan.json). The old
    checkout is used only when its acquire completed (repo.json): an interrupted copy is partial."""
    loaded = load_run(run_dir)
    if from_attempt is None:
        with_plan = [a for a in loaded.attempts if _attempt_plan(a) is not None]
        if not with_plan:
            return None
        from_attempt = with_plan[-1].number
        stopped_before = with_plan[-1] is not loaded.attempts[-1]  # the next attempt never got its plan rendered
        repair = with_plan[-1].diagnosis
        if plan is None and stopped_before and isinstance(repair, DiagnosisDecision) and repair.new_plan:
            plan = repair.new_plan
    attempt = next((a for a in loaded.attempts if a.number == from_attempt), None)
    if attempt is None:
        numbers = ", ".join(str(a.number) for a in loaded.attempts) or "none"
        raise UserError(f"run {loaded.metadata.run_id} has no attempt {from_attempt}", f"attempts: {numbers}")
    if plan is None:
        plan = _attempt_plan(attempt)
    if plan is None:
        raise UserError(f"attempt {from_attempt} of {loaded.metadata.run_id} has no readable plan.json")
    diagnosis = attempt.diagnosis if isinstance(attempt.diagnosis, DiagnosisDecision) else None
    repo_copy = run_dir / "repo"
    complete = repo_copy.is_dir() and (run_dir / "repo.json").is_file()
    meta = loaded.metadata
    return ResumeSeed(
        plan=plan, label=f"{run_dir.name}/{from_attempt:02d}", first_attempt=from_attempt + 1,
        name=meta.repo_name or None, checkout=repo_copy if complete else None,
        diagnosis=diagnosis, previous=attempt.plan, gate=gate,
        # an attempt with a diagnosis failed: its plan is not worth proposing again in the resumed run
        earlier_failed=[a.plan for a in loaded.attempts if a.plan is not None and a.diagnosis is not None],
    )


def resume_config(run_dir: Path, **overrides: object) -> RunConfig:
    """The old run's configuration with `overrides` (None = keep) on top, in the same runs folder."""
    values = stored_config(run_dir)
    values["out"] = run_dir.parent
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "llm" and isinstance(value, dict):
            values["llm"] = {**values.get("llm", {}), **value}
        else:
            values[key] = value
    values.pop("run_id", None)
    return RunConfig.model_validate(values)


def resume_run(
    run_dir: Path,
    from_attempt: int | None,
    sink: EventSink,
    reviewer: Reviewer | None = None,
    cancel: CancelToken | None = None,
    *,
    planner: Planner | None = None,
    diagnoser: Diagnoser | None = None,
    executor: Executor | None = None,
    config: RunConfig | None = None,
    plan: EnvPlan | None = None,
    gate: bool = False,
    **overrides: object,
) -> RunOutcome:
    seed = resume_seed(run_dir, from_attempt, plan=plan, gate=gate)
    config = config if config is not None else resume_config(run_dir, **overrides)
    return run_pipeline(
        config, sink, reviewer, cancel, planner=planner, diagnoser=diagnoser, executor=executor, resume=seed,
    )
