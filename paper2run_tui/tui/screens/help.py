"""F1 / `?`: what the gate is, what each status and smoke rung means, and every key of the screen below."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Markdown

from ...engine.render.documents import VERDICTS

GUIDE = """\
## The gate

Before a repair plan is built, it waits for you here. **Approve** it (ctrl+s), **edit** the JSON first (it is
validated as you type; ctrl+s then runs your version and records the diff), or **reject** it (ctrl+r) with a
reason: the run stops, or, when a model plans, you ask for another plan and the model reads your reason. Without
a model no planner can use a reason, so the gate says so and offers the editor instead. f2 peeks at the log, f4
shows the diff with the previous plan, f5 undoes your edits. Nothing you do elsewhere (the palette, Home) can
drop a pending decision: the gate stays until you decide or stop the run.

## Resume and re-run

In a past run (runs browser, enter), `u` resumes from the selected attempt: a new run folder named after the same
source, the attempt numbers go on, and the gate opens on that attempt's plan so you can fix it before the build.
`r` re-runs from scratch. Both keep the old run's settings (model, limits, base-image map) from its config.json.

## The smoke ladder (how green is green)

1. **static-imports**: every module imports statically resolve
2. **import-package**: the package (or the library the scripts use) imports in the container
3. **entrypoint-help**: an entry point answers `--help`
4. **tests**: the data-free tests pass
5. **toy-run**: an entry point runs for real on the CPU, without network, for up to two minutes

## Statuses
"""

PAST_RUNS = """\
## Search and compare past runs

`/` (in the runs browser or a past run) searches every log of the run folder; enter on a hit opens the file at
that line. `m` marks an attempt (in a past run) or a run (in the browser); `v` on another one compares them: how
each ended, the plan diff and the Dockerfile diff (two attempts may come from two runs).
"""


def _bindings_table(rows: list[tuple[str, str, str]]) -> str:
    if not rows:
        return "_no keys on this screen_\n"
    lines = ["| key | does | id (remap it in `[keys]` of your config file) |", "| --- | --- | --- |"]
    lines += [f"| `{key}` | {what} | `{bid}` |" for key, what, bid in rows]
    return "\n".join(lines) + "\n"


def help_markdown(bindings: list[tuple[str, str, str]], screen_name: str) -> str:
    statuses = "\n".join(f"- **{status}**: {meaning}" for status, meaning in VERDICTS.items())
    return (f"{GUIDE}\n{statuses}\n\n{PAST_RUNS}\n## Keys on {screen_name}\n\n{_bindings_table(bindings)}\n"
            "ctrl+p opens the command palette: every action of the screen, by name.\n")


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "close", "Close help", id="help.close")]

    def __init__(self, bindings: list[tuple[str, str, str]], screen_name: str) -> None:
        super().__init__()
        self.bindings = bindings
        self.screen_name = screen_name

    def compose(self) -> ComposeResult:
        with Vertical(id="help"), VerticalScroll(id="help-scroll"):
            yield Markdown(help_markdown(self.bindings, self.screen_name), id="help-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#help", Vertical).border_title = "Help · esc closes"
        self.query_one("#help-scroll").focus()

    def action_close(self) -> None:
        self.dismiss(None)


def screen_name(screen: Any) -> str:
    return {"HomeScreen": "the home screen", "RunScreen": "the live run", "GateScreen": "the gate",
            "RunsScreen": "the runs browser", "RunDetailScreen": "a past run"}.get(type(screen).__name__,
                                                                                  type(screen).__name__)
