"""The human gate: what is asked (GateRequest) and what the person answers (HumanDecision)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from .diagnosis import DiagnosisDecision
from .plan import EnvPlan
from .policy import PolicyContext, PolicyVerdict
from .render import DockerfileInputs


class GateRequest(BaseModel):
    attempt: int = Field(description="The attempt number the proposed plan would run as")
    kind: Literal["initial", "repair"]
    proposed: EnvPlan
    previous: EnvPlan | None = None
    diagnosis: DiagnosisDecision | None = None
    plan_source: str = Field(default="", description="deterministic, llm, rules, user")
    #: What will be built, and what the plan policy found: the gate shows both beside the JSON.
    verdict: PolicyVerdict | None = None
    dockerfile: str = Field(default="", description="The proposed plan rendered (empty when it cannot be)")
    previous_dockerfile: str = Field(default="", description="The previous attempt's Dockerfile, for the diff")
    #: So the gate re-renders and re-checks an edit exactly as the engine will.
    render_inputs: DockerfileInputs | None = None
    policy: PolicyContext | None = None
    replan_uses_reason: bool = Field(
        default=True, description="Whether the planner asked again after a rejection reads its reason (an LLM does)"
    )


class HumanDecision(BaseModel):
    action: Literal["approve", "edit", "reject"]
    plan: EnvPlan | None = Field(default=None, description="The edited plan (action 'edit')")
    reason: str | None = Field(default=None, description="Why it was rejected (action 'reject')")
    then: Literal["stop", "ask-again"] = Field(
        default="stop", description="After a rejection: stop the run, or ask the planner for another plan with the reason"
    )
    decided_by: Literal["person", "policy"] = "person"

    @model_validator(mode="after")
    def _fields_match_action(self) -> HumanDecision:
        if self.action == "edit" and self.plan is None:
            raise ValueError("an 'edit' decision carries the edited plan")
        if self.action == "reject" and not (self.reason and self.reason.strip()):
            raise ValueError("a 'reject' decision carries a reason")
        return self
