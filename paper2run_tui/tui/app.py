"""The paper2run-tui app: home, live run, gate, runs browser. A client of the engine's ports."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import time
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any, Literal

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen

from ..engine.config import RunConfig
from ..engine.contracts import EXIT_CODES
from ..engine.errors import UserError
from .bridge import EngineJob, EngineParts, new_run_job, resume_job
from .screens.confirm import ConfirmScreen
from .screens.error import ErrorScreen
from .screens.home import HomeScreen
from .screens.run import RunScreen
from .screens.run_detail import RunDetailScreen
from .screens.runs import RunsScreen

Start = Literal["home", "run", "runs"]

#: The module issue 6 adds for paper-to-code; the home screen's "Implement a paper" opens its screen.
IMPLEMENT_SCREEN_MODULE = "paper2run_tui.tui.screens.implement"


class Paper2RunApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "paper2run"
    #: Below 100 columns panes stack and the gate hides its diff (f4 shows it).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]
    BINDINGS = [
        Binding("ctrl+c", "request_quit", "Quit", id="app.quit", priority=True),
        Binding("q", "request_quit", "Quit", id="app.quit-q", show=False),
        Binding("f1", "help", "Help", id="app.help", priority=True),
        Binding("question_mark", "help", "Help", id="app.help-question-mark", show=False),
    ]

    def __init__(
        self,
        start: Start = "home",
        config: RunConfig | None = None,
        out: Path = Path("runs"),
        *,
        parts: EngineParts | None = None,
        clock: Callable[[], float] = time.monotonic,
        handle_signals: bool = False,
    ) -> None:
        super().__init__()
        self.handle_signals = handle_signals
        self.stop_signal: int | None = None
        self.start = start
        self.initial_config = config
        self.out = out
        self.parts = parts or EngineParts()
        self.clock = clock
        self.last_run: RunScreen | None = None
        #: What `m` marked for a compare (`v`): a run folder, and one of its attempts (None: the run as a whole).
        self.compare_mark: tuple[Path, int | None] | None = None

    def on_mount(self) -> None:
        self.apply_user_keymap()
        if self.handle_signals:
            self._install_stop_signals()
        self.push_screen(HomeScreen())
        if self.start == "run":
            if self.initial_config is None:
                self.show_error("`run` needs a configuration (--repo ...)")
            else:
                self.start_run(self.initial_config)
        elif self.start == "runs":
            self.open_runs_browser()

    # --- navigation (screens call these) ----------------------------------------------------------
    def start_run(self, config: RunConfig) -> RunScreen:
        return self.start_job(new_run_job(config, self.parts))

    def resume_run(self, run_dir: Path, attempt: int) -> RunScreen | None:
        """Resume with the old run's settings (config.json), asking at the gate before the first build."""
        from ..settings import config_from_run

        try:
            config = config_from_run(run_dir, {"approve": "ask"})
        except UserError as err:
            self.show_error(f"Cannot resume {run_dir.name}: {err}")
            return None
        return self.start_job(resume_job(run_dir, attempt, self.parts, config))

    def rerun(self, run_dir: Path) -> RunScreen | None:
        """A fresh run of the same source with the old run's settings (config.json): model, limits, image map."""
        from ..settings import config_from_run

        try:
            config = config_from_run(run_dir, {"out": self.out})
        except UserError as err:
            self.show_error(f"Cannot re-run {run_dir.name}: {err}")
            return None
        return self.start_run(config)

    def start_job(self, job: EngineJob) -> RunScreen:
        live = self.live_runs()
        if live:
            self.notify("A run is already live; stop it (x) before starting another.", severity="warning")
            return live[0]
        screen = RunScreen(job, clock=self.clock)
        self.last_run = screen
        self.push_screen(screen)
        return screen

    def open_runs_browser(self) -> None:
        self.push_screen(RunsScreen())

    def open_run(self, path: Path) -> None:
        try:
            screen = RunDetailScreen(path)
        except ValueError as err:
            self.show_error(str(err))
            return
        self.push_screen(screen)

    def mark_for_compare(self, run_dir: Path, attempt: int | None) -> None:
        self.compare_mark = (run_dir, attempt)
        what = f"attempt {attempt} of {run_dir.name}" if attempt is not None else run_dir.name
        self.notify(f"Marked {what}; select another attempt or run and press v to compare.", timeout=6)

    def compare_with_mark(self, run_dir: Path, attempt: int | None) -> None:
        """Compare the marked attempt/run with this one: two attempts when both sides name one, else two runs."""
        from ..engine.record.compare import compare_attempts, compare_runs
        from ..engine.record.store import load_run
        from .screens.compare import CompareScreen

        if self.compare_mark is None:
            self.notify("Mark an attempt or a run first (m), then select the other and press v.", severity="warning")
            return
        marked_dir, marked_attempt = self.compare_mark
        try:
            first, second = load_run(marked_dir), load_run(run_dir)
        except (ValueError, OSError) as err:
            self.show_error(f"Cannot compare: {err}")
            return
        if marked_attempt is not None and attempt is not None:
            comparison = compare_attempts(first, marked_attempt, second, attempt)
        else:
            comparison = compare_runs(first, second)
        self.push_screen(CompareScreen(comparison))

    def implement_paper(self) -> None:
        """Paper to code (issue 6): open its screen when the module is installed, else say how to get there."""
        try:
            module = importlib.import_module(IMPLEMENT_SCREEN_MODULE)
        except ModuleNotFoundError:
            self.notify("Implementing a paper from the app is not available in this build yet; "
                        "use `paper2run-tui implement PAPER` in a terminal.", severity="warning", timeout=8)
            return
        self.push_screen(module.ImplementScreen())

    def apply_user_keymap(self, keys: dict[str, str] | None = None) -> None:
        """`[keys]` of the user's config file: binding id -> key(s), e.g. "run.stop" = "ctrl+x"."""
        if keys is None:
            from ..settings import resolve

            try:
                keys = resolve().get("keys") or {}
            except UserError as err:
                self.notify(f"Config file not read: {err}", severity="error", timeout=10)
                return
        if not isinstance(keys, dict):
            self.notify("`keys` in the config file must be a table of binding id = key", severity="error")
            return
        self.set_keymap({str(k): str(v) for k, v in keys.items()})

    def action_help(self) -> None:
        from .screens.help import HelpScreen, screen_name

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss(None)
            return
        rows = []
        for _node, binding in self.screen_actions(self.screen):
            key = self.get_key_display(binding)
            rows.append((key, binding.description, binding.id or ""))
        self.push_screen(HelpScreen(sorted(set(rows), key=lambda r: r[2]), screen_name(self.screen)))

    def show_error(self, message: str) -> None:
        self.push_screen(ErrorScreen(message))

    def run_finished(self, screen: RunScreen) -> None:
        status = screen.status
        outcome = screen.outcome
        if outcome is not None and status == "exception":
            where = f"\n\nThe traceback is in {outcome.run_dir / 'logs' / 'exception.txt'}" if outcome.run_dir else ""
            self.show_error(f"The run stopped on an unexpected error: {outcome.reason}{where}")
            return
        severity = "information" if status in ("success", "dry-run") else "warning"
        self.notify(f"Run finished: {status}", severity=severity)  # type: ignore[arg-type]

    # --- quitting ---------------------------------------------------------------------------------
    def _install_stop_signals(self) -> None:
        """SIGTERM and SIGHUP (and a SIGINT from outside: in the terminal Ctrl-C is a key) end the app as a
        confirmed quit does: a live run is cancelled and recorded as interrupted before the app exits."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
                loop.add_signal_handler(signum, self.stop_on_signal, signum)

    def _remove_stop_signals(self) -> None:
        if not self.handle_signals:
            return
        with contextlib.suppress(Exception):
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
                loop.remove_signal_handler(signum)

    def on_unmount(self) -> None:
        self._remove_stop_signals()

    def stop_on_signal(self, signum: int) -> None:
        """A stop signal: abandon the live runs (their workers finish the record), then exit 128 + signal."""
        if self.stop_signal is not None:
            return  # already stopping
        self.stop_signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self.run_worker(self._abandon_and_exit(self.live_runs(), f"stopped by {name}", 128 + signum),
                        group="quit", exclusive=True)


    def live_runs(self) -> list[RunScreen]:
        return [s for s in self.screen_stack if isinstance(s, RunScreen) and s.live]

    def exit_code(self) -> int:
        """For `paper2run-tui run`: the exit code of the run's status, as the headless CLI would return."""
        if self.start != "run" or self.last_run is None:
            return 0
        if self.last_run.outcome is not None:
            return self.last_run.outcome.exit_code
        return EXIT_CODES.get(self.last_run.status, 1)

    def action_request_quit(self) -> None:
        live = self.live_runs()
        if not live:
            self.quit_with(self.exit_code())
            return
        if any(isinstance(s, ConfirmScreen) for s in self.screen_stack):
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(self._abandon_and_exit(live), group="quit", exclusive=True)

        self.push_screen(
            ConfirmScreen("A run is live. Quit and abandon it? It will be recorded as interrupted.",
                          yes="Abandon and quit", no="Keep running"),
            answered,
        )

    def exit(self, result: int | None = None, return_code: int = 0, message: object | None = None) -> None:
        """Whatever the path out, a live engine is cancelled first (it records the run as interrupted)."""
        for screen in self.live_runs():
            screen.cancel.cancel("the app closed")
        super().exit(result, return_code, message)  # type: ignore[arg-type]

    async def _abandon_and_exit(self, screens: list[RunScreen], reason: str = "the person quit the app",
                                code: int | None = None) -> None:
        for screen in screens:
            screen.abandon(reason)
        if screens:
            self.notify("Stopping the run…")
        for screen in screens:
            if screen.worker is not None:
                await screen.worker.wait()
        if code is None:
            code = EXIT_CODES["interrupted"] if self.start == "run" else 0
        self.quit_with(code)

    def quit_with(self, code: int) -> None:
        """Exit with `code` as both the app's result (what run_app returns) and its return code."""
        self.exit(code, return_code=code)

    # --- the command palette offers every action on the screen ------------------------------------------
    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        for node, binding in self.screen_actions(screen):
            key = f"{binding.action}@{id(node)}"
            if key in seen:
                continue
            seen.add(key)
            help_text = f"{binding.tooltip or binding.description} ({binding.key_display or binding.key})"
            yield SystemCommand(binding.description, help_text, partial(self._run_bound, binding.action, node))
        if not isinstance(screen, HomeScreen):
            yield SystemCommand("Home", "Back to the home screen", self._go_home)
        yield SystemCommand("Browse runs", "Every run folder under --out", self.open_runs_browser)
        yield SystemCommand("Implement a paper", "Paper to citation-anchored code (paper2code)", self.implement_paper)

    def screen_actions(self, screen: Screen[Any]) -> list[tuple[DOMNode, Binding]]:
        """Every action bound (with an id) on the screen, on any of its widgets, or on the app."""
        found: list[tuple[DOMNode, Binding]] = []
        for node in [screen, *screen.walk_children(with_self=False), self]:
            for bindings in node._bindings.key_to_bindings.values():
                for binding in bindings:
                    if binding.id and binding.description and self._action_allowed(node, binding):
                        found.append((node, binding))
        return found

    @staticmethod
    def _action_allowed(node: DOMNode, binding: Binding) -> bool:
        name, *_ = binding.action.partition("(")
        return node.check_action(name, ()) is not False

    async def _run_bound(self, action: str, node: object) -> None:
        await self.run_action(action, node)  # type: ignore[arg-type]

    def _go_home(self) -> None:
        from .screens.gate import GateScreen

        if any(isinstance(s, GateScreen) for s in self.screen_stack):
            self.notify("A plan waits for your decision: approve, edit or reject it first (or stop the run).",
                        severity="warning")
            return
        while len(self.screen_stack) > 2 and not isinstance(self.screen, HomeScreen):
            if isinstance(self.screen, RunScreen) and self.screen.live:
                self.notify("A run is live: stop it first (x).", severity="warning")
                return
            self.pop_screen()


def run_app(start: Start, config: RunConfig | None, out: Path) -> int:
    """Entry point of the CLI: run the app and return its exit code (a run's status code for `run`)."""
    app = Paper2RunApp(start, config, out, handle_signals=True)
    result = app.run()
    return int(result) if result is not None else (app.return_code or 0)
