"""pydantic models that are the contracts between the engine's steps and its clients."""

from __future__ import annotations

from .decision import GateRequest, HumanDecision
from .diagnosis import DiagnosisDecision
from .events import (
    AttemptFinished,
    BuildProgress,
    DecisionMade,
    DiagnosisDelta,
    DiagnosisReady,
    Event,
    FactsReady,
    GateOpened,
    LlmCallFinished,
    LogLine,
    Message,
    PaperReady,
    PhaseChanged,
    PlanProposed,
    PolicyChecked,
    RunFinished,
    RunStarted,
    parse_event,
)
from .facts import RepoFacts
from .metadata import EXIT_CODES, AttemptSummary, LlmCall, PhaseTiming, RungResult, RunMetadata, RunStatus
from .paper import Hyperparameter, PaperEquation, PaperInfo, PaperSection, PaperTable
from .plan import SMOKE_RUNGS, EnvPlan, SmokeRung
from .policy import PolicyContext, PolicyFinding, PolicyVerdict
from .render import DockerfileInputs

__all__ = [
    "EXIT_CODES",
    "SMOKE_RUNGS",
    "AttemptFinished",
    "AttemptSummary",
    "RungResult",
    "BuildProgress",
    "DecisionMade",
    "DiagnosisDecision",
    "DiagnosisDelta",
    "DiagnosisReady",
    "DockerfileInputs",
    "EnvPlan",
    "Event",
    "FactsReady",
    "GateOpened",
    "GateRequest",
    "HumanDecision",
    "Hyperparameter",
    "LlmCall",
    "LlmCallFinished",
    "LogLine",
    "Message",
    "PaperEquation",
    "PaperInfo",
    "PaperReady",
    "PaperSection",
    "PaperTable",
    "PhaseChanged",
    "PhaseTiming",
    "PlanProposed",
    "PolicyChecked",
    "PolicyContext",
    "PolicyFinding",
    "PolicyVerdict",
    "RepoFacts",
    "RunFinished",
    "RunMetadata",
    "RunStarted",
    "RunStatus",
    "SmokeRung",
    "parse_event",
]
