"""Every flow of the app, driven by the real `run_pipeline` through the app's real sink and real gate.

The engine's Executor, Planner and Diagnoser are test implementations of its ports (tests/tui_scenes.py): the
build fails without a compiler and passes with the repair, the diagnosis streams like a model. Everything else —
acquire, analyze, render, the gate, the run folder — is the engine itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from textual.widgets import Input, Log, TextArea
from tui_scenes import DEMO_REPO, PLAN, REPAIRED, FixedPlanner, FlakyExecutor, StreamingDiagnoser, wait_until

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.contracts import EnvPlan, HumanDecision, RunMetadata
from paper2run_tui.engine.record.store import replay_events
from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.bridge import EngineParts
from paper2run_tui.tui.screens.confirm import ConfirmScreen
from paper2run_tui.tui.screens.gate import GateScreen
from paper2run_tui.tui.screens.run import RunScreen
from paper2run_tui.tui.screens.run_detail import RunDetailScreen
from paper2run_tui.tui.widgets.diagnosis_pane import DiagnosisPane
from paper2run_tui.tui.widgets.facts_pane import FactsPane


class Parts(EngineParts):
    def __init__(self, *, hold: bool = False) -> None:
        super().__init__(planner=FixedPlanner(), diagnoser=StreamingDiagnoser(), executor=FlakyExecutor(hold=hold))


@pytest.fixture
def demo(make_repo) -> Path:  # type: ignore[no-untyped-def]
    return make_repo(DEMO_REPO, git=True, name="demo")


def metadata(run_dir: Path) -> RunMetadata:
    return RunMetadata.model_validate_json((run_dir / "metadata.json").read_text())


def ended(app: Paper2RunApp) -> bool:
    return app.last_run is not None and app.last_run.outcome is not None


async def open_gate(pilot, app: Paper2RunApp) -> GateScreen:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: isinstance(app.screen, GateScreen) or ended(app), timeout=30)
    await pilot.pause(0.2)
    outcome = app.last_run.outcome if app.last_run else None
    why = f"{outcome.status}: {outcome.reason}" if outcome else "?"
    assert isinstance(app.screen, GateScreen), f"the run ended before the gate ({why})"
    return app.screen


async def finished(pilot, screen: RunScreen) -> Path:  # type: ignore[no-untyped-def]
    await wait_until(pilot, lambda: screen.outcome is not None, timeout=30)
    await pilot.pause(0.2)
    assert screen.outcome is not None and screen.outcome.run_dir is not None
    return screen.outcome.run_dir


async def test_start_a_run_from_the_form_and_approve_the_repair(demo: Path, tmp_path: Path) -> None:
    parts = Parts()
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        app.screen.query_one("#f-repo", Input).value = str(demo)
        await pilot.press("ctrl+s")
        await pilot.pause()
        run = app.last_run
        assert isinstance(run, RunScreen) and run.job.config is not None and run.job.config.approve == "ask"
        assert run.job.config.repo == str(demo) and run.job.config.max_attempts == 3
        gate = await open_gate(pilot, app)
        assert gate.request.kind == "repair" and gate.request.proposed == REPAIRED and gate.request.previous == PLAN
        pane = run.query_one(FactsPane)
        facts = pane.facts
        assert facts is not None and {d.name for d in facts.dependencies} == {"six", "numpy"}
        assert pane.paper is not None and pane.paper.kind == "repo-markdown"  # no paper given: the README stands in
        assert str(pane.root.children[0].label).startswith("paper: ")
        assert "no C compiler" in run.query_one(DiagnosisPane).text
        assert any("Failed building wheel" in line for line in run.query_one(Log).lines)
        await pilot.press("ctrl+s")
        run_dir = await finished(pilot, run)
        assert run.status == "success" and run.plan_pane.plan == REPAIRED
    assert parts.executor.attempts == [1, 2]
    meta = metadata(run_dir)
    assert meta.status == "success" and [a.outcome for a in meta.attempts] == ["build-failed", "smoke-ok"]
    assert HumanDecision.model_validate_json((run_dir / "attempts/02/decision.json").read_text()).action == "approve"
    kinds = [e.kind for e in replay_events(run_dir)]
    assert kinds.count("gate") == 1 and kinds.count("decision") == 1 and kinds[-1] == "run-finished"


async def test_an_invalid_edit_is_refused_then_the_fixed_edit_runs_and_is_recorded(demo: Path, tmp_path: Path) -> None:
    parts = Parts()
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask"))
        gate = await open_gate(pilot, app)
        area = gate.query_one("#plan-editor-text", TextArea)
        edited = json.loads(REPAIRED.model_dump_json())
        edited["env"] = {"PIP_NO_CACHE_DIR": "1"}
        edited["workdir"] = "src"  # a mistake
        area.load_text(json.dumps(edited, indent=2))
        await pilot.pause(0.5)
        assert area.has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is gate and run.live  # nothing was sent to the engine
        assert '"PIP_NO_CACHE_DIR": "1"' in area.text  # and nothing typed was lost
        area.load_text(area.text.replace('"workdir": "src"', '"workdir": "/src"'))
        await pilot.pause(0.5)
        await pilot.press("ctrl+s")
        run_dir = await finished(pilot, run)
    approved = EnvPlan.model_validate_json((run_dir / "attempts/02/plan.json").read_text())
    assert approved.workdir == "/src" and approved.env == {"PIP_NO_CACHE_DIR": "1"}
    decision = HumanDecision.model_validate_json((run_dir / "attempts/02/decision.json").read_text())
    assert decision.action == "edit" and decision.plan == approved
    diff = (run_dir / "attempts/02/plan_diff.diff").read_text()
    assert '-  "workdir": "/repo"' in diff and '+  "workdir": "/src"' in diff
    assert "WORKDIR /src" in parts.executor.dockerfiles[-1]
    assert metadata(run_dir).status == "success" and metadata(run_dir).attempts[-1].plan_source == "user"


async def test_reject_with_a_reason_asks_for_another_plan(demo: Path, tmp_path: Path) -> None:
    parts = Parts()
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask"))
        await open_gate(pilot, app)
        await pilot.press("ctrl+r", *"pin pip instead")
        await pilot.click("#then-ask-again")
        await pilot.press("ctrl+r")
        second = await open_gate(pilot, app)
        assert second.request.proposed.notes == "asked again: pin pip instead"
        await pilot.press("ctrl+s")
        run_dir = await finished(pilot, run)
    assert parts.planner.contexts[-1].rejected[-1][1] == "pin pip instead"
    decisions = [e.decision for e in replay_events(run_dir) if e.kind == "decision"]
    assert [(d.action, d.reason, d.then) for d in decisions] == [
        ("reject", "pin pip instead", "ask-again"), ("approve", None, "stop")]
    assert metadata(run_dir).status == "success"


async def test_reject_with_a_reason_and_stop(demo: Path, tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs", parts=Parts())
    async with app.run_test(size=(120, 40)) as pilot:
        run = app.start_run(RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask"))
        await open_gate(pilot, app)
        await pilot.press("ctrl+r", *"needs a GPU we do not have", "enter")
        run_dir = await finished(pilot, run)
        assert run.status == "rejected-by-user"
    meta = metadata(run_dir)
    assert meta.status == "rejected-by-user" and "needs a GPU we do not have" in meta.reason


async def test_ctrl_c_on_a_live_run_asks_then_records_it_as_interrupted(demo: Path, tmp_path: Path) -> None:
    parts = Parts(hold=True)
    config = RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask")
    app = Paper2RunApp("run", config, tmp_path / "runs", parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, parts.executor.building.is_set, timeout=30)
        run = app.screen
        assert isinstance(run, RunScreen) and run.live
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await wait_until(pilot, lambda: run.outcome is not None, timeout=30)
        await pilot.pause(0.3)
    # `paper2run-tui run` exits with the interrupted status's code
    assert app.return_value == 130 and app.return_code == 130
    assert run.outcome is not None and run.outcome.run_dir is not None
    meta = metadata(run.outcome.run_dir)
    assert meta.status == "interrupted" and "the person quit the app" in meta.reason


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP"])
async def test_sigterm_and_sighup_end_a_live_run_like_a_confirmed_quit(demo: Path, tmp_path: Path,
                                                                     signame: str) -> None:
    """The app's own handlers (installed as `paper2run-tui run` installs them): the run is recorded as interrupted
    with the signal's name, and the app exits 128 + the signal number."""
    import os
    import signal

    parts = Parts(hold=True)
    config = RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask")
    app = Paper2RunApp("run", config, tmp_path / "runs", parts=parts, handle_signals=True)
    signum = getattr(signal, signame)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, parts.executor.building.is_set, timeout=30)
        run = app.screen
        assert isinstance(run, RunScreen) and run.live
        os.kill(os.getpid(), signum)
        await wait_until(pilot, lambda: run.outcome is not None, timeout=30)
        await pilot.pause(0.3)
    assert app.return_code == 128 + signum
    assert run.outcome is not None and run.outcome.run_dir is not None
    meta = metadata(run.outcome.run_dir)
    assert meta.status == "interrupted" and signame in meta.reason
    assert (run.outcome.run_dir / "report.md").is_file()


