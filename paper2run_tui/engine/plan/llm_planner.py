"""The LLM planner: the facts (not the repo), a relevant paper excerpt, the local images and the containment
rules in; one validated EnvPlan out. Any failure falls back to the deterministic planner, and says so."""

from __future__ import annotations

import json
import re

from ..contracts import EnvPlan, Message, PaperInfo, RepoFacts
from ..llm.client import LlmClient, LlmError, schema_text
from ..llm.prompts import render_prompt
from ..ports import CancelToken, EventSink
from .base import PlanContext, Planner, PlanResult

_RELEVANT = re.compile(r"\b(python|pytorch|torch|tensorflow|jax|cuda|gpu|gpus|nvidia|v100|a100|rtx|cpu|memory|ram|"
                       r"version|install|requirements?|dependenc\w*|dataset|data set|download|checkpoint|pretrained|"
                       r"environment|docker|conda|pip|hardware|trained on|hours)\b", re.IGNORECASE)


def paper_excerpt(paper: PaperInfo | None, max_chars: int = 4000) -> str:
    """Sentences of the paper (or README) that speak of environment, versions, hardware and data."""
    if paper is None or not paper.text:
        return ""
    sentences = re.split(r"(?<=[.!?])\s+|\n{2,}", paper.text)
    picked: list[str] = []
    used = 0
    for s in sentences:
        s = " ".join(s.split())
        if 20 <= len(s) <= 600 and _RELEVANT.search(s) and s not in picked:
            if used + len(s) > max_chars:
                break
            picked.append(s)
            used += len(s)
    return "\n".join(f"- {s}" for s in picked)


def compact_facts(facts: RepoFacts) -> str:
    data = facts.model_dump(mode="json", exclude={"analysis_seconds", "files_seen", "files_skipped"})
    data["dependencies"] = data["dependencies"][:80]
    data["imports"] = [f"{i['module']} ({i['source']})" for i in data["imports"][:60]]
    data["smoke_candidates"] = data["smoke_candidates"][:12]
    data["data_expectations"] = data["data_expectations"][:20]
    data["gpu_markers"] = data["gpu_markers"][:10]
    return json.dumps(data, indent=1)[:30000]


class LlmPlanner:
    #: The gate tells the person that a rejection's reason reaches the planner (the model reads it).
    uses_rejection_reason = True

    def __init__(self, client: LlmClient, fallback: Planner) -> None:
        self.client = client
        self.fallback = fallback

    def plan(self, ctx: PlanContext, sink: EventSink, cancel: CancelToken) -> PlanResult:
        tried = {p.fingerprint() for p in ctx.failed} | {p.fingerprint() for p, _ in ctx.rejected}
        messages = [
            {"role": "system", "content": render_prompt(
                "plan_system", schema=schema_text(EnvPlan), local_images=ctx.local_images, gpu_available=False)},
            {"role": "user", "content": render_prompt(
                "plan_user", facts_json=compact_facts(ctx.facts), paper_excerpt=paper_excerpt(ctx.paper),
                rejected=[(p.model_dump_json(), r) for p, r in ctx.rejected],
                failed=[p.model_dump_json() for p in ctx.failed])},
        ]

        def new_plan(plan: EnvPlan) -> str | None:
            return "this plan was already tried or rejected; propose a different one" if plan.fingerprint() in tried else None

        try:
            plan = self.client.structured(messages, EnvPlan, purpose="plan", cancel=cancel, validate=new_plan)
        except LlmError as err:
            text = f"LLM planning failed ({err}); the deterministic planner made this plan"
            sink.emit(Message(level="warning", text=text))
            result = self.fallback.plan(ctx, sink, cancel)
            return PlanResult(plan=result.plan, source="llm-fallback-deterministic", messages=[*result.messages, text])
        return PlanResult(plan=plan, source="llm")
