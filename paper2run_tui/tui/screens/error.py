"""An error the person must see: one modal, one message, the file to look at."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ErrorScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,enter", "close", "Close", id="error.close")]

    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error"):
            yield Static(self.message, id="error-message")
            yield Button("Close", variant="primary", id="error-close")

    def on_mount(self) -> None:
        self.query_one("#error", Vertical).border_title = "Error"
        self.query_one(Button).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self) -> None:
        self.dismiss(None)
