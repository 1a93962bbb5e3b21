"""The live plan as highlighted JSON, with the previous attempt's plan a keystroke away as a diff."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import ContentSwitcher, Static, TextArea

from ...engine.contracts import EnvPlan
from ...engine.gate.plan_diff import plan_json
from .diff_view import plan_diff_text
from .dockerfile_view import dockerfile_text


class PlanPane(ContentSwitcher):
    """`d` toggles between the current plan and its diff against the previous attempt's plan; `f` shows the
    Dockerfile the engine rendered for the current attempt (what it writes to attempts/NN/ and builds)."""

    ALLOW_MAXIMIZE = True

    BINDINGS = [Binding("d", "toggle_diff", "Plan diff", id="plan.toggle-diff"),
                Binding("f", "toggle_dockerfile", "Dockerfile", id="plan.toggle-dockerfile",
                        tooltip="The current attempt's Dockerfile, as written to the run folder")]

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
        with VerticalScroll(id="plan-dockerfile"):
            yield Static("no Dockerfile yet: it is rendered from the first plan", id="plan-dockerfile-text")

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

    def show_dockerfile(self, attempt: int, dockerfile: str) -> None:
        """The Dockerfile the engine rendered for the attempt (the one it writes to attempts/NN/ and builds)."""
        self.dockerfile_attempt, self.dockerfile = attempt, dockerfile
        shown = dockerfile_text(dockerfile) if dockerfile else f"no Dockerfile rendered for attempt {attempt}"
        self.query_one("#plan-dockerfile-text", Static).update(shown)
        if self.showing_dockerfile:
            self.border_subtitle = f"Dockerfile of attempt {attempt} (f: plan)"

    dockerfile: str = ""
    dockerfile_attempt: int | None = None

    @property
    def showing_diff(self) -> bool:
        return self.current == "plan-diff"

    @property
    def showing_dockerfile(self) -> bool:
        return self.current == "plan-dockerfile"

    def action_toggle_diff(self) -> None:
        self.current = "plan-json" if self.showing_diff else "plan-diff"
        self.border_subtitle = "diff with the previous plan (d: plan)" if self.showing_diff else "d: diff · f: Dockerfile"

    def action_toggle_dockerfile(self) -> None:
        self.current = "plan-json" if self.showing_dockerfile else "plan-dockerfile"
        at = f" of attempt {self.dockerfile_attempt}" if self.dockerfile_attempt else ""
        self.border_subtitle = f"Dockerfile{at} (f: plan)" if self.showing_dockerfile else "d: diff · f: Dockerfile"
