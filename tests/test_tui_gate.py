"""The human gate alone: approve, edit (invalid then fixed), reject with a reason — and the JSON editor mounts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from textual.app import App
from textual.widgets import Button, TextArea
from tui_scenes import DIAGNOSIS, PLAN, REPAIRED

from paper2run_tui.engine.contracts import EnvPlan, GateRequest, HumanDecision
from paper2run_tui.tui.screens.gate import GateScreen
from paper2run_tui.tui.widgets.plan_editor import PlanEditor, validate_plan_text

REQUEST = GateRequest(attempt=2, kind="repair", proposed=REPAIRED, previous=PLAN, diagnosis=DIAGNOSIS,
                      plan_source="rules")


class GateHost(App[None]):
    """A tiny host: pushes the gate and records what it was dismissed with."""

    CSS_PATH = "../paper2run_tui/tui/app.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.decisions: list[HumanDecision | None] = []

    def on_mount(self) -> None:
        self.push_screen(GateScreen(REQUEST), self.decisions.append)


def test_the_json_editor_mounts_in_a_fresh_interpreter() -> None:
    """tree-sitter 0.26 segfaults here (shared/style.md); a native crash must fail this test, not the run."""
    script = textwrap.dedent("""
        import asyncio
        from textual.app import App, ComposeResult
        from paper2run_tui.engine.contracts import EnvPlan
        from paper2run_tui.tui.widgets.plan_editor import PlanEditor

        class Host(App):
            def compose(self) -> ComposeResult:
                yield PlanEditor(EnvPlan(base_image="python:3.11-slim", smoke_command="python -V"))

        async def main():
            app = Host()
            async with app.run_test(size=(100, 30)) as pilot:
                area = app.query_one("#plan-editor-text")
                await pilot.pause()
                assert area.language == "json", area.language
                assert area.is_syntax_aware, "no tree-sitter highlighting"
                area.insert("  ")
                await pilot.pause(0.4)
            print("mounted")

        asyncio.run(main())
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"the JSON editor crashed (rc {proc.returncode}):\n{proc.stderr[-2000:]}"
    assert "mounted" in proc.stdout


def test_validation_points_at_the_line() -> None:
    plan, errors = validate_plan_text('{\n  "base_image": "python:3.11-slim",\n  "smoke_command": "x"\n  "env": {}\n}')
    assert plan is None and errors[0].startswith("line 4, column 3:") and "not valid JSON" in errors[0]
    plan, errors = validate_plan_text('{\n  "base_image": "python:3.11-slim",\n  "workdir": "repo"\n}')
    assert plan is None
    assert "line 3: workdir: workdir must be an absolute path" in errors
    assert any(e.startswith("smoke_command:") and "Field required" in e for e in errors)
    plan, errors = validate_plan_text(REPAIRED.model_dump_json(indent=2))
    assert plan == REPAIRED and errors == []


async def test_approve_unchanged_plan() -> None:
    app = GateHost()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, GateScreen)
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.decisions == [HumanDecision(action="approve")]


async def test_an_invalid_edit_cannot_be_submitted_and_is_not_lost_then_the_fix_is() -> None:
    app = GateHost()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gate = app.screen
        assert isinstance(gate, GateScreen)
        area = gate.query_one("#plan-editor-text", TextArea)
        broken = REPAIRED.model_dump_json(indent=2).replace('"workdir": "/repo"', '"workdir": "repo"')
        area.load_text(broken)
        area.insert("  ")  # a keystroke-like change triggers the debounced validation
        await pilot.pause(0.5)
        editor = gate.query_one(PlanEditor)
        assert not editor.valid and area.has_class("-invalid")
        assert "workdir must be an absolute path" in str(gate.query_one("#plan-errors").render())
        assert gate.query_one("#approve", Button).disabled
        await pilot.press("ctrl+s")  # refused: still open, the text is still what was typed
        await pilot.pause()
        assert app.screen is gate and app.decisions == []
        assert '"workdir": "repo"' in area.text
        # fix it, with a real edit to the plan
        area.load_text(broken.replace('"workdir": "repo"', '"workdir": "/src"'))
        await pilot.pause(0.5)
        assert editor.valid and not area.has_class("-invalid") and editor.edited
        assert not gate.query_one("#approve", Button).disabled
        await pilot.press("ctrl+s")
        await pilot.pause()
    [decision] = app.decisions
    assert decision is not None and decision.action == "edit"
    assert decision.plan == REPAIRED.model_copy(update={"workdir": "/src"})


async def test_typing_a_mistake_then_undoing_it() -> None:
    app = GateHost()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gate = app.screen
        area = gate.query_one("#plan-editor-text", TextArea)
        area.move_cursor((0, 1))
        await pilot.press("x")  # {x  -> not JSON
        await pilot.pause(0.5)
        assert area.has_class("-invalid")
        assert "line 1, column 2" in str(gate.query_one("#plan-errors").render())
        await pilot.press("backspace")
        await pilot.pause(0.5)
        assert not area.has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
    assert app.decisions == [HumanDecision(action="approve")]  # same plan: an approval, not an edit


async def test_reject_needs_a_reason_and_can_ask_for_another_plan() -> None:
    app = GateHost()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        gate = app.screen
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert gate.query_one("#gate-reject").display
        await pilot.press("enter")  # no reason yet: refused
        await pilot.pause()
        assert app.screen is gate and "give a reason" in str(gate.query_one("#reject-error").render())
        await pilot.press(*"use python 3.10 instead")
        await pilot.click("#then-ask-again")
        await pilot.press("ctrl+r")
        await pilot.pause()
    assert app.decisions == [HumanDecision(action="reject", reason="use python 3.10 instead", then="ask-again")]


async def test_reject_and_stop_via_buttons() -> None:
    app = GateHost()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.click("#reject")
        await pilot.press(*"not this base image")
        await pilot.click("#reject-confirm")
        await pilot.pause()
    assert app.decisions == [HumanDecision(action="reject", reason="not this base image", then="stop")]


async def test_the_gate_fits_80x24() -> None:
    app = GateHost()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        gate = app.screen
        assert gate.query_one("#approve").region.bottom <= 24
        assert not gate.query_one("#gate-diff").display or gate.query_one("#gate-diff").region.width == 0
        assert gate.query_one(PlanEditor).region.height >= 5


def test_edited_is_about_meaning_not_formatting() -> None:
    editor = PlanEditor(PLAN)
    editor.plan = EnvPlan.model_validate_json(PLAN.model_dump_json())
    assert not editor.edited


async def test_markup_planted_in_a_diagnosis_reason_is_shown_as_text() -> None:
    """A repository can plant `[/b]` in a log line a rule quotes; as Rich markup it crashed the gate."""
    from textual.widgets import Static

    hostile = DIAGNOSIS.model_copy(update={"reason": "ModuleNotFoundError: [/b] [red]x[/red] [link=file:///etc]y",
                                           "matched_rules": ["[/]"], "failure_class": "[/i]"})
    request = REQUEST.model_copy(update={"diagnosis": hostile, "plan_source": "[/b]rules"})

    class Host(App[None]):
        CSS_PATH = "../paper2run_tui/tui/app.tcss"

        def on_mount(self) -> None:
            self.push_screen(GateScreen(request))

    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        shown = str(app.screen.query_one("#gate-diagnosis", Static).render())
        assert "[/b] [red]x[/red] [link=file:///etc]y" in shown and "[/]" in shown and "[/i]" in shown
        assert "[/b]rules" in str(app.screen.query_one("#gate-title", Static).render())
