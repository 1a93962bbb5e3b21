"""The batch's own record (batch.json in the batch folder), rewritten atomically on every change: what a resume
reads to skip the finished repositories and re-queue the interrupted ones."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from ..record.atomic import write_json_atomic
from .listing import BatchItem

ItemState = Literal["queued", "running", "done", "interrupted"]


class BatchRow(BaseModel):
    item: BatchItem
    state: ItemState = "queued"
    status: str | None = Field(default=None, description="the run's final status (RunStatus), once done")
    reason: str = ""
    run_dir: str | None = None
    engine: str | None = Field(default=None, description="the pool member that ran it last")
    engines_tried: list[str] = Field(default_factory=list)
    phase: str | None = None
    attempt: int | None = None
    rung: str | None = None
    started_at: datetime | None = None
    seconds: float | None = None
    over_budget: bool = False
    job: str | None = Field(default=None, description="the cluster job id, when a cluster scheduler ran it")
    job_dir: str | None = Field(default=None, description="the job's folder (its log, its run folder); a resumed "
                                "batch follows the job there again instead of submitting it twice")
    excluded_nodes: list[str] = Field(default_factory=list, description="cluster nodes that failed under this "
                                      "repository's jobs; its next job goes in with --exclude of them")


class BatchState(BaseModel):
    version: int = 1
    list_path: str = ""
    rows: list[BatchRow] = Field(default_factory=list)
    started_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    def save(self, folder: Path) -> None:
        write_json_atomic(folder / "batch.json", self.model_dump(mode="json"))

    @classmethod
    def load(cls, folder: Path) -> BatchState | None:
        path = folder / "batch.json"
        if not path.is_file():
            return None
        return cls.model_validate_json(path.read_text())

    def merge_items(self, items: list[BatchItem]) -> None:
        """Keep what is known of the listed repositories; running or interrupted ones go back to the queue."""
        known = {row.item.key: row for row in self.rows}
        rows = []
        for item in items:
            row = known.get(item.key) or BatchRow(item=item)
            if row.state in ("running", "interrupted"):
                row.state, row.phase = "queued", None
            rows.append(row)
        self.rows = rows
        self.finished_at = None
