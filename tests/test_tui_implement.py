"""The implement screen: generate from a paper (here without an LLM), browse the files, open a citation's section."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, ListView, Static

from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.screens.implement import ImplementScreen

PAPER = Path(__file__).parent / "fixtures" / "papers" / "tiny_transformer.md"


async def test_generate_browse_files_and_open_a_cited_section(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    for var in ("NVIDIA_API_KEY", "OPENAI_API_KEY", "PAPER2RUN_BASE_URL", "PAPER2RUN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env from the developer's folder
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("ctrl+o")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ImplementScreen)
        screen.query_one("#implement-paper", Input).value = str(PAPER)
        await pilot.press("ctrl+g")
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(screen.query_one("#implement-status", Static).render())
        assert "no code generated" in status and "citations checked: no problems" in status
        files = screen.query_one("#implement-files", ListView)
        names = [item.name for item in files.children]
        assert names == ["README.md", "REPRODUCTION_NOTES.md", "configs/base.yaml"]
        files.index = 2
        await pilot.pause()
        assert "learning_rate: 0.001" in str(screen.query_one("#implement-file", Static).render())
        citations = screen.query_one("#implement-citations", ListView)
        numbers = [item.name for item in citations.children]
        assert "5.1" in numbers
        citations.focus()
        citations.index = numbers.index("5.1")
        await pilot.pause()
        section = str(screen.query_one("#implement-section", Static).render())
        assert section.startswith("§5.1 Optimizer") and "The learning rate was 0.001" in section


async def test_the_fix_rounds_come_from_the_resolver_and_the_screen_shows_them(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A real local OpenAI-compatible server writes code with a bad citation and does not fix it; PAPER2RUN_FIX_ROUNDS=1
    allows one fix round (the default is 2), and the screen lists the stages of generation/rounds.json."""
    from llm_server import ScriptedLlmServer
    from test_implement import GOOD, staged

    for var in ("NVIDIA_API_KEY", "OPENAI_API_KEY", "PAPER2RUN_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    bad = {**GOOD, "src/model.py": GOOD["src/model.py"].replace("§3.1", "§9.9")}
    fix = {"content": bad["src/model.py"]}  # a stubborn model: the same mistake again
    import json

    from llm_server import Reply

    with ScriptedLlmServer(staged(bad) + [Reply(json.dumps(fix))] * 2) as server:
        monkeypatch.setenv("PAPER2RUN_BASE_URL", server.base_url)
        monkeypatch.setenv("PAPER2RUN_MODEL", "m")
        monkeypatch.setenv("PAPER2RUN_FIX_ROUNDS", "1")
        app = Paper2RunApp("home", None, tmp_path / "runs")
        async with app.run_test(size=(140, 40)) as pilot:
            await pilot.press("ctrl+o")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, ImplementScreen)
            screen.query_one("#implement-paper", Input).value = str(PAPER)
            await pilot.press("ctrl+g")
            await app.workers.wait_for_complete()
            await pilot.pause()
            status = str(screen.query_one("#implement-status", Static).render())
            assert "failed its citation check after the fix rounds" in status, status
            rounds = str(screen.query_one("#implement-rounds", Static).render())
    prompts = [server.user_prompt(k) for k in range(len(server.requests))]
    assert sum("The citation check found these problems" in p for p in prompts) == 1
    assert "recorded in generation/rounds.json" in rounds and "plan:" in rounds
    assert "citation-fix round 1: src/model.py — problems 1 before, 1 after" in rounds, rounds
    assert "citation-fix round 2" not in rounds
