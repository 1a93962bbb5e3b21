"""DiagnosisDecision: stop, or repair with a complete new plan."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator

from .plan import EnvPlan


class DiagnosisDecision(BaseModel):
    decision: Literal["stop", "repair"]
    reason: str = Field(description="What went wrong and why this decision; actionable for a person")
    confidence: Literal["low", "medium", "high"] = "medium"
    new_plan: EnvPlan | None = Field(default=None, description="Required when decision is 'repair': the full new plan")
    # --- extensions -------------------------------------------------------------
    failure_class: str | None = Field(default=None, description="e.g. missing-module, missing-data, python-too-new")
    matched_rules: list[str] = Field(default_factory=list, description="Ids of the known-failure rules that matched")
    matched_lines: dict[str, str] = Field(
        default_factory=dict, description="Rule id -> the log line its signature matched (shown highlighted in the log)"
    )
    source: Literal["rules", "llm", "fallback"] = "rules"

    @model_validator(mode="after")
    def _plan_matches_decision(self) -> DiagnosisDecision:
        if self.decision == "repair" and self.new_plan is None:
            raise ValueError("new_plan is required when decision is 'repair'")
        if self.decision == "stop" and self.new_plan is not None:
            raise ValueError("new_plan must be null when decision is 'stop'")
        return self
