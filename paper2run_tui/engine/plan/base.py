"""The planner port: facts (and paper) in, one complete EnvPlan out."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from ..contracts import EnvPlan, PaperInfo, RepoFacts
from ..ports import CancelToken, EventSink


@dataclass
class PlanContext:
    facts: RepoFacts
    repo_dir: Path
    paper: PaperInfo | None = None
    #: Images present on the engine (tags), so a planner can pick one that exists offline.
    local_images: list[str] = field(default_factory=list)
    #: Whether the engine has a GPU runtime (None: not known, e.g. a dry run without an engine).
    gpu_available: bool | None = None
    #: Python version -> image overrides from the configuration (mirrors, offline machines).
    base_image_map: dict[str, str] = field(default_factory=dict)
    #: Plans a person rejected, with their reason: a new plan must differ and should address it.
    rejected: list[tuple[EnvPlan, str]] = field(default_factory=list)
    #: Plans that already failed in this run.
    failed: list[EnvPlan] = field(default_factory=list)
    run_id: str = ""


class PlanResult(BaseModel):
    plan: EnvPlan
    source: str = Field(description="deterministic, llm, llm-fallback-deterministic")
    messages: list[str] = Field(default_factory=list, description="Notes for the person (fallbacks taken, choices)")


class Planner(Protocol):
    def plan(self, ctx: PlanContext, sink: EventSink, cancel: CancelToken) -> PlanResult: ...
