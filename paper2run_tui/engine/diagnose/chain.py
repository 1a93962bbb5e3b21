"""Known-failure rules first, then the deterministic plan if it was never tried, then the LLM: the order the
product promises. A model is asked only where nothing cheaper and explainable has an answer."""

from __future__ import annotations

from ..contracts import DiagnosisDecision
from ..plan.base import PlanContext, Planner
from ..ports import CancelToken, EventSink
from .base import Diagnoser, DiagnosisContext


class DiagnosisChain:
    """A rule that matched decides (its repair is cheap and explainable; its stop, e.g. missing data, is
    usually right). When no rule matched and the deterministic plan has not run yet (the failed plan was the
    model's), it runs next: a weak model's plan must not cost the run the plan it would have had without one.
    Only then, the LLM diagnoses if one is configured, seeing what was tried."""

    def __init__(self, rules: Diagnoser | None, llm: Diagnoser | None = None, *,
                 deterministic: Planner | None = None) -> None:
        self.rules = rules
        self.llm = llm
        self.deterministic = deterministic

    def diagnose(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken) -> DiagnosisDecision:
        ruled = self.rules.diagnose(ctx, sink, cancel) if self.rules is not None else None
        if ruled is not None and ruled.matched_rules:
            return ruled
        cancel.raise_if_cancelled()
        untried = self._untried_deterministic(ctx, sink, cancel)
        if untried is not None:
            return untried
        if self.llm is not None:
            ctx.matched_rules = []
            return self.llm.diagnose(ctx, sink, cancel)
        if ruled is not None:
            return ruled
        return DiagnosisDecision(
            decision="stop", reason="no diagnoser is configured", confidence="low", source="fallback"
        )

    def _untried_deterministic(self, ctx: DiagnosisContext, sink: EventSink,
                               cancel: CancelToken) -> DiagnosisDecision | None:
        if self.deterministic is None:
            return None
        pctx = PlanContext(facts=ctx.facts, repo_dir=ctx.repo_dir, paper=ctx.paper, local_images=ctx.local_images,
                           base_image_map=ctx.base_image_map, policy=ctx.policy)
        plan = self.deterministic.plan(pctx, sink, cancel).plan
        if plan.fingerprint() in ctx.tried_fingerprints():
            return None
        return DiagnosisDecision(
            decision="repair", confidence="medium", source="fallback", new_plan=plan,
            reason=(f"attempt {ctx.attempt.number} ran the model's plan and it failed ({ctx.attempt.outcome}); no "
                    "known-failure rule matched, and the deterministic plan has not been tried: it runs next"),
        )