async def test_open_a_past_run_and_resume_from_its_attempt(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    parts = Parts()
    app = Paper2RunApp("runs", None, out, parts=parts)
    async with app.run_test(size=(120, 40)) as pilot:
        # a past run that ran out of attempts: its repair is saved as attempts/01/next_plan.json
        first = app.start_run(RunConfig(repo=str(demo), out=out, approve="ask", max_attempts=1))
        past = await finished(pilot, first)
        assert first.status == "max-attempts-exhausted" and (past / "attempts/01/next_plan.json").is_file()
        await pilot.press("escape")  # back to the browser
        await pilot.pause()
        await pilot.press("f5", "o")  # reload, open the (only) run
        await pilot.pause()
        detail = app.screen
        assert isinstance(detail, RunDetailScreen) and detail.path == past and detail.selected == 1
        assert "Failed building wheel" in "\n".join(detail.query_one("#a-logs-text", Log).lines)
        await pilot.press("u")  # resume from the selected attempt: the gate shows its plan before the build
        gate = await open_gate(pilot, app)
        assert gate.request.attempt == 2 and gate.request.proposed == REPAIRED
        await pilot.press("ctrl+s")
        await pilot.pause()
        resumed = app.screen
        assert isinstance(resumed, RunScreen) and resumed.job.resumed_from == f"{past.name}/01"
        new_dir = await finished(pilot, resumed)
        assert resumed.status == "success"
    assert new_dir != past and new_dir.parent == out and new_dir.name.startswith("demo-")
    meta = metadata(new_dir)
    assert meta.resumed_from == f"{past.name}/01" and meta.attempts[0].plan_source == "resumed"
    assert meta.repo == metadata(past).repo and [a.number for a in meta.attempts] == [2]
    assert EnvPlan.model_validate_json((new_dir / "attempts/02/plan.json").read_text()) == REPAIRED
    assert metadata(past).status == "max-attempts-exhausted"  # the old run is left as it was


async def test_rerun_a_past_run_from_the_browser(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    app = Paper2RunApp("home", None, out, parts=Parts())
    async with app.run_test(size=(120, 40)) as pilot:
        first = app.start_run(RunConfig(repo=str(demo), out=out, approve="auto"))
        past = await finished(pilot, first)
        await pilot.press("escape")
        await pilot.pause()
        app.open_run(past)
        await pilot.pause()
        await pilot.press("r")
        await pilot.pause()
        again = app.screen
        assert isinstance(again, RunScreen) and again.job.config is not None
        assert again.job.config.repo == str(demo) and again.job.config.approve == "auto"
        new_dir = await finished(pilot, again)
    assert new_dir != past and metadata(new_dir).status == "success"


async def test_the_run_command_exits_with_the_status_code_of_its_run(demo: Path, tmp_path: Path) -> None:
    config = RunConfig(repo=str(demo), out=tmp_path / "runs", approve="ask")
    app = Paper2RunApp("run", config, tmp_path / "runs", parts=Parts())
    async with app.run_test(size=(120, 40)) as pilot:
        await open_gate(pilot, app)
        await pilot.press("ctrl+r", *"no", "enter")
        assert app.last_run is not None
        await finished(pilot, app.last_run)
        await pilot.press("q")  # the run has ended: no question asked
        await pilot.pause()
    assert app.return_value == 8  # rejected-by-user, as the headless CLI would exit
