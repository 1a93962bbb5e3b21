"""Home: a new-run form with inline validation, and the recent runs."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from ...engine.config import RunConfig
from ...engine.errors import UserError
from ...engine.record.store import list_runs
from ..form import CheckWith, int_problem, model_problem, paper_problem, ref_problem, repo_problem
from ..widgets.runs_table import EMPTY_HINT, SHORT_COLUMNS, RunsTable

APPROVE_CHOICES = [("ask me for each repair", "ask"), ("approve every plan", "auto"), ("reject every repair", "never")]

#: field id -> (label, placeholder, check)
FIELDS: dict[str, tuple[str, str, Any]] = {
    "repo": ("Repository", "https://github.com/owner/name, a git URL, or a local folder", repo_problem),
    "paper": ("Paper (optional)", ".pdf, .md, arXiv id or URL", paper_problem),
    "ref": ("Ref (optional)", "branch, tag or commit", ref_problem),
    "timeout": ("Smoke timeout, s", "900", lambda v: int_problem(v, 1, None, "timeout")),
    "attempts": ("Max attempts", "3", lambda v: int_problem(v, 1, 20, "attempts")),
    "model": ("Model (optional)", "default: PAPER2RUN_MODEL", model_problem),
}
DEFAULTS = {"timeout": "900", "attempts": "3"}


class HomeScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+s", "start_run", "Start run", id="home.start", priority=True),
        Binding("ctrl+b", "browse_runs", "Browse runs", id="home.browse"),
        Binding("ctrl+o", "implement_paper", "Implement", id="home.implement-paper"),
        Binding("f5", "reload_runs", "Reload runs", id="home.reload", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static("[b]paper2run[/b] · a research repository into a working container, with you approving repairs",
                     id="home-title")
        with Horizontal(id="home-body"):
            with VerticalScroll(id="new-run"):
                for key, (label, placeholder, check) in FIELDS.items():
                    yield Label(label, classes="field-label")
                    yield Input(DEFAULTS.get(key, ""), placeholder=placeholder, id=f"f-{key}",
                                validators=[CheckWith(check)], validate_on=["changed", "blur", "submitted"])
                    yield Static("", id=f"e-{key}", classes="field-error")
                yield Label("Approval", classes="field-label")
                yield Select(APPROVE_CHOICES, value="ask", allow_blank=False, id="f-approve")
                yield Checkbox("Also ask before the first build", id="f-gate-initial")
                yield Checkbox("Dry run: render the plan and Dockerfile, build nothing", id="f-dry-run")
                yield Static("", id="form-errors")
                with Horizontal(id="home-buttons"):
                    yield Button("Start run  ctrl+s", variant="primary", id="start")
                    yield Button("Implement a paper…", id="implement")
            with Vertical(id="recent"):
                yield Static("", id="recent-empty", classes="empty-state")
                yield RunsTable(id="recent-runs", columns=SHORT_COLUMNS)
                yield Button("Browse all runs  ctrl+b", id="browse")
        yield Footer()

    #: Form field -> the resolver's setting it shows.
    SHOWN_SETTINGS = {"timeout": "timeout", "attempts": "max_attempts", "model": "model"}

    def on_mount(self) -> None:
        self.shown: dict[str, Any] = {}
        self._show_resolved()
        self.query_one("#new-run").border_title = "New run"
        self.query_one("#recent").border_title = f"Recent runs in {self.app.out}"  # type: ignore[attr-defined]
        self.action_reload_runs()
        for error in self.query(".field-error"):
            error.display = False
        self.query_one("#f-repo", Input).focus()

    def _show_resolved(self) -> None:
        """Start the form from the effective configuration (environment > user config file > .env), so a field left
        as shown keeps its source; only what the person changes becomes a flag, as on the command line."""
        from ...settings import resolve

        try:
            resolved = resolve()
        except UserError:
            return  # the same error is reported when the run starts
        for key, name in self.SHOWN_SETTINGS.items():
            value = resolved.get(name)
            if value is not None:
                self.query_one(f"#f-{key}", Input).value = str(value)
        for key in ("dry_run", "gate_initial"):
            if resolved.get(key) is not None:
                self.query_one(f"#f-{key.replace('_', '-')}", Checkbox).value = bool(resolved.get(key))
        if resolved.get("approve") in ("ask", "auto", "never"):
            self.query_one("#f-approve", Select).value = resolved.get("approve")
        self.shown = {key: self.query_one(f"#f-{key}", Input).value.strip() for key in self.SHOWN_SETTINGS}
        self.shown |= {key: self.query_one(f"#f-{key.replace('_', '-')}", Checkbox).value
                       for key in ("dry_run", "gate_initial")}

    def on_screen_resume(self) -> None:
        self.action_reload_runs()

    def action_reload_runs(self) -> None:
        rows = list_runs(self.app.out)[:50]  # type: ignore[attr-defined]
        self.query_one(RunsTable).load(rows)
        empty = self.query_one("#recent-empty", Static)
        empty.update(EMPTY_HINT.format(out=self.app.out))  # type: ignore[attr-defined]
        empty.display = not rows
        self.query_one(RunsTable).display = bool(rows)

    # --- inline validation ---------------------------------------------------------------------
    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("f-"):
            self._show_result(event.input)

    def _show_result(self, field: Input) -> bool:
        key = (field.id or "").removeprefix("f-")
        result = field.validate(field.value)
        ok = result is None or result.is_valid
        message = "" if ok else "✗ " + "; ".join(result.failure_descriptions)  # type: ignore[union-attr]
        error = self.query_one(f"#e-{key}", Static)
        error.update(message)
        error.display = bool(message)
        return ok

    def validate_form(self) -> bool:
        return all([self._show_result(self.query_one(f"#f-{key}", Input)) for key in FIELDS])

    def config_from_form(self) -> RunConfig:
        """The RunConfig the form describes: flags over the environment and .env, as the CLI does."""
        from ...settings import build_run_config

        def text(key: str) -> str | None:
            return self.query_one(f"#f-{key}", Input).value.strip() or None

        def changed(key: str, value: Any) -> bool:
            return key not in self.shown or value != self.shown[key]

        flags: dict[str, Any] = {
            "repo": text("repo"), "paper": text("paper"), "ref": text("ref"),
            "out": self.app.out,  # type: ignore[attr-defined]
            "approve": self.query_one("#f-approve", Select).value,
        }
        for key, name in self.SHOWN_SETTINGS.items():
            value = text(key)
            if value is not None and changed(key, value):
                flags[name] = value if key == "model" else int(value)
        for key in ("dry_run", "gate_initial"):
            ticked = self.query_one(f"#f-{key.replace('_', '-')}", Checkbox).value
            if changed(key, ticked):
                flags[key] = ticked
        return build_run_config(flags)

    # --- actions ------------------------------------------------------------------------------
    def action_start_run(self) -> None:
        errors = self.query_one("#form-errors", Static)
        if not self.validate_form():
            errors.update("✗ fix the fields marked above")
            return
        try:
            config = self.config_from_form()
        except UserError as err:
            errors.update("\n".join(f"✗ {line}" for line in str(err).splitlines()))
            return
        errors.update("")
        self.app.start_run(config)  # type: ignore[attr-defined]

    def action_browse_runs(self) -> None:
        self.app.open_runs_browser()  # type: ignore[attr-defined]

    def action_implement_paper(self) -> None:
        self.app.implement_paper()  # type: ignore[attr-defined]

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        actions = {"start": self.action_start_run, "browse": self.action_browse_runs,
                   "implement": self.action_implement_paper}
        if event.button.id in actions:
            event.stop()
            actions[event.button.id]()

    @on(RunsTable.Open)
    def _open(self, event: RunsTable.Open) -> None:
        self.app.open_run(event.path)  # type: ignore[attr-defined]
