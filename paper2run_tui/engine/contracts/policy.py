"""The plan policy's contract: what it was told (PolicyContext) and what it found (PolicyVerdict).

A finding either refuses the plan (nobody may run it) or flags it (a person must see it first; without a
person, a flag refuses too). The gate, the run folder (attempts/NN/policy.json) and the headless CLI all show
the same verdict.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Severity = Literal["refuse", "flag"]


class PolicyFinding(BaseModel):
    severity: Severity
    field: str = Field(description="Where in the plan, e.g. 'install_steps[2]' or 'env.PATH'")
    rule: str = Field(description="A short stable id, e.g. 'control-character', 'base-image', 'pipe-to-shell'")
    reason: str = Field(description="One sentence a person understands: what was found and why it matters")

    def line(self) -> str:
        return f"{self.severity} {self.field}: {self.reason}"


class PolicyContext(BaseModel):
    """What the policy needs besides the plan. Built once per run from the configuration."""

    base_image_map: dict[str, str] = Field(default_factory=dict, description="PAPER2RUN_BASE_IMAGE_MAP images")
    allowed_base_images: list[str] = Field(
        default_factory=list,
        description="Images the user allows (--allow-base-image, PAPER2RUN_ALLOWED_BASE_IMAGES); a trailing * "
        "allows a prefix",
    )
    person_reviews: bool = Field(
        default=False, description="A person decides at the gate (approve 'ask'); otherwise flags refuse"
    )


class PolicyVerdict(BaseModel):
    plan_fingerprint: str = ""
    source: str = Field(default="", description="Who wrote the plan: deterministic, llm, rules, user, resumed…")
    person_reviews: bool = False
    findings: list[PolicyFinding] = Field(default_factory=list)

    @property
    def refused(self) -> bool:
        return any(f.severity == "refuse" for f in self.findings)

    @property
    def flagged(self) -> bool:
        return any(f.severity == "flag" for f in self.findings)

    @property
    def blocks(self) -> bool:
        """Whether the plan cannot run as it is: refused, or flagged with no person to look at it."""
        return self.refused or (self.flagged and not self.person_reviews)

    @property
    def status(self) -> str:
        if self.refused:
            return "refused"
        if self.flagged:
            return "flagged for a person" if self.person_reviews else "refused (flagged, and no person reviews)"
        return "passed"

    def lines(self) -> list[str]:
        return [f.line() for f in self.findings]

    def summary(self) -> str:
        """One line: the status and the first reasons (run reasons, notes)."""
        if not self.findings:
            return "passed"
        shown = "; ".join(f"{f.field}: {f.reason}" for f in self.findings[:3])
        more = f" (+{len(self.findings) - 3} more)" if len(self.findings) > 3 else ""
        return f"{self.status}: {shown}{more}"
