"""JSON schemas of the contracts, for prompts (the LLM answers EnvPlan / DiagnosisDecision) and for users."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from ..record.atomic import write_text_atomic
from .decision import GateRequest, HumanDecision
from .diagnosis import DiagnosisDecision
from .events import EVENT_ADAPTER
from .facts import RepoFacts
from .metadata import RunMetadata
from .paper import PaperInfo
from .plan import EnvPlan

MODELS: dict[str, type[BaseModel]] = {
    "EnvPlan": EnvPlan,
    "DiagnosisDecision": DiagnosisDecision,
    "HumanDecision": HumanDecision,
    "GateRequest": GateRequest,
    "RepoFacts": RepoFacts,
    "PaperInfo": PaperInfo,
    "RunMetadata": RunMetadata,
}


def schema_of(name: str) -> dict:
    if name == "Event":
        return EVENT_ADAPTER.json_schema()
    return MODELS[name].model_json_schema()


def export_schemas(dest: Path) -> list[Path]:
    """Write <Name>.schema.json for every contract (and the Event union) into dest."""
    written = []
    for name in [*MODELS, "Event"]:
        path = dest / f"{name}.schema.json"
        write_text_atomic(path, json.dumps(schema_of(name), indent=2) + "\n")
        written.append(path)
    return written
