"""The live run screen driven by a constructed event stream through the app's real sink and real gate."""

from __future__ import annotations

import threading
from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import Log, TextArea
from tui_scenes import PLAN, REPAIRED, events_job

from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.bridge import EngineJob
from paper2run_tui.tui.screens.confirm import ConfirmScreen
from paper2run_tui.tui.screens.gate import GateScreen
from paper2run_tui.tui.screens.home import HomeScreen
from paper2run_tui.tui.screens.run import RunScreen
from paper2run_tui.tui.widgets.diagnosis_pane import DiagnosisPane
from paper2run_tui.tui.widgets.facts_pane import FactsPane
from paper2run_tui.tui.widgets.log_pane import LogPane
from paper2run_tui.tui.widgets.plan_pane import PlanPane


async def wait_for(pilot, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.05)):
        if condition():
            return
        await pilot.pause(0.05)
    raise AssertionError("condition not reached in time")


def log_text(screen: RunScreen) -> str:
    if not screen.is_mounted or not screen.query(LogPane):
        return ""
    return "\n".join(screen.query_one(LogPane).query_one(Log).lines)


async def test_events_fill_the_four_panes_and_the_gate_decides(tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs", clock=lambda: 0.0)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=events_job()))
        await wait_for(pilot, lambda: isinstance(app.screen, GateScreen))
        await pilot.pause(0.2)
        facts = screen.query_one(FactsPane)
        assert facts.facts is not None and facts.facts.name == "demo"
        labels = [str(node.label) for node in facts.root.children]
        assert any(label.startswith("dependencies (2)") for label in labels)
        assert screen.plan_pane.plan == PLAN and screen.plan_pane.attempt == 1
        diagnosis = screen.query_one(DiagnosisPane)
        assert "no C compiler" in diagnosis.text
        assert "missing-compiler, old-pip" in str(diagnosis.query_one("#diag-head").render())
        status = screen.log_pane.status
        assert status.attempt == 2 and status.phase == "gate" and status.note == "waiting for your decision"
        text = log_text(screen)
        assert "ERROR: Failed building wheel for numpy" in text and "\x1b" not in text
        assert text.index("Step 4/4") < text.index("■ attempt 1: build-failed")  # the engine's order is kept
        assert screen.live
        await pilot.press("ctrl+s")  # approve in the gate
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.outcome is not None and screen.outcome.status == "success"
        assert screen.status == "success" and not screen.live
        assert screen.plan_pane.plan == REPAIRED and screen.plan_pane.previous == PLAN
        assert "✔ decision on attempt 2: approve by person" in log_text(screen)
        screen.plan_pane.focus()
        await pilot.press("d")
        assert screen.plan_pane.showing_diff
        assert '+    "build-essential"' in str(screen.plan_pane.query_one("#plan-diff-text").render())


async def test_ctrl_c_on_a_live_run_asks_first_then_interrupts(tmp_path: Path) -> None:
    hold = threading.Event()
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=events_job(hold=hold)))
        await wait_for(pilot, lambda: "Step 4/4" in log_text(screen))
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep running
        await pilot.pause()
        assert app.screen is screen and screen.live and not screen.cancel.cancelled
        await pilot.press("ctrl+c")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.outcome is not None)
    assert screen.cancel.cancelled and screen.cancel.reason == "the person quit the app"
    assert screen.outcome is not None and screen.outcome.status == "interrupted"
    assert app.return_code == 0  # started on the home screen: quitting is not an error


async def test_quitting_while_the_gate_is_open_closes_it_and_records_an_interruption(tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=events_job()))
        await wait_for(pilot, lambda: isinstance(app.screen, GateScreen))
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.outcome is not None)
    assert screen.outcome is not None and screen.outcome.status == "interrupted"


async def test_stop_run_keeps_the_app_open_and_shows_the_status(tmp_path: Path) -> None:
    hold = threading.Event()
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=events_job(hold=hold)))
        await wait_for(pilot, lambda: "Step 4/4" in log_text(screen))
        await pilot.press("escape")  # back is refused while live
        assert app.screen is screen
        await pilot.press("e")  # copy the last error, and say where the full logs are
        assert app.clipboard == "error: command 'gcc' failed: No such file or directory"
        await pilot.press("x")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.outcome is not None)
        await pilot.pause(0.2)
        assert screen.status == "interrupted"
        assert "run finished: interrupted" in log_text(screen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)


