"""The plan editor: JSON in a code editor, validated live (debounced) against EnvPlan.

Errors are shown under the editor with their line; the editor gets the `-invalid` class. The text is
never replaced on a mistake: what the person typed stays until they fix it or reset it.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Static, TextArea

from ...engine.contracts import EnvPlan

DEBOUNCE_SECONDS = 0.3


def _line_of_key(text: str, key: str) -> int | None:
    """1-based line where `"key":` first appears (to point a pydantic error at the text)."""
    needle = f'"{key}"'
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return None


def validate_plan_text(text: str) -> tuple[EnvPlan | None, list[str]]:
    """Parse and validate; return the plan, or None and one line per problem (with a line number when known)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [f"line {exc.lineno}, column {exc.colno}: {exc.msg} (not valid JSON)"]
    if not isinstance(data, dict):
        return None, ["line 1: the plan must be a JSON object { … }"]
    try:
        return EnvPlan.model_validate(data), []
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = ".".join(str(p) for p in err["loc"]) or "plan"
            top = str(err["loc"][0]) if err["loc"] else ""
            line = _line_of_key(text, top) if top else None
            where = f"line {line}: " if line else ""
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}{path}: {msg}")
        return None, problems


class PlanEditor(Vertical):
    """A JSON code editor bound to EnvPlan. Posts `PlanEditor.Validated` after each (debounced) check."""

    class Validated(Message):
        def __init__(self, editor: PlanEditor, plan: EnvPlan | None, errors: list[str]) -> None:
            super().__init__()
            self.editor = editor
            self.plan = plan
            self.errors = errors

        @property
        def control(self) -> PlanEditor:
            return self.editor

    def __init__(self, plan: EnvPlan, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.original = plan
        self.original_text = plan.model_dump_json(indent=2)
        self.plan: EnvPlan | None = plan
        self.errors: list[str] = []
        self._debounce: Timer | None = None

    def compose(self) -> ComposeResult:
        yield TextArea.code_editor(self.original_text, language="json", id="plan-editor-text")
        yield Static("", id="plan-errors")

    @property
    def text_area(self) -> TextArea:
        return self.query_one("#plan-editor-text", TextArea)

    @property
    def text(self) -> str:
        return self.text_area.text

    @property
    def edited(self) -> bool:
        """True when the text means a different plan from the proposed one (formatting alone is no edit)."""
        return self.plan is None or self.plan != self.original

    @property
    def valid(self) -> bool:
        return self.plan is not None

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(DEBOUNCE_SECONDS, self.validate_now)

    def validate_now(self) -> EnvPlan | None:
        """Validate the current text at once (also used on submit, so a pending debounce cannot be bypassed)."""
        if self._debounce is not None:
            self._debounce.stop()
            self._debounce = None
        plan, errors = validate_plan_text(self.text)
        self.plan, self.errors = plan, errors
        self.text_area.set_class(plan is None, "-invalid")
        self.set_class(plan is None, "-invalid")
        box = self.query_one("#plan-errors", Static)
        if errors:
            box.update("\n".join(f"✗ {e}" for e in errors[:8]))
        elif self.edited:
            box.update("✓ valid plan (edited)")
        else:
            box.update("✓ valid plan")
        self.post_message(self.Validated(self, plan, errors))
        return plan

    def reset(self) -> None:
        self.text_area.load_text(self.original_text)
        self.validate_now()
