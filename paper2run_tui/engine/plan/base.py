"""The planner port: facts (and paper) in, one complete EnvPlan out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pydantic import BaseModel, Field

from ..contracts import EnvPlan, PaperInfo, RepoFacts
from ..contracts.policy import PolicyContext
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
    #: The run's plan policy settings: a model's plan is held to the policy before it is proposed.
    policy: PolicyContext | None = None
    #: Pull an image onto the engine; True when it is there after (None: no engine, or one that cannot pull).
    pull_image: Callable[[str], bool] | None = None


class ModelReview(BaseModel):
    """What became of the model's plan: the floor under the model, counted (benchmarks/bench_reproduce.py)."""

    outcome: str = Field(description="valid (first answer), repaired (in the corrective round), replaced (by the "
                                      "deterministic plan)")
    policy_refusals: int = Field(default=0, description="Answers the plan policy refused")
    problems: list[str] = Field(default_factory=list, description="Why answers were sent back or not used")
    proposed: str = Field(default="", description="The model's last unused answer, when it was replaced")


class PlanResult(BaseModel):
    plan: EnvPlan
    source: str = Field(description="deterministic, llm, llm-fallback-deterministic")
    messages: list[str] = Field(default_factory=list, description="Notes for the person (fallbacks taken, choices)")
    warnings: list[str] = Field(default_factory=list, description="Notes the person should not miss (a model's plan "
                                                                   "not used); the pipeline emits them once")
    review: ModelReview | None = Field(default=None, description="How a model's plan fared (LLM planner only)")


class Planner(Protocol):
    def plan(self, ctx: PlanContext, sink: EventSink, cancel: CancelToken) -> PlanResult: ...
