"""The rule-based diagnoser: the first known failure signature whose fix yields a plan not tried before."""

from __future__ import annotations

import re

from ..build.progress import STEP_HEADER
from ..contracts import DiagnosisDecision, DiagnosisDelta, EnvPlan
from ..plan.time_travel import section_of, travelled_by, without_time_travel
from ..ports import CancelToken, EventSink
from ..render.install import builds_the_same, failing_optional_file, install_commands, source_commands
from .base import DiagnosisContext
from .rules import RULES, Rule, Stop
from .rules.table import ENVIRONMENT_RULES, RESOLUTION_RULES, no_release_anywhere
from .rules.transforms import NotApplicable, Unavailable, python_gap


def failure_text(ctx: DiagnosisContext) -> str:
    """The logs that explain this failure: the build's for a build failure, the smoke run's otherwise."""
    a = ctx.attempt
    # The executor's own summary goes first, so that the logs' last line is what a person sees when nothing matches.
    if a.outcome == "build-failed":
        parts = [a.error or "", failing_step_output(a.log_text("build_stdout")), a.log_text("build_stderr")]
    elif a.failed_rung is not None:
        # A quick rung's output is kept by the pipeline; the toy run streams into its own logs.
        parts = [a.error or "", a.log_text(f"rung_{a.failed_rung}"), a.log_text("toy_run_stdout"),
                 a.log_text("toy_run_stderr")] if a.failed_rung == "toy-run" else \
            [a.error or "", a.log_text(f"rung_{a.failed_rung}")]
    else:
        parts = [a.error or "", a.log_text("smoke_stdout"), a.log_text("smoke_stderr")]
    return "\n".join(p for p in parts if p)


_STEP = STEP_HEADER


def untravelled(ctx: DiagnosisContext, why: str) -> EnvPlan | None:
    """The planner chose to resolve as of the commit date, and that build failed on what it resolved: today's
    releases before anything else (a repair's own time travel is left to the repairs). None when it does not
    apply or was tried."""
    plan = ctx.attempt.plan
    if travelled_by(plan) != "planner":
        return None
    new = without_time_travel(plan, f"repair: resolved with today's releases ({why}, under the commit-date "
                                    "resolution)")
    return None if new.fingerprint() in ctx.tried_fingerprints() else new


def failing_step_output(log: str) -> str:
    """The build stops at the failing step, so its output is what follows the last step header. Earlier steps may
    hold failures they recovered from (guided-diffusion: the CPU torch index's 'No matching distribution' before
    the fallback index installed torch), which must not be taken for the cause."""
    last = None
    for last in _STEP.finditer(log):  # noqa: B007 - only the last one is wanted
        pass
    return log[last.start():] if last is not None else log


_EXCEPTION = re.compile(r"^\s*[\w.]*(?:Error|Exception|Exit|Interrupt)\b(?::.*)?$")


def first_error_line(text: str) -> str:
    """The line a person should read first: a Python exception if there is one, else the first error-ish line."""
    for line in text.splitlines():
        if _EXCEPTION.match(line) and len(line.strip()) > 10:
            return line.strip()[:200]
    for line in text.splitlines():
        low = line.lower()
        if "error" in low or "traceback" in low or "failed" in low:
            return line.strip()[:200]
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else "no output"


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def line_of(text: str, match: re.Match[str]) -> str:
    """The whole log line where a rule's signature starts: what a person looks for in the log."""
    start = text.rfind("\n", 0, match.start()) + 1
    end = text.find("\n", match.start())
    line = text[start:end if end != -1 else len(text)].strip()
    if not line:  # the signature starts with a line break: its first line with text
        line = next((part.strip() for part in match.group(0).splitlines() if part.strip()), "")
    return _ANSI.sub("", line)[:300]


