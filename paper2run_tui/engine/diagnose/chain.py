"""Known-failure rules first, then the LLM: the order the product promises."""

from __future__ import annotations

from ..contracts import DiagnosisDecision
from ..ports import CancelToken, EventSink
from .base import Diagnoser, DiagnosisContext


class DiagnosisChain:
    """A rule that matched decides (its repair is cheap and explainable; its stop, e.g. missing data, is
    usually right). When no rule matched, the LLM diagnoses if one is configured, seeing what was tried."""

    def __init__(self, rules: Diagnoser | None, llm: Diagnoser | None = None) -> None:
        self.rules = rules
        self.llm = llm

    def diagnose(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken) -> DiagnosisDecision:
        ruled = self.rules.diagnose(ctx, sink, cancel) if self.rules is not None else None
        if ruled is not None and ruled.matched_rules:
            return ruled
        cancel.raise_if_cancelled()
        if self.llm is not None:
            ctx.matched_rules = []
            return self.llm.diagnose(ctx, sink, cancel)
        if ruled is not None:
            return ruled
        return DiagnosisDecision(
            decision="stop", reason="no diagnoser is configured", confidence="low", source="fallback"
        )
