"""The contracts validate what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from paper2run_tui.engine.contracts import DiagnosisDecision, EnvPlan, HumanDecision
from paper2run_tui.engine.contracts.schemas import export_schemas

PLAN = {"base_image": "python:3.11-slim", "smoke_command": "python -c 'import x'"}


def test_reference_shaped_plan_is_valid_and_extensions_default() -> None:
    plan = EnvPlan.model_validate({**PLAN, "system_packages": [], "workdir": "/repo", "install_steps": [],
                                   "env": {}, "requires_gpu": False, "notes": ""})
    assert plan.source_steps == [] and plan.smoke_ladder == [] and plan.exclude_newer is None


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"base_image": " "}, "must not be empty"),
        ({"smoke_command": ""}, "must not be empty"),
        ({"workdir": "repo"}, "absolute"),
        ({"system_packages": ["libgl1 libglib"]}, "not a Debian package name"),
    ],
)
def test_bad_plans_are_rejected_with_a_reason(patch: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        EnvPlan.model_validate({**PLAN, **patch})


def test_fingerprint_ignores_notes_but_not_steps() -> None:
    a = EnvPlan.model_validate({**PLAN, "notes": "one"})
    b = EnvPlan.model_validate({**PLAN, "notes": "two"})
    c = EnvPlan.model_validate({**PLAN, "install_steps": ["pip install x"]})
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_repair_needs_a_plan_and_stop_must_not_have_one() -> None:
    with pytest.raises(ValidationError, match="new_plan is required"):
        DiagnosisDecision(decision="repair", reason="x")
    with pytest.raises(ValidationError, match="must be null"):
        DiagnosisDecision(decision="stop", reason="x", new_plan=EnvPlan.model_validate(PLAN))


def test_human_decisions_carry_what_their_action_needs() -> None:
    with pytest.raises(ValidationError, match="edited plan"):
        HumanDecision(action="edit")
    with pytest.raises(ValidationError, match="reason"):
        HumanDecision(action="reject", reason="  ")
    assert HumanDecision(action="reject", reason="no", then="ask-again").then == "ask-again"


def test_schemas_export_for_the_llm(tmp_path: Path) -> None:
    paths = export_schemas(tmp_path)
    names = sorted(p.name for p in paths)
    assert "EnvPlan.schema.json" in names and "Event.schema.json" in names
    plan_schema = json.loads((tmp_path / "EnvPlan.schema.json").read_text())
    assert set(plan_schema["required"]) == {"base_image", "smoke_command"}
    assert "install_steps" in plan_schema["properties"]
