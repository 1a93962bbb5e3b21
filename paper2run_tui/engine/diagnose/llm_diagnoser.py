"""The LLM diagnoser: failing plan, Dockerfile, an error-focused log excerpt, matched rules, history and rejections
in; the model's reasoning streams out as DiagnosisDelta events; a validated stop-or-full-repair comes back."""

from __future__ import annotations

from collections.abc import Callable

from ..contracts import DiagnosisDecision, DiagnosisDelta
from ..contracts.policy import PolicyContext
from ..llm.budget import Fitted, fit
from ..llm.client import LlmClient, LlmError, schema_text
from ..llm.prompts import render_prompt
from ..policy import check_plan
from ..ports import CancelToken, EventSink
from .base import DiagnosisContext
from .excerpt import error_excerpt
from .rules_diagnoser import failure_text


class LlmDiagnoser:
    def __init__(self, client: LlmClient, budget_tokens: int = 3000) -> None:
        self.client = client
        self.budget_tokens = budget_tokens

    def prompt(self, ctx: DiagnosisContext) -> Callable[[int | None, float], Fitted]:
        """The diagnosis prompt, cut to the budget least useful first: the middle of the log excerpt (its first
        error and last lines stay), older attempts, the schema's descriptions, the plan's indentation."""
        a = ctx.attempt
        f = ctx.facts
        summary = (f"languages {', '.join(x.language for x in f.languages[:3])}; managers {', '.join(f.managers) or 'none'}; "
                   f"{len(f.dependencies)} dependencies; python hints {', '.join(h.spec for h in f.python_hints[:5]) or 'none'}; "
                   f"GPU markers {len(f.gpu_markers)}; data expected {', '.join(d.target for d in f.data_expectations[:5]) or 'none'}")
        log = failure_text(ctx)
        full = self.budget_tokens

        def render(k: dict[str, object]) -> list[dict[str, str]]:
            keep = int(k.get("history", 99))  # type: ignore[call-overload]
            history = [{"number": h.number, "outcome": h.outcome, "plan": h.plan.model_dump_json()} for h in ctx.history]
            return [
                {"role": "system", "content": render_prompt(
                    "diagnose_system", schema=schema_text(DiagnosisDecision, int(k.get("schema", 0)),  # type: ignore[call-overload]
                                                          keep=("EnvPlan",)))},
                {"role": "user", "content": render_prompt(
                    "diagnose_user", attempt=a, attempts_left=ctx.attempts_left,
                    plan_json=a.plan.model_dump_json(indent=k.get("indent", 1)),  # type: ignore[arg-type]
                    dockerfile=a.dockerfile, excerpt=error_excerpt(log, int(k.get("log", full))),  # type: ignore[call-overload]
                    matched_rules=ctx.matched_rules, history=history[-keep:] if keep else [],
                    rejected=[(p.model_dump_json(), r) for p, r in ctx.rejected][-max(keep, 1):],
                    facts_summary=summary)},
            ]

        steps: list[tuple[str, dict[str, object]]] = [
            (f"the log excerpt's middle ({full} -> {full // 2} tokens; the first error and the last lines stay)",
             {"log": full // 2}),
            ("all but the last two earlier attempts", {"history": 2}),
            ("the schema's descriptions", {"schema": 1}),
            (f"the log excerpt to {min(700, full // 4)} tokens", {"log": min(700, full // 4)}),
            ("the failed plan's indentation", {"indent": None}),
            ("the schema's optional sections (dependencies, smoke ladder)", {"schema": 2}),
            (f"the log excerpt to {min(300, full // 8)} tokens", {"log": min(300, full // 8)}),
            ("the earlier attempts' plans", {"history": 0}),
            ("the plan's schema inside the diagnosis schema (the failed plan shows its shape)", {"schema": 3}),
        ]
        return lambda budget, cpt: fit(render, steps, budget, cpt)

    def diagnose(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken) -> DiagnosisDecision:
        tried = ctx.tried_fingerprints()

        policy = ctx.policy or PolicyContext(base_image_map=ctx.base_image_map)

        def not_repeated(d: DiagnosisDecision) -> str | None:
            if d.decision != "repair" or d.new_plan is None:
                return None
            if d.new_plan.fingerprint() in tried:
                return "new_plan is identical to a plan that already failed or was rejected; propose a different plan or stop"
            verdict = check_plan(d.new_plan, policy, source="llm")
            if verdict.blocks:  # the same policy as every plan: its problems go back once
                return "the plan policy does not accept new_plan:\n" + "\n".join(f"- {x}" for x in verdict.lines())
            return None

        def stream(text: str) -> None:
            sink.emit(DiagnosisDelta(attempt=ctx.attempt.number, text=text))

        try:
            decision = self.client.structured(self.prompt(ctx), DiagnosisDecision, purpose="diagnose", cancel=cancel,
                                              on_delta=stream, validate=not_repeated)
        except LlmError as err:
            repeated = "identical to a plan" in str(err)
            refused = "plan policy does not accept" in str(err)
            return DiagnosisDecision(
                decision="stop", confidence="low", source="llm" if repeated or refused else "fallback",
                matched_rules=list(ctx.matched_rules),
                reason=("the model kept proposing a plan that already failed" if repeated else
                        f"the model's repair was refused by the plan policy twice ({err}); nothing else is left to "
                        "try automatically: edit the plan and resume" if refused else
                        f"no diagnosis: the model could not be used ({err}). Read the attempt's logs, or retry when "
                        "the endpoint answers"),
            )
        return decision.model_copy(update={"source": "llm", "matched_rules": list(ctx.matched_rules)})
