"""Resume a past run from a chosen attempt: a new run folder, the old attempt's plan as the first plan."""

from __future__ import annotations

from pathlib import Path

from .build.base import Executor
from .config import RunConfig
from .contracts import EnvPlan
from .diagnose.base import Diagnoser
from .errors import UserError
from .pipeline import RunOutcome, run_pipeline
from .plan.base import Planner
from .ports import CancelToken, EventSink, Reviewer
from .record.store import LoadedRun, load_run


def resume_config(run_dir: Path, from_attempt: int | None, **overrides: object) -> tuple[RunConfig, EnvPlan | None]:
    """The config and first plan for resuming `run_dir` at `from_attempt` (None: its last attempt).

    The plan is the attempt's `next_plan.json` (a repair that ran out of attempts) when present, else the plan
    the attempt ran. A run stopped before its first attempt resumes from the start (plan None). The repository is
    taken from the old run's own checkout when that checkout was completed (repo.json), so a resume works offline.
    """
    loaded = load_run(run_dir)
    if from_attempt is None:
        if not loaded.attempts:
            return _config(run_dir, loaded, overrides), None
        from_attempt = loaded.attempts[-1].number
    attempt = next((a for a in loaded.attempts if a.number == from_attempt), None)
    if attempt is None:
        numbers = ", ".join(str(a.number) for a in loaded.attempts) or "none"
        raise UserError(f"run {loaded.metadata.run_id} has no attempt {from_attempt}", f"attempts: {numbers}")
    next_plan = attempt.path / "next_plan.json"
    proposed = attempt.path / "proposed_plan.json"  # a run stopped at the gate: the plan it was asked about
    plan = EnvPlan.model_validate_json(next_plan.read_bytes()) if next_plan.is_file() else attempt.plan
    if plan is None and proposed.is_file():
        plan = EnvPlan.model_validate_json(proposed.read_bytes())
    if plan is None:
        raise UserError(f"attempt {from_attempt} of {loaded.metadata.run_id} has no readable plan.json")
    return _config(run_dir, loaded, overrides), plan


def _config(run_dir: Path, loaded: LoadedRun, overrides: dict[str, object]) -> RunConfig:
    meta = loaded.metadata
    repo_copy = run_dir / "repo"
    complete = repo_copy.is_dir() and (run_dir / "repo.json").is_file()  # an interrupted acquire left a part
    values: dict[str, object] = {
        "repo": str(repo_copy) if complete else meta.repo,
        "out": run_dir.parent,
        "max_attempts": meta.max_attempts,
        "approve": meta.approve,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
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
    **overrides: object,
) -> RunOutcome:
    if from_attempt is None:
        attempts = load_run(run_dir).attempts
        from_attempt = attempts[-1].number if attempts else None
    config, plan = resume_config(run_dir, from_attempt, **overrides)
    where = f"{from_attempt:02d}" if plan is not None and from_attempt is not None else "start"
    return run_pipeline(
        config, sink, reviewer, cancel, planner=planner, diagnoser=diagnoser, executor=executor,
        initial_plan=plan, resumed_from=f"{run_dir.name}/{where}",
    )