async def test_a_reject_reason_reaches_the_engine(tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=events_job()))
        await wait_for(pilot, lambda: isinstance(app.screen, GateScreen))
        await pilot.press("ctrl+r", *"wrong base image", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert screen.outcome is not None and screen.outcome.status == "rejected-by-user"
        assert screen.outcome.reason == "wrong base image"


async def test_survives_80x24_and_a_resize(tmp_path: Path) -> None:
    hold = threading.Event()
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=events_job(hold=hold)))
        await wait_for(pilot, lambda: "Step 4/4" in log_text(screen))
        for pane in (FactsPane, PlanPane, LogPane, DiagnosisPane):
            region = screen.query_one(pane).region
            assert region.width >= 20 and region.height >= 4 and region.right <= 80 and region.bottom <= 24, pane
        await pilot.resize_terminal(160, 50)
        await pilot.pause()
        assert screen.log_pane.region.width > 60
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        screen.log_pane.query_one(Log).focus()
        await pilot.press("z")  # zoom the focused pane to the whole screen
        await pilot.pause()
        assert screen.maximized is screen.log_pane
        hold.set()
        await wait_for(pilot, lambda: isinstance(app.screen, GateScreen))
        await pilot.pause()
        editor = app.screen.query_one("#plan-editor-text", TextArea)
        assert editor.region.width >= 40
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()


async def test_the_command_palette_offers_every_action_of_the_run_screen(tmp_path: Path) -> None:
    hold = threading.Event()
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=events_job(hold=hold)))
        await wait_for(pilot, lambda: "Step 4/4" in log_text(screen))
        titles = {c.title for c in app.get_system_commands(screen)}
        assert {"Stop run", "Zoom pane", "Run folder", "Plan diff", "Search log", "Follow tail", "Quit"} <= titles
        bound = [b for _, b in app.screen_actions(screen)]
        assert all(b.id for b in bound) and {b.id for b in bound} >= {"run.stop", "plan.toggle-diff", "log.search"}
        hold.set()
        await wait_for(pilot, lambda: isinstance(app.screen, GateScreen))
        await pilot.press("ctrl+s")
        await app.workers.wait_for_complete()


async def test_an_engine_crash_becomes_an_error_modal_not_a_dead_app(tmp_path: Path) -> None:
    def crashing_job(sink, reviewer, cancel):  # type: ignore[no-untyped-def]
        raise RuntimeError("the engine broke")

    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.start_job(EngineJob(title="./demo", run=crashing_job))
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ErrorScreen")
        assert "RuntimeError: the engine broke" in str(app.screen.query_one("#error-message").render())
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen and screen.status == "exception" and not screen.live


class FactsOnly(App[None]):
    """The facts pane alone, for what it shows of a RepoFacts."""

    def compose(self) -> ComposeResult:
        yield FactsPane()


async def test_the_facts_pane_shows_a_lock_and_the_readme_versions_only_when_there_are_some() -> None:
    from paper2run_tui.engine.contracts import RepoFacts
    from paper2run_tui.engine.contracts.facts import Dependency, LockedPin

    app = FactsOnly()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(FactsPane)
        pane.show_facts(RepoFacts(name="plain"))
        await pilot.pause()
        labels = [str(node.label) for node in pane.root.children]
        assert not any(label.startswith(("locked", "readme versions")) for label in labels)
        pane.show_facts(RepoFacts(name="locked", locked=[LockedPin(name="six", version="1.16.0", source="uv.lock")],
                                  readme_versions=[Dependency(name="torch", specifier=">=0.4.0", raw="PyTorch 0.4.0+",
                                                              source="README.md", line=18, group="readme")]))
        await pilot.pause()
        nodes = {str(node.label): node for node in pane.root.children}
        assert "locked (1)" in nodes and "readme versions (1)" in nodes
        assert str(nodes["locked (1)"].children[0].label).startswith("six==1.16.0")
        assert str(nodes["readme versions (1)"].children[0].label).startswith("torch>=0.4.0")


async def test_a_dependencys_group_shows_in_the_facts_pane() -> None:
    """`[dev]` in a label is Rich markup unless escaped: the group tag vanished from the tree."""
    from paper2run_tui.engine.contracts import RepoFacts
    from paper2run_tui.engine.contracts.facts import Dependency

    app = FactsOnly()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(FactsPane)
        pane.show_facts(RepoFacts(name="x", dependencies=[Dependency(name="pytest", raw="pytest", source="req-dev.txt",
                                                                     group="dev")]))
        await pilot.pause()
        deps = next(n for n in pane.root.children if str(n.label).startswith("dependencies"))
        assert str(deps.children[0].label).startswith("pytest [dev]")
