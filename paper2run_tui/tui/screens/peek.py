"""A log (or any text) over the current screen, searchable, closed with escape: the screen below keeps its state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from ..widgets.log_pane import LogPane


class LogPeekScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", id="peek.close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        with Vertical(id="peek"):
            yield Static(f"[b]{self.title_text}[/b] · ctrl+f search · n next match · esc close", id="peek-title")
            yield LogPane(id="peek-log")
        yield Footer()

    def on_mount(self) -> None:
        pane = self.query_one(LogPane)
        pane.write_now(self.lines or ["(nothing logged yet)"])
        pane.status.phase = f"{len(self.lines)} lines"
        pane.query_one("Log").focus()

    def action_close(self) -> None:
        self.dismiss(None)
