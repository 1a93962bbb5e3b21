"""Typed events: everything a client (TUI, headless CLI, test) must be able to show.

The full stream is written to events.jsonl; :func:`parse_event` reads a line back, so a
run can be replayed from its folder alone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from .decision import GateRequest, HumanDecision
from .diagnosis import DiagnosisDecision
from .facts import RepoFacts
from .metadata import AttemptOutcome, LlmCall, Phase, RunStatus
from .paper import PaperInfo
from .plan import EnvPlan, SmokeRungName
from .policy import PolicyVerdict


def _now() -> datetime:
    return datetime.now(UTC)


class _Event(BaseModel):
    ts: datetime = Field(default_factory=_now)
    seq: int = 0
    run_id: str = ""


class RunStarted(_Event):
    kind: Literal["run-started"] = "run-started"
    run_dir: str
    repo: str
    dry_run: bool = False
    max_attempts: int = 3


class PhaseChanged(_Event):
    kind: Literal["phase"] = "phase"
    phase: Phase
    attempt: int | None = None
    detail: str = ""


class LogLine(_Event):
    kind: Literal["log"] = "log"
    source: Literal["build", "smoke", "toy-run", "engine", "llm", "preflight", "acquire"]
    stream: Literal["stdout", "stderr"] = "stdout"
    text: str
    attempt: int | None = None


class BuildProgress(_Event):
    kind: Literal["build-progress"] = "build-progress"
    attempt: int
    step: int
    total: int
    instruction: str = ""
    cached: bool = False


class Message(_Event):
    """A one-line note for the person: a warning, a choice made, a fallback taken."""

    kind: Literal["message"] = "message"
    level: Literal["info", "warning", "error"] = "info"
    text: str


class PaperReady(_Event):
    kind: Literal["paper"] = "paper"
    paper: PaperInfo


class FactsReady(_Event):
    kind: Literal["facts"] = "facts"
    facts: RepoFacts


class PlanProposed(_Event):
    kind: Literal["plan"] = "plan"
    attempt: int
    plan: EnvPlan
    source: str = Field(description="deterministic, llm, rules, user, resumed")
    dockerfile: str | None = None


class PolicyChecked(_Event):
    """The plan policy's verdict on a plan, before it is rendered (also in attempts/NN/policy.json)."""

    kind: Literal["policy"] = "policy"
    attempt: int
    verdict: PolicyVerdict


class DiagnosisDelta(_Event):
    """A chunk of diagnosis text as the model writes it (streaming)."""

    kind: Literal["diagnosis-delta"] = "diagnosis-delta"
    attempt: int
    text: str


class DiagnosisReady(_Event):
    kind: Literal["diagnosis"] = "diagnosis"
    attempt: int
    diagnosis: DiagnosisDecision


class GateOpened(_Event):
    kind: Literal["gate"] = "gate"
    request: GateRequest


class DecisionMade(_Event):
    kind: Literal["decision"] = "decision"
    attempt: int
    decision: HumanDecision


class AttemptFinished(_Event):
    kind: Literal["attempt-finished"] = "attempt-finished"
    attempt: int
    outcome: AttemptOutcome
    detail: str = ""
    smoke_rung: SmokeRungName | None = None


class LlmCallFinished(_Event):
    """One model call ended (ok or not): tokens, latency, model — for the status line and metadata."""

    kind: Literal["llm-call"] = "llm-call"
    call: LlmCall


class RunFinished(_Event):
    kind: Literal["run-finished"] = "run-finished"
    status: RunStatus
    reason: str = ""
    run_dir: str
    exit_code: int = 0


Event = Annotated[
    RunStarted
    | PhaseChanged
    | LogLine
    | BuildProgress
    | Message
    | PaperReady
    | FactsReady
    | PlanProposed
    | PolicyChecked
    | DiagnosisDelta
    | DiagnosisReady
    | GateOpened
    | DecisionMade
    | AttemptFinished
    | LlmCallFinished
    | RunFinished,
    Field(discriminator="kind"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(line: str | bytes) -> Event:
    """Read one events.jsonl line back into its typed event."""
    return EVENT_ADAPTER.validate_json(line)
