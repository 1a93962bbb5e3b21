"""The home screen: inline validation of the new-run form, recent runs, the implement-a-paper entry point."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static
from tui_scenes import write_past_runs

from paper2run_tui.tui.app import Paper2RunApp
from paper2run_tui.tui.form import int_problem, paper_problem, ref_problem, repo_problem
from paper2run_tui.tui.screens.home import HomeScreen
from paper2run_tui.tui.screens.run_detail import RunDetailScreen
from paper2run_tui.tui.screens.runs import RunsScreen
from paper2run_tui.tui.widgets.runs_table import RunsTable


def test_field_checks_say_what_to_do(tmp_path: Path) -> None:
    assert repo_problem("") == "required: a GitHub URL, any git URL, or a local folder"
    assert "no such folder" in (repo_problem(str(tmp_path / "nope")) or "")
    assert repo_problem(str(tmp_path)) is None
    (tmp_path / "f.txt").write_text("x")
    assert "is a file" in (repo_problem(str(tmp_path / "f.txt")) or "")
    assert repo_problem("https://github.com/karpathy/micrograd") is None
    assert paper_problem("") is None and paper_problem("2101.00001") is None and paper_problem("arxiv:1706.03762v5") is None
    assert "a paper is a .pdf" in (paper_problem("notes.txt") or "")
    assert "no such file" in (paper_problem(str(tmp_path / "p.pdf")) or "")
    assert paper_problem("https://arxiv.org/abs/1706.03762v5") is None
    assert paper_problem("https://arxiv.org/pdf/1706.03762.pdf") is None
    assert "only arXiv links" in (paper_problem("https://example.org/paper.pdf") or ""), "other URLs fail at run time"
    assert ref_problem("v1.0") is None and ref_problem("my branch") and ref_problem("--force")
    assert int_problem("0", 1, 20, "attempts") == "attempts: between 1 and 20"
    assert int_problem("ten", 1, None, "timeout") == "timeout: a whole number"


async def test_inline_errors_appear_while_typing_and_block_the_start(tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen)
        await pilot.press(*"./nowhere")
        await pilot.pause()
        error = home.query_one("#e-repo", Static)
        assert error.display and "no such folder: ./nowhere" in str(error.render())
        home.query_one("#f-attempts", Input).value = "50"
        await pilot.pause()
        assert "attempts: between 1 and 20" in str(home.query_one("#e-attempts", Static).render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is home and "fix the fields marked above" in str(home.query_one("#form-errors").render())
        home.query_one("#f-repo", Input).value = str(tmp_path)
        home.query_one("#f-attempts", Input).value = "3"
        await pilot.pause()
        assert not home.query_one("#e-repo", Static).display and home.validate_form()


async def test_recent_runs_open_and_the_browser_is_a_key_away(tmp_path: Path) -> None:
    write_past_runs(tmp_path / "runs")
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        table = app.screen.query_one(RunsTable)
        assert table.row_count == 4
        table.focus()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run.metadata.run_id == "nanogpt-20260104T180000Z"
        await pilot.press("escape", "ctrl+b")
        await pilot.pause()
        assert isinstance(app.screen, RunsScreen)


async def test_implement_a_paper_is_a_named_action_that_says_where_it_lives(tmp_path: Path) -> None:
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Start run", "Browse runs", "Implement a paper", "Reload runs"} <= titles
        await pilot.press("ctrl+o")
        await pilot.pause()
        try:
            import paper2run_tui.tui.screens.implement  # noqa: F401  (issue 6 adds it)
        except ModuleNotFoundError:
            [note] = list(app._notifications)
            assert "paper2run-tui implement PAPER" in note.message
        else:
            assert type(app.screen).__name__ == "ImplementScreen"


async def test_every_theme_renders_the_home_screen(tmp_path: Path) -> None:
    write_past_runs(tmp_path / "runs")
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        themes = sorted(app.available_themes)
        assert "textual-light" in themes and len(themes) > 5
        for name in themes:
            app.theme = name
            await pilot.pause()
            assert app.current_theme.name == name
        assert app.screen.query_one(RunsTable).row_count == 4


async def test_the_form_keeps_the_configuration_precedence(tmp_path: Path, make_repo, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Flags > environment > user config file > .env: the form starts from the effective values, a field left as
    shown keeps its source, and only what the person changes counts as a flag."""
    from textual.widgets import Checkbox

    user = tmp_path / "config.toml"
    user.write_text("timeout = 60\nmax_attempts = 5\n")
    for name in [k for k in __import__("os").environ if k.startswith("PAPER2RUN_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PAPER2RUN_CONFIG_FILE", str(user))
    monkeypatch.setenv("PAPER2RUN_MAX_ATTEMPTS", "4")  # the environment over the file
    monkeypatch.chdir(tmp_path)
    repo = make_repo({"a.py": "print(1)\n"}, name="prec")
    app = Paper2RunApp("home", None, tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        home = app.screen
        assert isinstance(home, HomeScreen)
        assert home.query_one("#f-timeout", Input).value == "60"
        assert home.query_one("#f-attempts", Input).value == "4"
        assert home.query_one("#f-dry-run", Checkbox).value is False
        home.query_one("#f-repo", Input).value = str(repo)
        config = home.config_from_form()
        assert (config.timeout, config.max_attempts, config.dry_run) == (60, 4, False)
        assert "config.toml" in config.sources["timeout"] and "PAPER2RUN_MAX_ATTEMPTS" in config.sources["max_attempts"]
        home.query_one("#f-timeout", Input).value = "120"
        home.query_one("#f-dry-run", Checkbox).value = True
        await pilot.pause()
        config = home.config_from_form()
        assert (config.timeout, config.max_attempts, config.dry_run) == (120, 4, True)
        assert config.sources["timeout"] != config.sources["max_attempts"]