class RulesDiagnoser:
    def __init__(self, rules: list[Rule] | None = None) -> None:
        self.rules = rules if rules is not None else RULES

    def matching(self, text: str) -> list[tuple[Rule, re.Match[str]]]:
        """Each rule's last match: a log can hold a failure that was recovered from (a fallback index that
        did not answer, a retried download) before the one that ended the build. The machine's failures (a full
        disk, no network, the engine) come first whatever the table's order: a package read in the same log is
        only what was being installed when the machine failed."""
        found: list[tuple[Rule, re.Match[str]]] = []
        for rule in self.rules:
            last = None
            for last in rule.pattern.finditer(text):  # noqa: B007 - only the last one is wanted
                pass
            if last is not None:
                found.append((rule, last))
        return sorted(found, key=lambda rm: rm[0].id not in ENVIRONMENT_RULES)

    def diagnose(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken) -> DiagnosisDecision:
        text = failure_text(ctx)
        matches = self.matching(text)
        decision = self._decide(ctx, sink, cancel, text, matches)
        lines = {rule.id: line_of(text, m) for rule, m in matches if rule.id in decision.matched_rules}
        return decision.model_copy(update={"matched_lines": lines}) if lines else decision

    def _decide(self, ctx: DiagnosisContext, sink: EventSink, cancel: CancelToken, text: str,
                matches: list[tuple[Rule, re.Match[str]]]) -> DiagnosisDecision:
        tried = ctx.tried_fingerprints()
        matched_ids = [rule.id for rule, _ in matches]
        environment = bool(matches) and matches[0][0].id in ENVIRONMENT_RULES
        optional = None if environment else _without_failing_optional_file(ctx, text, matches)
        if optional is not None and optional.new_plan is not None and optional.new_plan.fingerprint() not in tried:
            sink.emit(DiagnosisDelta(attempt=ctx.attempt.number, text=optional.reason + "\n"))
            return optional
        for rule, m in matches:
            cancel.raise_if_cancelled()
            meaning = rule.describe(m)  # type: ignore[arg-type]
            sink.emit(DiagnosisDelta(attempt=ctx.attempt.number, text=f"rule {rule.id}: {meaning}\n"))
            try:
                new_plan = untravelled(ctx, meaning) if rule.id in RESOLUTION_RULES else None
                new_plan = new_plan or rule.fix(ctx.attempt.plan, m, ctx)
            except NotApplicable:
                matched_ids.remove(rule.id)
                continue
            except Stop as stop:
                reason = f"{meaning}: {stop}"
                machine = isinstance(stop, Unavailable) or rule.id in ENVIRONMENT_RULES
                gap = None if machine else python_gap(ctx.attempt.plan, ctx)
                if gap and gap not in reason:
                    # The root cause is often the Python the planner could not get, not the symptom that matched.
                    reason += f" (note: {gap})"
                return DiagnosisDecision(decision="stop", reason=reason, confidence="high",
                                         failure_class=rule.failure_class, matched_rules=matched_ids, source="rules")
            if new_plan.fingerprint() in tried or builds_the_same(ctx.attempt.plan, new_plan):
                continue
            return DiagnosisDecision(decision="repair", reason=f"{meaning}; repair: {_what_changed(ctx.attempt.plan, new_plan)}",
                                     confidence="high", failure_class=rule.failure_class, matched_rules=matched_ids,
                                     new_plan=new_plan, source="rules")
        applicable = [(rule, m) for rule, m in matches if rule.id in matched_ids]
        if applicable:
            rule, m = applicable[0]
            return DiagnosisDecision(
                decision="stop", confidence="medium", failure_class=rule.failure_class, matched_rules=matched_ids,
                reason=f"{rule.describe(m)}; every known fix for it was already tried", source="rules")
        return DiagnosisDecision(
            decision="stop", confidence="low", failure_class="unknown", matched_rules=[], source="rules",
            reason=f"no known failure signature matched: {first_error_line(text)}",
        )


def _without_failing_optional_file(ctx: DiagnosisContext, text: str,
                                   matches: list[tuple[Rule, re.Match[str]]]) -> DiagnosisDecision | None:
    """A requirement file that adds to the project's own dependencies failed in its own step: the first repair
    leaves it out, so the project's own environment is built and checked (the run's floor) before anything is
    chased for the file. Its failure is diagnosed on its own, and the reason says what it was."""
    a = ctx.attempt
    if a.outcome != "build-failed":
        return None
    path = failing_optional_file(a.plan, a.failing_step)
    if path is None:
        return None
    if matches and matches[0][0].id == "no-matching-distribution" and no_release_anywhere(matches[0][1]):
        return None  # one requirement the index has no release of: that one is left out, not the whole file
    section = section_of(a.plan)
    section.requirement_files = [f for f in section.requirement_files if f.path != path]
    edits = section.edits
    if path in edits.files:
        section.edits = edits.model_copy(update={"files": [f for f in edits.files if f != path]})
    if not section.edits.files:
        section.edits = section.edits.model_copy(update={"drop": [], "rename": {}, "respec": {}})
    cause = matches[0][0].describe(matches[0][1]) if matches else first_error_line(text)  # type: ignore[arg-type]
    why = (f"{path} failed in its own step ({cause}); it adds to the project's own dependencies, which installed "
           f"before it: left out, so the project's environment is built and checked without it")
    new = a.plan.model_copy(update={"dependencies": section, "notes": f"{a.plan.notes}\n- repair: {why}".strip()})
    return DiagnosisDecision(decision="repair", reason=why, confidence="high", failure_class="optional-requirements",
                             matched_rules=[rule.id for rule, _ in matches[:1]], new_plan=new, source="rules")


def _what_changed(old, new) -> str:  # type: ignore[no-untyped-def]
    changes = []
    if new.base_image != old.base_image:
        changes.append(f"base image {new.base_image}")
    added = [p for p in new.system_packages if p not in old.system_packages]
    if added:
        changes.append("system packages " + ", ".join(added))
    before, after = install_commands(old), install_commands(new)
    steps = [s for s in after if s not in before]
    if steps:
        changes.append("install " + "; ".join(s[:80] for s in steps))
    env = {k: v for k, v in new.env.items() if old.env.get(k) != v}
    if env:
        changes.append("env " + ", ".join(f"{k}={v}" for k, v in env.items()))
    if new.smoke_command != old.smoke_command:
        changes.append(f"smoke command {new.smoke_command[:60]}")
    if source_commands(new) != source_commands(old):
        changes.append("source steps changed")
    return "; ".join(changes) or "plan changed"
