"""The LLM planner: the facts (not the repo), a relevant paper excerpt, the local images and the containment
rules in; one validated EnvPlan out.

A floor under the model: its plan is held to the schema and to the plan policy (engine/policy); the problems go
back to it once; after that (or any endpoint failure) the deterministic plan is used, and the result says what
the model proposed and why it was not used. A weak model can cost a little time, never a worse plan."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from ..contracts import EnvPlan, PaperInfo, RepoFacts
from ..contracts.policy import PolicyContext
from ..llm.budget import Fitted, fit
from ..llm.client import LlmClient, LlmError, schema_text
from ..llm.prompts import render_prompt
from ..policy import check_plan
from ..policy.images import image_allowed
from ..ports import CancelToken, EventSink
from .base import ModelReview, PlanContext, Planner, PlanResult

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


#: How many of each fact list the prompt shows: in full, then shorter when the context window is small.
FACT_LIMITS = {"dependencies": 80, "imports": 60, "smoke_candidates": 12, "data_expectations": 20, "gpu_markers": 10,
               "local_modules": 40}
SHORT_FACTS = {"dependencies": 25, "imports": 15, "smoke_candidates": 5, "data_expectations": 5, "gpu_markers": 3,
               "local_modules": 15}
SHORTEST_FACTS = {"dependencies": 10, "imports": 0, "smoke_candidates": 3, "data_expectations": 2, "gpu_markers": 1,
                  "local_modules": 8}
MINIMAL_FACTS = {"dependencies": 10, "imports": 0, "smoke_candidates": 2, "data_expectations": 1, "gpu_markers": 1,
                 "local_modules": 3}
#: Detail inside each fact a small window can spare: where a line is, why a candidate scored as it did.
_DETAIL = ("line", "reason", "score", "bytes", "share")


def compact_facts(facts: RepoFacts, limits: dict[str, int] | None = None, terse: bool = False,
                  bare: bool = False) -> str:
    """The facts as JSON without empty fields; `limits` caps the long lists; `terse` writes each dependency as
    its requirement line and where it is ("torch>=2 (requirements.txt:3)"), a quarter of the tokens."""
    limits = {**FACT_LIMITS, **(limits or {})}
    data = facts.model_dump(mode="json", exclude={"analysis_seconds", "files_seen", "files_skipped"})
    data["imports"] = [f"{i['module']} ({i['source']})" for i in data["imports"]]
    if terse:
        data["dependencies"] = [f"{d['raw'] or d['name'] + (d['specifier'] or '')} ({d['source']}"
                                f"{':' + str(d['line']) if d.get('line') else ''})" for d in data["dependencies"]]
    for name, limit in limits.items():
        items = data.get(name) or []
        data[name] = items[:limit]
        if len(items) > limit:  # the model sees that the list goes on
            data[f"{name}_not_shown"] = len(items) - limit
    shown = _without_detail(data) if bare else data
    return json.dumps(_without_empty(shown), ensure_ascii=False)[:30000]


def digest_facts(facts: RepoFacts, dependencies: int = 10) -> str:
    """The facts a plan hangs on, in the fewest tokens, for windows of 2k: one entry per kind, lists as short
    strings ("pyproject.toml (pyproject-pep621)"), the Python hints folded into one line per source."""
    hints: dict[str, list[str]] = {}
    for hint in facts.python_hints:
        hints.setdefault(hint.source, []).append(hint.spec if hint.kind == "classifier" else f"{hint.kind} {hint.spec}")
    terse = json.loads(compact_facts(facts, {"dependencies": dependencies}, terse=True))
    data = {
        "name": facts.name,
        "language": facts.primary_language,
        "managers": facts.managers,
        "manifests": [f"{m.source} ({m.kind})" for m in facts.manifests][:6],
        "dependencies": terse.get("dependencies", []),
        "dependencies_not_shown": terse.get("dependencies_not_shown"),
        "python": [f"{source}: {', '.join(specs)}" for source, specs in hints.items()][:3],
        "smoke_candidates": [c.command for c in facts.smoke_candidates if not c.needs_data][:3],
        "needs_gpu": any(m.hard for m in facts.gpu_markers) or None,
        "data": [d.target for d in facts.data_expectations][:2],
        "readme_installs": [i.command for i in facts.readme_installs][:2],
        "has_tests": facts.has_tests or None,
    }
    return json.dumps(_without_empty(data), ensure_ascii=False)


def _without_detail(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_detail(v) for k, v in value.items() if k not in _DETAIL}
    if isinstance(value, list):
        return [_without_detail(v) for v in value]
    return value


def plan_prompt(ctx: PlanContext) -> Callable[[int | None, float], Fitted]:
    """The planning prompt, cut to the budget least useful first: long fact lists, the paper excerpt, the schema's
    descriptions, older failed or rejected plans, the local images beyond six; last, for the smallest windows,
    the rules' explanations and the facts' detail (a 135M model under 2048 tokens still gets asked)."""

    policy = ctx.policy or PolicyContext(base_image_map=ctx.base_image_map)
    # only the local images a plan may use: an engine also holds test and tool images, and a model told to prefer
    # them proposes a base image the plan policy then refuses
    usable = [i for i in ctx.local_images if image_allowed(i, policy.base_image_map, policy.allowed_base_images)]

    def render(k: dict[str, object]) -> list[dict[str, str]]:
        keep = int(k.get("plans", 99))  # type: ignore[call-overload]
        images = usable[: int(k.get("images", len(usable)))]  # type: ignore[call-overload]
        return [
            {"role": "system", "content": render_prompt(
                "plan_system", schema=schema_text(EnvPlan, int(k.get("schema", 0))),  # type: ignore[call-overload]
                local_images=images, gpu_available=False, short_rules=bool(k.get("short_rules")))},
            {"role": "user", "content": render_prompt(
                "plan_user", facts_json=digest_facts(ctx.facts) if k.get("digest") else compact_facts(
                    ctx.facts, k.get("facts"), bool(k.get("terse")), bool(k.get("bare"))),  # type: ignore[arg-type]
                paper_excerpt=paper_excerpt(ctx.paper, int(k.get("paper", 4000))),  # type: ignore[call-overload]
                rejected=[(p.model_dump_json(), r) for p, r in ctx.rejected][-keep:],
                failed=[p.model_dump_json() for p in ctx.failed][-keep:])},
        ]

    steps: list[tuple[str, dict[str, object]]] = [
        ("dependencies as one line each", {"terse": True}),
        ("long fact lists shortened (dependencies to 25, imports to 15)", {"facts": SHORT_FACTS}),
        ("the paper excerpt shortened to 1500 characters", {"paper": 1500}),
        ("the schema's descriptions", {"schema": 1}),
        ("fact lists cut to their first items (dependencies 10, no imports)", {"facts": SHORTEST_FACTS}),
        ("the paper excerpt", {"paper": 0}),
        ("all but the last two failed or rejected plans", {"plans": 2}),
        ("the schema's optional sections (dependencies, smoke ladder)", {"schema": 2}),
        ("local images beyond the first six", {"images": 6}),
        ("all but the last failed or rejected plan", {"plans": 1}),
        ("fact lists to their first one to three items", {"facts": MINIMAL_FACTS}),
        ("the facts' line numbers, scores and reasons", {"bare": True}),
        # for windows of about 2k tokens: the rules without their explanations, the facts as a digest
        ("the rules' explanations", {"short_rules": True}),
        ("the facts as a one-line-per-kind digest", {"digest": True}),
    ]
    return lambda budget, cpt: fit(render, steps, budget, cpt)


def _without_empty(value: object) -> object:
    """Facts without their empty and null fields: a third of the tokens for the same information."""
    if isinstance(value, dict):
        kept = {k: _without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, [], {}, "")}
    if isinstance(value, list):
        return [_without_empty(v) for v in value]
    return value


class LlmPlanner:
    #: The gate tells the person that a rejection's reason reaches the planner (the model reads it).
    uses_rejection_reason = True

    def __init__(self, client: LlmClient, fallback: Planner) -> None:
        self.client = client
        self.fallback = fallback

    def plan(self, ctx: PlanContext, sink: EventSink, cancel: CancelToken) -> PlanResult:
        tried = {p.fingerprint() for p in ctx.failed} | {p.fingerprint() for p, _ in ctx.rejected}
        messages = plan_prompt(ctx)

        policy = ctx.policy or PolicyContext(base_image_map=ctx.base_image_map)
        refusals = 0

        def acceptable(plan: EnvPlan) -> str | None:
            nonlocal refusals
            if plan.fingerprint() in tried:
                return "this plan was already tried or rejected; propose a different one"
            verdict = check_plan(plan, policy, source="llm")
            if verdict.blocks:  # refused, or flagged with no person at the gate to look (a person sees flags there)
                refusals += 1
                return "the plan policy does not accept this plan:\n" + "\n".join(f"- {line}" for line in verdict.lines())
            return None

        try:
            plan = self.client.structured(messages, EnvPlan, purpose="plan", cancel=cancel, validate=acceptable)
        except LlmError as err:
            problems = self.client.last_problems or [str(err)]
            text = (f"the model's plan was not used ({_short(problems[-1])}); the deterministic planner made this "
                    "plan" if err.answer else
                    f"LLM planning failed ({err}); the deterministic planner made this plan")
            if err.answer:
                text += f". The model proposed: {_short(err.answer, 400)}"
            result = self.fallback.plan(ctx, sink, cancel)
            review = ModelReview(outcome="replaced", policy_refusals=refusals, problems=problems, proposed=err.answer)
            return PlanResult(plan=result.plan, source="llm-fallback-deterministic", messages=result.messages,
                              warnings=[*result.warnings, text], review=review)
        rounds = self.client.last_rounds
        review = ModelReview(outcome="valid" if rounds == 1 else "repaired", policy_refusals=refusals,
                             problems=list(self.client.last_problems))
        messages_out = [f"the model's first plan was sent back ({_short(review.problems[0])}); its second was "
                        "used"] if rounds > 1 and review.problems else []
        return PlanResult(plan=plan, source="llm", messages=messages_out, review=review)


def _short(text: str, limit: int = 240) -> str:
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"
