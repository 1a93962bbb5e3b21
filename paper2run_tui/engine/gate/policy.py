"""The human gate: ask the reviewer, or decide by policy (headless --approve auto|never)."""

from __future__ import annotations

from ..config import ApproveMode
from ..contracts import GateRequest, HumanDecision
from ..ports import CancelToken, Reviewer


class PolicyReviewer:
    """Decides without a person: 'auto' approves every plan, 'never' rejects every repair."""

    def __init__(self, mode: ApproveMode) -> None:
        if mode == "ask":
            raise ValueError("PolicyReviewer decides by policy; 'ask' needs a person")
        self.mode = mode

    def review(self, request: GateRequest, cancel: CancelToken) -> HumanDecision:
        cancel.raise_if_cancelled()
        if self.mode == "auto":
            return HumanDecision(action="approve", decided_by="policy")
        return HumanDecision(
            action="reject",
            reason=f"the approval policy is 'never': {request.kind} plans are not applied without a person",
            decided_by="policy",
        )


def decide(mode: ApproveMode, reviewer: Reviewer | None, request: GateRequest, cancel: CancelToken) -> HumanDecision:
    """The gate's one entry point. 'ask' without a reviewer is a programming error, not a silent approve."""
    if mode != "ask":
        return PolicyReviewer(mode).review(request, cancel)
    if reviewer is None:
        raise RuntimeError("approval mode 'ask' needs a reviewer (the TUI or a terminal prompt)")
    decision = reviewer.review(request, cancel)
    cancel.raise_if_cancelled()
    return decision
