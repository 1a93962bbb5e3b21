"""Strict plans: unknown keys are errors with a "did you mean", booleans are booleans, old plans still load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llm_server import Reply, ScriptedLlmServer
from pydantic import SecretStr, ValidationError
from scripted import FixedPlanner

from paper2run_tui.engine.config import LlmSettings
from paper2run_tui.engine.contracts import DiagnosisDecision, EnvPlan, RepoFacts
from paper2run_tui.engine.llm.client import LlmClient
from paper2run_tui.engine.plan.base import PlanContext
from paper2run_tui.engine.plan.llm_planner import LlmPlanner
from paper2run_tui.engine.ports import CancelToken, ListSink
from paper2run_tui.tui.widgets.plan_editor import validate_plan_text

#: The reference design's EnvPlan (reference/paper2run.md): eight fields, nothing else.
REFERENCE = {"base_image": "python:3.11-slim", "system_packages": ["git"], "workdir": "/repo",
             "install_steps": ["pip install -r requirements.txt"], "env": {"A": "1"},
             "smoke_command": "python -m demo --help", "requires_gpu": False, "notes": "reference shape"}
#: plan.json as the first release wrote it (every field of contracts/plan.py since 3d50058, as model_dump_json).
OLD_RUN_FOLDER_PLAN = (
    '{"base_image":"python:3.9-slim","system_packages":[],"workdir":"/repo","install_steps":["pip install six"],'
    '"env":{"MPLBACKEND":"Agg"},"smoke_command":"python -c \\"import six\\"","requires_gpu":false,"notes":"- n",'
    '"source_steps":["pip install --no-deps -e ."],"python_version":"3.9","cpu_fallback":false,'
    '"exclude_newer":"2021-03-04","smoke_ladder":[{"rung":"import-package","command":"python -c \\"import six\\""}]}'
)


def messages(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        EnvPlan.model_validate(data)
    return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in info.value.errors()]


def test_a_misspelled_key_is_an_error_that_names_the_key_meant() -> None:
    data = {k: v for k, v in REFERENCE.items() if k != "smoke_command"} | {"smoke_comand": "python -V"}
    assert messages(data) == [
        "smoke_command: Field required ('smoke_comand' looks like a misspelling of it)",
        "smoke_comand: unknown field 'smoke_comand' (did you mean 'smoke_command'?)",
    ]


def test_unknown_keys_at_any_depth_and_without_a_near_name() -> None:
    data = {**REFERENCE, "smoke_ladder": [{"rung": "tests", "comand": "pytest"}], "colour": "blue"}
    found = messages(data)
    assert "smoke_ladder.0.comand: unknown field 'comand' (did you mean 'command'?)" in found
    assert "colour: unknown field 'colour'" in found


@pytest.mark.parametrize("value", ["yes", "true", 1, 0, None])
def test_a_boolean_is_true_or_false_only(value: object) -> None:
    assert messages({**REFERENCE, "requires_gpu": value}) == ["requires_gpu: Input should be a valid boolean"]
    assert messages({**REFERENCE, "cpu_fallback": value}) == ["cpu_fallback: Input should be a valid boolean"]


def test_the_reference_shape_and_old_run_folders_still_load() -> None:
    assert EnvPlan.model_validate(REFERENCE).smoke_command == "python -m demo --help"
    assert EnvPlan.model_validate_json(json.dumps(REFERENCE)).requires_gpu is False
    old = EnvPlan.model_validate_json(OLD_RUN_FOLDER_PLAN)
    assert old.exclude_newer == "2021-03-04" and old.smoke_ladder[0].rung == "import-package"
    assert EnvPlan.model_validate_json(old.model_dump_json()) == old


def test_a_repair_with_an_unknown_key_is_invalid_too() -> None:
    with pytest.raises(ValidationError, match="did you mean 'install_steps'"):
        DiagnosisDecision.model_validate({"decision": "repair", "reason": "r", "confidence": "high",
                                          "new_plan": {**REFERENCE, "install_step": []}})


def test_the_gate_editor_shows_the_did_you_mean_on_the_right_line() -> None:
    text = json.dumps({**REFERENCE, "requires_gpu": "yes", "smoke_comand": "x"}, indent=2)
    plan, problems = validate_plan_text(text)
    assert plan is None
    line = next(i for i, t in enumerate(text.splitlines(), 1) if '"smoke_comand"' in t)
    assert f"line {line}: smoke_comand: unknown field 'smoke_comand' (did you mean 'smoke_command'?)" in problems
    assert any(p.endswith("requires_gpu: Input should be a valid boolean") for p in problems)


def test_the_models_corrective_round_gets_the_did_you_mean(tmp_path: Path) -> None:
    typo = {k: v for k, v in REFERENCE.items() if k != "smoke_command"} | {"smoke_comand": "python -V"}
    sink = ListSink()
    with ScriptedLlmServer([Reply(json.dumps(typo)), Reply(json.dumps(REFERENCE))]) as server:
        settings = LlmSettings(api_key=SecretStr("k"), base_url=server.base_url, model="m", timeout_s=5, max_retries=0)
        client = LlmClient(settings, dump_dir=None, sink=sink, backoff_s=0.01)
        ctx = PlanContext(facts=RepoFacts(name="demo", is_python=True), repo_dir=tmp_path)
        fallback = EnvPlan(base_image="python:3.9-slim", smoke_command="python -V")
        result = LlmPlanner(client, FixedPlanner(fallback)).plan(ctx, sink, CancelToken())
    assert result.source == "llm" and result.plan.smoke_command == "python -m demo --help"
    assert "unknown field 'smoke_comand' (did you mean 'smoke_command'?)" in server.user_prompt(1)
