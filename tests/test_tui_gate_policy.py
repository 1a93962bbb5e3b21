"""The gate shows what will be built: the Dockerfile beside the JSON (re-rendered as the person edits), its diff to
the previous attempt's, and the plan policy's findings — the same findings a model's plan gets."""

from __future__ import annotations

import json
from pathlib import Path

from hostile_plans import BY_NAME, CATALOGUE, SAFE
from textual.app import App
from textual.widgets import Button, TabbedContent, TextArea

from paper2run_tui.engine.contracts import (
    DockerfileInputs,
    EnvPlan,
    GateRequest,
    HumanDecision,
    PolicyContext,
)
from paper2run_tui.engine.policy import check_plan
from paper2run_tui.engine.render.dockerfile import render_from_inputs
from paper2run_tui.tui.screens.gate import GateScreen

PREVIOUS = EnvPlan.model_validate(SAFE)
PROPOSED = PREVIOUS.model_copy(update={"install_steps": [*PREVIOUS.install_steps, "pip install numpy"]})
POLICY = PolicyContext(person_reviews=True)


def request_for(repo: Path, proposed: EnvPlan = PROPOSED) -> GateRequest:
    """A repair gate as the engine builds it (rendered Dockerfiles, the inputs to re-render, the verdict)."""
    inputs = DockerfileInputs(repo_dir=str(repo), repo_name="demo", attempt=2, manifest_sources=["requirements.txt"])
    previous = render_from_inputs(PREVIOUS, inputs.model_copy(update={"attempt": 1}))
    return GateRequest(attempt=2, kind="repair", proposed=proposed, previous=PREVIOUS, plan_source="llm",
                       verdict=check_plan(proposed, POLICY, source="llm"), dockerfile=render_from_inputs(proposed, inputs),
                       previous_dockerfile=previous, render_inputs=inputs, policy=POLICY)


class Host(App[None]):
    CSS_PATH = "../paper2run_tui/tui/app.tcss"

    def __init__(self, request: GateRequest) -> None:
        super().__init__()
        self.request = request
        self.decisions: list[HumanDecision | None] = []

    def on_mount(self) -> None:
        self.push_screen(GateScreen(self.request), self.decisions.append)


def shown(gate: GateScreen, selector: str) -> str:
    return str(gate.query_one(selector).render())


async def type_plan(pilot, gate: GateScreen, data: dict) -> None:  # type: ignore[no-untyped-def]
    gate.query_one("#plan-editor-text", TextArea).load_text(json.dumps(data, indent=2))
    await pilot.pause(0.4)  # the debounced validation fires
    gate.editor.validate_now()
    await pilot.pause()


async def test_the_dockerfile_its_diff_and_the_verdict_are_shown_and_follow_edits(make_repo) -> None:
    repo = make_repo({"requirements.txt": "six\n"})
    app = Host(request_for(repo))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gate = app.screen
        assert isinstance(gate, GateScreen)
        assert "RUN pip install numpy" in gate.dockerfile and 'COPY ["requirements.txt", "/repo/requirements.txt"]' in gate.dockerfile
        assert "nothing to refuse or flag" in shown(gate, "#gate-policy")
        diff = shown(gate, "#gate-dockerfile-diff")
        assert "+RUN pip install numpy" in diff and "-# Attempt" not in diff
        # an edit re-renders the Dockerfile and re-checks the policy, through the debounce
        area = gate.query_one("#plan-editor-text", TextArea)
        area.load_text(area.text.replace('"pip install numpy"', '"pip install scipy"'))
        await pilot.pause(0.6)
        assert "RUN pip install scipy" in gate.dockerfile and "numpy" not in gate.dockerfile
        assert "+RUN pip install scipy" in shown(gate, "#gate-dockerfile-diff")
        await pilot.press("f6")
        assert gate.query_one("#gate-diff", TabbedContent).active == "tab-dockerfile-diff"
        await pilot.press("ctrl+s")
        await pilot.pause()
    [decision] = app.decisions
    assert decision is not None and decision.action == "edit" and decision.plan is not None
    assert decision.plan.install_steps[-1] == "pip install scipy"


async def test_hostile_plans_typed_at_the_gate_get_the_same_findings(make_repo) -> None:
    repo = make_repo({"requirements.txt": "six\n"})
    app = Host(request_for(repo))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gate = app.screen
        assert isinstance(gate, GateScreen)
        for hostile in [h for h in CATALOGUE if h.name != "enormous-plan"] + [BY_NAME["enormous-plan"]]:
            await type_plan(pilot, gate, hostile.data())
            plan = EnvPlan.model_validate(hostile.data())
            expected = check_plan(plan, POLICY, source="user")
            assert gate.verdict == expected, hostile.name
            assert any(f.field == hostile.field and f.rule == hostile.rule for f in expected.findings), hostile.name
            panel = shown(gate, "#gate-policy")
            assert expected.findings[0].reason[:40] in panel.replace("\n", " ") or hostile.field in panel, hostile.name
            refused = hostile.severity == "refuse"
            assert gate.query_one("#approve", Button).disabled == refused, hostile.name
            assert gate.query_one("#gate-policy").has_class("-refused") == refused, hostile.name
            if refused:
                await pilot.press("ctrl+s")  # refused: the gate stays, with the person's text
                await pilot.pause()
                assert app.screen is gate and app.decisions == [], hostile.name
            for line in gate.dockerfile.splitlines():
                assert not line.startswith(("USER", "ADD")), (hostile.name, line)
        await type_plan(pilot, gate, BY_NAME["pipe-to-shell"].data())
        await pilot.press("ctrl+s")  # a flag: the person may approve it, having seen it
        await pilot.pause()
    [decision] = app.decisions
    assert decision is not None and decision.action == "edit" and decision.plan is not None
    assert "| sh" in decision.plan.install_steps[0]
