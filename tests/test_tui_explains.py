"""The app explains itself and keeps its promises: help, honest gates, resume that repairs, a log peek, keymaps.

Driven by the real `run_pipeline` through the app's sink and gate; the engine's Executor, Planner and Diagnoser are
the test implementations of its ports in tests/tui_scenes.py (plus a planner that, like the deterministic one,
cannot read a rejection's reason, and a diagnoser that stops as the rules do).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Log, Markdown, RadioButton, TextArea
from tui_scenes import DEMO_REPO, PLAN, REPAIRED, FlakyExecutor, StreamingDiagnoser, wait_until

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import DiagnosisDecision, RunMetadata
from paper2run_tui.engine.gate.plan_diff import plan_json
from paper2run_tui.engine.plan.base import PlanResult
from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.bridge import EngineParts
from paper2run_tui.tui.screens.gate import GateScreen
from paper2run_tui.tui.screens.help import HelpScreen
from paper2run_tui.tui.screens.peek import LogPeekScreen
from paper2run_tui.tui.screens.run import RunScreen
from paper2run_tui.tui.screens.run_detail import RunDetailScreen


class SamePlanPlanner:
    """Like the deterministic planner: the same plan whatever the rejection says."""

    def plan(self, ctx, sink, cancel):  # type: ignore[no-untyped-def]
        return PlanResult(plan=PLAN, source="deterministic")


class RulesStop:
    """Stops after the first failure, as the rules do when they know the failure but no fix."""

    def diagnose(self, ctx, sink, cancel):  # type: ignore[no-untyped-def]
        return DiagnosisDecision(decision="stop", reason="numpy needs a compiler: edit the plan", confidence="high",
                                 matched_rules=["no-compiler"], source="rules")


@pytest.fixture
def demo(make_repo) -> Path:  # type: ignore[no-untyped-def]
    return make_repo(DEMO_REPO, git=True, name="demo")


def metadata(run_dir: Path) -> RunMetadata:
    return RunMetadata.model_validate_json((run_dir / "metadata.json").read_text())


async def gate_of(pilot, app: Paper2RunApp) -> GateScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, GateScreen) or (
        app.last_run is not None and app.last_run.outcome is not None), timeout=30)
    await pilot.pause(0.2)
    assert isinstance(app.screen, GateScreen), app.last_run.outcome if app.last_run else None
    return app.screen


async def done(pilot, screen: RunScreen) -> Path:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: screen.outcome is not None, timeout=30)
    await pilot.pause(0.2)
    assert screen.outcome is not None and screen.outcome.run_dir is not None
    return screen.outcome.run_dir


async def test_palette_home_at_an_open_gate_keeps_the_decision_pending(demo: Path, tmp_path: Path) -> None:
    parts = EngineParts(planner=SamePlanPlanner(), diagnoser=StreamingDiagnoser(), executor=FlakyExecutor())
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask"))
        gate = await gate_of(pilot, app)
        home = next(c for c in app.get_system_commands(gate) if c.title == "Home")
        home.callback()
        await pilot.pause(0.3)
        assert app.screen is gate and run.live  # still asked, still waiting for the person
        await pilot.press("ctrl+s")
        run_dir = await done(pilot, run)
    assert metadata(run_dir).status == "success"


async def test_reject_and_ask_again_without_an_llm_says_so_and_offers_the_editor(demo: Path, tmp_path: Path) -> None:
    parts = EngineParts(planner=SamePlanPlanner(), diagnoser=StreamingDiagnoser(), executor=FlakyExecutor())
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask"))
        gate = await gate_of(pilot, app)
        assert gate.request.replan_uses_reason is False
        await pilot.press("ctrl+r")
        again = gate.query_one("#then-ask-again", RadioButton)
        assert again.disabled and "not available without an LLM" in str(again.label)
        await pilot.click("#reject-edit")  # the editor instead
        await pilot.pause()
        assert not gate.query_one("#gate-reject").display and gate.editor.text_area.has_focus
        await pilot.press("ctrl+s")
        run_dir = await done(pilot, run)
    assert metadata(run_dir).status == "success"


async def test_help_explains_the_gate_statuses_rungs_and_the_keys_of_the_screen(tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.query_one("#help-text", Markdown).source
        for needle in ("## The gate", "stopped-by-rules", "toy-run", "home.start", "app.help", "ctrl+p"):
            assert needle in text, needle
        await pilot.press("escape")
        await pilot.pause()
        app.screen.query_one("#f-repo").blur()
        app.set_focus(None)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)


async def test_a_user_keymap_remaps_a_binding_by_its_id(tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        app.apply_user_keymap({"home.browse": "f6"})
        await pilot.pause()
        await pilot.press("f6")
        await pilot.pause()
        assert type(app.screen).__name__ == "RunsScreen"


async def test_the_log_can_be_peeked_at_from_the_gate(demo: Path, tmp_path: Path) -> None:
    parts = EngineParts(planner=SamePlanPlanner(), diagnoser=StreamingDiagnoser(), executor=FlakyExecutor())
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(80, 24)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask"))
        gate = await gate_of(pilot, app)
        await pilot.press("f2")
        await pilot.pause()
        assert isinstance(app.screen, LogPeekScreen)
        assert "Failed building wheel" in "\n".join(app.screen.query_one(Log).lines)
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is gate
        await pilot.press("ctrl+s")
        await done(pilot, run)


async def test_resume_with_an_edit_from_a_stopped_by_rules_run(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    parts = EngineParts(planner=SamePlanPlanner(), diagnoser=RulesStop(), executor=FlakyExecutor())
    app = Paper2RunApp("home", None, out, parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        first = app.start_run(RunConfig(repo=str(demo), out=out, approve="ask"))
        past = await done(pilot, first)
        assert first.status == "stopped-by-rules"
        await pilot.press("escape")
        await pilot.pause()
        app.open_run(past)
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen)
        await pilot.press("u")
        gate = await gate_of(pilot, app)
        assert gate.request.attempt == 2 and gate.request.proposed == PLAN  # the plan that failed, to fix
        assert gate.request.diagnosis is not None and "compiler" in gate.request.diagnosis.reason
        gate.query_one("#plan-editor-text", TextArea).load_text(plan_json(REPAIRED))
        await pilot.pause(0.5)
        await pilot.press("ctrl+s")
        await pilot.pause()
        resumed = app.last_run
        assert resumed is not None and resumed is not first
        new_dir = await done(pilot, resumed)
    meta = metadata(new_dir)
    assert meta.status == "success" and meta.resumed_from == f"{past.name}/01"
    assert new_dir.name.startswith("demo-") and meta.repo == metadata(past).repo
    assert [(a.number, a.plan_source, a.decision) for a in meta.attempts] == [(2, "user", "edit")]
    assert (new_dir / "attempts/02/plan_diff.diff").is_file()


async def test_the_line_a_rule_matched_is_highlighted_and_reachable_from_the_diagnosis(demo: Path,
                                                                                       tmp_path: Path) -> None:
    from rich.text import Text

    from paper2run_tui.tui.widgets.diagnosis_pane import DiagnosisPane
    from paper2run_tui.tui.widgets.log_pane import LogPane, MatchHighlighter

    # the real rules diagnoser reads FlakyExecutor's failing build log (numpy without a compiler)
    parts = EngineParts(planner=SamePlanPlanner(), executor=FlakyExecutor())
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask"))
        await gate_of(pilot, app)
        await pilot.press("ctrl+s")
        await done(pilot, run)
        pane = run.query_one(DiagnosisPane)
        assert pane.decision is not None and pane.decision.matched_lines, pane.decision
        rule, line = next(iter(pane.decision.matched_lines.items()))
        assert rule in pane.decision.matched_rules and "gcc" in line
        assert line in str(pane.query_one("#diag-lines").render())
        log_pane = run.query_one(LogPane)
        log_pane.query_one(Log).scroll_end(animate=False)
        pane.focus()
        await pilot.press("l")
        await pilot.pause(0.3)
        log = log_pane.query_one(Log)
        assert "matched line" in log_pane.status.note and log.has_focus
        top = int(log.scroll_y)
        assert any(line in shown for shown in log.lines[top:top + log.size.height])
        marked = Text(next(shown for shown in log.lines if line in shown))
        log_pane.highlighter.highlight(marked)
        assert any(span.style == MatchHighlighter.RULE_STYLE for span in marked.spans)
    diagnosis = DiagnosisDecision.model_validate_json((run.outcome.run_dir / "attempts/01/diagnosis.json").read_text())
    assert diagnosis.matched_lines == pane.decision.matched_lines
