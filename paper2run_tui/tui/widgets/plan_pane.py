"""The live plan as highlighted JSON, with the previous attempt's plan a keystroke away as a diff."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import ContentSwitcher, Static, TextArea

from ...engine.contracts import EnvPlan
from ...engine.gate.plan_diff import plan_json
from .diff_view import plan_diff_text


class PlanPane(ContentSwitcher):
    """`d` toggles between the current plan and its diff against the previous attempt's plan."""

    ALLOW_MAXIMIZE = True

    BINDINGS = [Binding("d", "toggle_diff", "Plan diff", id="plan.toggle-diff")]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(initial="plan-json", id=id)
        self.plan: EnvPlan | None = None
        self.previous: EnvPlan | None = None
        self.attempt: int | None = None
        self.source = ""
        self.can_focus = True

    def compose(self) -> ComposeResult:
        yield TextArea.code_editor(
            "", language="json", read_only=True, show_line_numbers=False, soft_wrap=True, id="plan-json"
        )
        with VerticalScroll(id="plan-diff"):
            yield Static("no previous plan yet", id="plan-diff-text")

    def on_mount(self) -> None:
        self.border_title = "Plan"

    def show_plan(self, plan: EnvPlan, attempt: int, source: str) -> None:
        if self.plan is not None and attempt != self.attempt:
            self.previous = self.plan
        self.plan, self.attempt, self.source = plan, attempt, source
        self.query_one("#plan-json", TextArea).load_text(plan_json(plan))
        self._refresh_diff()
        self.border_title = f"Plan · attempt {attempt} · {source}"

    def _refresh_diff(self) -> None:
        a = f"attempt {self.attempt - 1}" if self.attempt else "previous"
        b = f"attempt {self.attempt}" if self.attempt else "current"
        self.query_one("#plan-diff-text", Static).update(plan_diff_text(self.previous, self.plan, a, b))

    @property
    def showing_diff(self) -> bool:
        return self.current == "plan-diff"

    def action_toggle_diff(self) -> None:
        self.current = "plan-json" if self.showing_diff else "plan-diff"
        self.border_subtitle = "diff with the previous plan (d: plan)" if self.showing_diff else "d: diff"
