"""The run store: list past run folders and load any of them back into the contracts."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from ..contracts import (
    DiagnosisDecision,
    EnvPlan,
    Event,
    HumanDecision,
    PaperInfo,
    RepoFacts,
    RunMetadata,
    parse_event,
)


class RunSummary(BaseModel):
    """One row of the runs browser."""

    run_id: str
    path: Path
    repo: str
    status: str
    started_at: datetime | None = None
    duration_s: float | None = None
    attempts: int = 0
    dry_run: bool = False
    error: str | None = None


class AttemptRecord(BaseModel):
    number: int
    path: Path
    plan: EnvPlan | None = None
    dockerfile: str | None = None
    diagnosis: DiagnosisDecision | None = None
    decision: HumanDecision | None = None
    logs: dict[str, Path] = {}


class LoadedRun(BaseModel):
    path: Path
    metadata: RunMetadata
    facts: RepoFacts | None = None
    plan: EnvPlan | None = None
    paper: PaperInfo | None = None
    report: str | None = None
    instructions: str | None = None
    attempts: list[AttemptRecord] = []


M = TypeVar("M", bound=BaseModel)

#: A `running` run whose metadata.json has not been rewritten for this long is abandoned (its process died, or the
#: machine did); a live run rewrites it every pipeline.HEARTBEAT_S.
ABANDONED_AFTER_S = 120.0


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def abandoned(meta: RunMetadata, meta_path: Path, now: datetime | None = None) -> bool:
    """Whether a run recorded as `running` has no live process behind it: on this host its pid is gone; anywhere,
    its heartbeat (or, for runs older than the heartbeat, the file's own time) stopped ABANDONED_AFTER_S ago."""
    if meta.status != "running":
        return False
    if meta.pid is not None and meta.host == socket.gethostname() and not _pid_alive(meta.pid):
        return True
    now = now or datetime.now(UTC)
    beat = meta.heartbeat_at
    if beat is None:
        try:
            beat = datetime.fromtimestamp(meta_path.stat().st_mtime, UTC)
        except OSError:
            return False
    return (now - beat).total_seconds() > ABANDONED_AFTER_S


def shown_status(meta: RunMetadata, meta_path: Path) -> str:
    """The status the runs browser shows: the recorded one, except that a dead `running` run is `abandoned`."""
    return "abandoned" if abandoned(meta, meta_path) else meta.status


def _read_model(path: Path, model: type[M]) -> M | None:
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValidationError, ValueError):
        return None


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def is_run_folder(path: Path) -> bool:
    return (path / "metadata.json").is_file() or (path / "events.jsonl").is_file()


def list_runs(out: Path) -> list[RunSummary]:
    """Every run folder under `out`, newest first. A broken folder is listed with its error, not hidden."""
    if not out.is_dir():
        return []
    rows: list[RunSummary] = []
    for child in out.iterdir():
        if not child.is_dir() or not is_run_folder(child):
            continue
        meta_path = child / "metadata.json"
        try:
            meta = RunMetadata.model_validate_json(meta_path.read_bytes())
        except (OSError, ValidationError, ValueError) as exc:
            rows.append(RunSummary(run_id=child.name, path=child, repo="?", status="unreadable", error=str(exc)[:200]))
            continue
        rows.append(
            RunSummary(
                run_id=meta.run_id,
                path=child,
                repo=meta.repo,
                status=shown_status(meta, meta_path),
                started_at=meta.started_at,
                duration_s=meta.duration_s,
                attempts=len(meta.attempts),
                dry_run=meta.dry_run,
            )
        )
    rows.sort(key=lambda r: (r.started_at is not None, r.started_at or datetime.min, r.run_id), reverse=True)
    return rows


def load_attempt(path: Path, number: int) -> AttemptRecord:
    logs = {p.stem: p for p in sorted(path.glob("*.log"))}
    return AttemptRecord(
        number=number,
        path=path,
        plan=_read_model(path / "plan.json", EnvPlan),
        dockerfile=_read_text(path / "Dockerfile"),
        diagnosis=_read_model(path / "diagnosis.json", DiagnosisDecision),
        decision=_read_model(path / "decision.json", HumanDecision),
        logs=logs,
    )


def load_run(path: Path) -> LoadedRun:
    """Load a run folder back into the same models the engine wrote. Raises ValueError if it is not one."""
    meta = _read_model(path / "metadata.json", RunMetadata)
    if meta is None:
        raise ValueError(f"{path} is not a readable run folder (no valid metadata.json)")
    attempts = []
    base = path / "attempts"
    if base.is_dir():
        for child in sorted(base.iterdir()):
            if child.is_dir() and child.name.isdigit():
                attempts.append(load_attempt(child, int(child.name)))
    return LoadedRun(
        path=path,
        metadata=meta,
        facts=_read_model(path / "repo_facts.json", RepoFacts),
        plan=_read_model(path / "plan.json", EnvPlan),
        paper=_read_model(path / "paper.json", PaperInfo),
        report=_read_text(path / "report.md"),
        instructions=_read_text(path / "INSTRUCTIONS.md"),
        attempts=attempts,
    )


def replay_events(path: Path) -> Iterator[Event]:
    """Yield the typed events of a run folder in order. A torn last line (crash mid-write) is skipped."""
    events = path / "events.jsonl"
    with open(events, "rb") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            try:
                yield parse_event(raw)
            except (ValidationError, json.JSONDecodeError, ValueError):
                continue
