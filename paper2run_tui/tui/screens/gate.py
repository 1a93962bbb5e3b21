"""The human gate: approve the proposed plan, edit it (validated live), or reject it with a reason.

Beside the JSON it shows what will be built: the Dockerfile the plan renders (re-rendered as the person edits),
its diff to the previous attempt's Dockerfile, the plan diff, and the plan policy's findings, re-checked with the
engine's own check_plan on every valid edit. A plan the policy refuses cannot be approved.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Footer,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
    TabbedContent,
    TabPane,
)

from ...engine.contracts import EnvPlan, GateRequest, HumanDecision, PolicyVerdict
from ..widgets.diagnosis_pane import decision_summary
from ..widgets.diff_view import plan_diff_text
from ..widgets.dockerfile_view import dockerfile_diff_text, dockerfile_text, policy_text, preview
from ..widgets.plan_editor import PlanEditor


class GateScreen(ModalScreen[HumanDecision | None]):
    """Dismissed with the person's HumanDecision (None only when the run is abandoned meanwhile).

    Bindings use ctrl/F-keys: printable keys would be typed into the editor.
    """

    BINDINGS = [
        Binding("ctrl+s", "approve", "Approve", id="gate.approve", priority=True),
        Binding("ctrl+r", "reject", "Reject", id="gate.reject", priority=True),
        Binding("f5", "reset", "Reset edits", id="gate.reset", show=False),
        Binding("f4", "toggle_diff", "Diff", id="gate.toggle-diff"),
        Binding("f6", "next_view", "Dockerfile/diffs", id="gate.next-view", priority=True),
        Binding("escape", "cancel_reject", "Back to plan", id="gate.cancel-reject", show=False),
        Binding("f2", "peek_log", "Log", id="gate.peek-log"),
        Binding("f1", "app.help", "Help", id="gate.help"),
    ]

    #: Below 100 columns the diff hides (f4 shows it) so the editor keeps its width.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    def __init__(self, request: GateRequest, log_lines: Callable[[], list[str]] | None = None) -> None:
        super().__init__()
        self.request = request
        self.log_lines = log_lines
        self._abandoned = False
        self.verdict: PolicyVerdict | None = request.verdict
        self.dockerfile = request.dockerfile

    def compose(self) -> ComposeResult:
        req = self.request
        what = "Repair plan" if req.kind == "repair" else "First plan"
        by = f"proposed by {escape(req.plan_source or 'the planner')}"
        if req.plan_source == "resumed":
            what, by = "Resumed plan", f"the plan of attempt {req.attempt - 1}: edit it before the build"
        with Vertical(id="gate"):
            yield Static(f"[b]{what} for attempt {req.attempt}[/b] · {by}", id="gate-title")
            if req.diagnosis is not None:
                yield Static(
                    # the reason quotes the repository's logs: text, never markup
                    decision_summary(req.attempt - 1, req.diagnosis) + f"\n{escape(req.diagnosis.reason)}",
                    id="gate-diagnosis",
                )
            yield Static("", id="gate-policy")
            with Horizontal(id="gate-body"):
                yield PlanEditor(req.proposed, id="gate-editor")
                with TabbedContent(id="gate-diff", initial="tab-dockerfile"):
                    with TabPane("Dockerfile", id="tab-dockerfile"), VerticalScroll():
                        yield Static("", id="gate-dockerfile")
                    with TabPane("Dockerfile diff", id="tab-dockerfile-diff"), VerticalScroll():
                        yield Static("", id="gate-dockerfile-diff")
                    with TabPane("Plan diff", id="tab-plan-diff"), VerticalScroll():
                        yield Static(
                            plan_diff_text(req.previous, req.proposed, "previous plan", "proposed plan"),
                            id="gate-diff-text",
                        )
            with Vertical(id="gate-reject"):
                if req.replan_uses_reason:
                    yield Label("Why reject it? (the reason is recorded, and given to the planner if you ask again)")
                else:
                    yield Label("Why reject it? (the reason is recorded; no planner here can use it: without an LLM "
                                "another plan would be the same one, so edit this plan instead)")
                yield Input(placeholder="reason", id="reject-reason")
                with RadioSet(id="reject-then"):
                    yield RadioButton("stop the run", value=True, id="then-stop")
                    yield RadioButton("ask for another plan with this reason" if req.replan_uses_reason else
                                      "ask for another plan: not available without an LLM", id="then-ask-again",
                                      disabled=not req.replan_uses_reason)
                yield Static("", id="reject-error")
                with Horizontal(id="reject-buttons"):
                    yield Button("Reject", variant="error", id="reject-confirm")
                    if not req.replan_uses_reason:
                        yield Button("Edit the plan instead", variant="primary", id="reject-edit")
            with Horizontal(id="gate-buttons"):
                yield Button("Approve  ctrl+s", variant="success", id="approve")
                yield Button("Reject…  ctrl+r", variant="error", id="reject")
                yield Button("Reset edits  f5", id="reset")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#gate-reject").display = False
        self.query_one("#gate", Vertical).border_title = "Human gate"
        self.editor.validate_now()
        self.editor.text_area.focus()

    @property
    def editor(self) -> PlanEditor:
        return self.query_one("#gate-editor", PlanEditor)

    # --- live validation feedback ----------------------------------------------------
    @on(PlanEditor.Validated)
    def _validated(self, event: PlanEditor.Validated) -> None:
        if event.plan is not None:
            self._show_preview(event.plan)
        else:
            self.query_one("#gate-dockerfile", Static).update(
                dockerfile_text(self.dockerfile, stale="the JSON is not a valid plan: this is the last valid render"))
        button = self.query_one("#approve", Button)
        refused = event.plan is not None and self.verdict is not None and self.verdict.refused
        button.disabled = event.plan is None or refused
        button.label = "Approve edited plan  ctrl+s" if self.editor.edited and event.plan else "Approve  ctrl+s"

    def _show_preview(self, plan: EnvPlan) -> None:
        """Render and police the plan as the engine will (the engine checks it again after the decision)."""
        req = self.request
        source = "user" if self.editor.edited else req.plan_source
        self.dockerfile, self.verdict = preview(plan, req, source)
        self.query_one("#gate-dockerfile", Static).update(dockerfile_text(self.dockerfile))
        self.query_one("#gate-dockerfile-diff", Static).update(
            dockerfile_diff_text(req.previous_dockerfile, self.dockerfile, req.attempt))
        self.query_one("#gate-policy", Static).update(policy_text(self.verdict))
        self.query_one("#gate-policy").set_class(self.verdict.refused, "-refused")
        self.query_one("#gate-policy").set_class(self.verdict.flagged and not self.verdict.refused, "-flagged")

    # --- decisions ---------------------------------------------------------------------
    def action_approve(self) -> None:
        if self.query_one("#gate-reject").display:
            self.action_confirm_reject()
            return
        plan = self.editor.validate_now()
        if plan is None:
            self.notify("The plan is not valid: fix the errors under the editor first.", severity="error")
            self.editor.text_area.focus()
            return
        if self.verdict is not None and self.verdict.refused:
            self.notify("The plan policy refuses this plan: fix the fields it names (above the editor), or reject it.",
                        severity="error")
            self.editor.text_area.focus()
            return
        if self.editor.edited:
            self.dismiss(HumanDecision(action="edit", plan=plan))
        else:
            self.dismiss(HumanDecision(action="approve"))

    def action_reject(self) -> None:
        panel = self.query_one("#gate-reject")
        if panel.display:
            self.action_confirm_reject()
            return
        panel.display = True
        self.query_one("#reject-reason", Input).focus()

    def action_cancel_reject(self) -> None:
        self.query_one("#gate-reject").display = False
        self.editor.text_area.focus()

    def action_confirm_reject(self) -> None:
        reason = self.query_one("#reject-reason", Input).value.strip()
        if not reason:
            self.query_one("#reject-error", Static).update("✗ give a reason: it is recorded with the decision")
            self.query_one("#reject-reason", Input).focus()
            return
        ask_again = self.query_one("#then-ask-again", RadioButton).value
        self.dismiss(HumanDecision(action="reject", reason=reason, then="ask-again" if ask_again else "stop"))

    def action_peek_log(self) -> None:
        """The run's log so far, over the gate (which keeps its edits and its pending decision)."""
        from .peek import LogPeekScreen

        lines = self.log_lines() if self.log_lines is not None else []
        self.app.push_screen(LogPeekScreen(f"Log of the run up to attempt {self.request.attempt}'s gate", lines))

    def action_reset(self) -> None:
        self.editor.reset()

    def action_toggle_diff(self) -> None:
        diff = self.query_one("#gate-diff")
        diff.display = not diff.display

    def action_next_view(self) -> None:
        tabs = self.query_one("#gate-diff", TabbedContent)
        order = ["tab-dockerfile", "tab-dockerfile-diff", "tab-plan-diff"]
        tabs.active = order[(order.index(tabs.active) + 1) % len(order)] if tabs.active in order else order[0]
        tabs.display = True

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions = {"approve": self.action_approve, "reject": self.action_reject, "reset": self.action_reset,
                   "reject-confirm": self.action_confirm_reject, "reject-edit": self.action_cancel_reject}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    @on(Input.Submitted, "#reject-reason")
    def _reason_submitted(self) -> None:
        self.action_confirm_reject()

    # --- the run was abandoned while the gate was open ------------------------------------
    def abandon(self) -> None:
        """Close without a decision (the engine's cancel fired). Waits if another modal is on top."""
        self._abandoned = True
        if self.is_current:
            self.dismiss(None)

    def on_screen_resume(self) -> None:
        if self._abandoned:
            self.dismiss(None)
