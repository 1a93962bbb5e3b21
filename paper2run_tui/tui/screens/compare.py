"""`v` after `m`: two attempts (of one run or two) or two runs side by side as diffs. engine/record/compare.py
does the comparing; this screen shows it."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ...engine.record.compare import Comparison
from ..widgets.diff_view import diff_text


class CompareScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", id="compare.close")]

    def __init__(self, comparison: Comparison) -> None:
        super().__init__()
        self.comparison = comparison

    def compose(self) -> ComposeResult:
        c = self.comparison
        with Vertical(id="compare"):
            yield Static(f"[b]Compare[/b] {escape(c.a)} [dim]→[/dim] {escape(c.b)} · esc close", id="compare-title")
            with VerticalScroll(id="compare-text"):
                yield Static("\n".join(escape(line) for line in c.summary), id="compare-summary")
                yield Static(self.section("Plan", c.plan_diff), id="compare-plan")
                yield Static(self.section("Dockerfile", c.dockerfile_diff), id="compare-dockerfile")
        yield Footer()

    def section(self, name: str, diff: str) -> Text:
        text = Text(f"\n{name}\n", style="bold underline")
        text.append_text(diff_text(diff, empty=f"the same {name.lower()} on both sides"))
        return text

    def on_mount(self) -> None:
        self.query_one("#compare-text").focus()

    def action_close(self) -> None:
        self.dismiss(None)
