"""One past run: its report, its attempts one by one, the diff between attempts; copy, re-run, resume."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Log, Markdown, OptionList, Static, TabbedContent, TabPane, TextArea
from textual.widgets.option_list import Option

from ...engine.record.store import AttemptRecord, LoadedRun, load_run, shown_status
from ...engine.render.documents import docker_commands
from ..log_buffer import normalise_line
from ..widgets.diagnosis_pane import decision_summary
from ..widgets.diff_view import plan_diff_text

#: Bytes read from the end of each log file for display; the whole file stays on disk.
LOG_TAIL_BYTES = 256 * 1024


def read_tail(path: Path, max_bytes: int = LOG_TAIL_BYTES) -> list[str]:
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if size > max_bytes:
                fh.seek(size - max_bytes)
            data = fh.read().decode("utf-8", errors="replace")
    except OSError as exc:
        return [f"(cannot read {path.name}: {exc.strerror})"]
    lines = [shown for raw in data.split("\n") for shown in normalise_line(raw)]
    if lines and lines[-1] == "":
        lines.pop()
    if size > max_bytes and lines:
        lines[0] = f"… the first {size - max_bytes} bytes are in {path}"
    return lines


def decision_text(attempt: AttemptRecord) -> str:
    d = attempt.decision
    if d is None:
        return "no gate decision: the first plan ran without asking (or the run stopped before the gate)"
    text = f"{d.action} by {d.decided_by}"
    if d.reason:
        text += f"\nreason: {d.reason}\nthen: {d.then}"
    diff = attempt.path / "plan_diff.diff"
    if diff.is_file():
        text += f"\n\nthe edit is recorded in {diff}"
    return text


class RunDetailScreen(Screen[None]):
    BINDINGS = [
        Binding("c", "copy_docker_run", "Copy docker run", id="detail.copy-docker-run"),
        Binding("r", "rerun", "Re-run", id="detail.rerun"),
        Binding("u", "resume", "Resume", id="detail.resume", tooltip="Resume from the selected attempt (gate first)"),
        Binding("p", "copy_folder", "Run folder", id="detail.copy-folder", show=False),
        Binding("slash", "search_logs", "Search logs", id="detail.search", show=False,
                tooltip="Search every log of this run folder; enter on a hit opens the file at that line"),
        Binding("m", "mark", "Mark to compare", id="detail.mark", show=False,
                tooltip="Mark the selected attempt; v on another attempt (of this run or another) compares them"),
        Binding("v", "compare", "Compare with marked", id="detail.compare", show=False),
        Binding("e", "edit_file", "Open file in $EDITOR", id="detail.edit-file", show=False,
                tooltip="The selected attempt's file of the open tab (plan.json, Dockerfile, its first log)"),
        Binding("o", "open_folder", "Open run folder in $EDITOR", id="detail.open-folder", show=False),
        Binding("escape", "back", "Back", id="detail.back", show=False),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.run: LoadedRun = load_run(path)
        self.selected: int | None = self.run.attempts[-1].number if self.run.attempts else None

    def compose(self) -> ComposeResult:
        meta = self.run.metadata
        took = f" · {meta.duration_s:.0f}s" if meta.duration_s is not None else ""
        yield Static(
            f"[b]{escape(meta.run_id)}[/b] · {escape(meta.repo)} · [b]{shown_status(meta, self.path / 'metadata.json')}"
            f"[/b]{took}\n{escape(meta.reason)}\n[dim]{escape(str(self.path))}[/dim]",
            id="detail-head",
        )
        with TabbedContent(id="detail-tabs"):
            with TabPane("Report", id="tab-report"), VerticalScroll():
                yield Markdown(self.run.report or "_no report.md in this run folder_", id="report")
            with TabPane("Attempts", id="tab-attempts"), Horizontal():
                yield OptionList(*self._attempt_options(), id="attempt-list")
                with TabbedContent(id="attempt-tabs"):
                    with TabPane("Plan", id="a-plan"):
                        yield TextArea.code_editor("", language="json", read_only=True, id="a-plan-text")
                    with TabPane("Dockerfile", id="a-dockerfile"):
                        yield TextArea("", read_only=True, show_line_numbers=True, id="a-dockerfile-text")
                    with TabPane("Logs", id="a-logs"):
                        yield Log(id="a-logs-text", max_lines=20_000)
                    with TabPane("Diagnosis", id="a-diagnosis"), VerticalScroll():
                        yield Static("", id="a-diagnosis-text")
                    with TabPane("Decision", id="a-decision"), VerticalScroll():
                        yield Static("", id="a-decision-text")
            with TabPane("Diff", id="tab-diff"), VerticalScroll():
                yield Static("", id="diff-text")
            with TabPane("Instructions", id="tab-instructions"), VerticalScroll():
                yield Markdown(self.run.instructions or "_no INSTRUCTIONS.md in this run folder_")
        yield Footer()

    def _attempt_options(self) -> list[Option]:
        summaries = {a.number: a for a in self.run.metadata.attempts}
        options = []
        for attempt in self.run.attempts:
            s = summaries.get(attempt.number)
            outcome = s.outcome if s else "?"
            decided = f" · {s.decision}" if s and s.decision else ""
            options.append(Option(f"#{attempt.number} {outcome}{decided}", id=str(attempt.number)))
        return options

    def on_mount(self) -> None:
        attempts = self.query_one("#attempt-list", OptionList)
        if self.run.attempts:
            attempts.highlighted = len(self.run.attempts) - 1
        self.show_attempt(self.selected)

    def attempt(self, number: int | None) -> AttemptRecord | None:
        return next((a for a in self.run.attempts if a.number == number), None)

    def show_attempt(self, number: int | None) -> None:
        self.selected = number
        attempt = self.attempt(number)
        plan_text = self.query_one("#a-plan-text", TextArea)
        log = self.query_one("#a-logs-text", Log)
        log.clear()
        if attempt is None:
            plan_text.load_text("")
            self.query_one("#diff-text", Static).update("this run has no attempts")
            return
        plan_text.load_text(attempt.plan.model_dump_json(indent=2) if attempt.plan else "(no plan.json)")
        self.query_one("#a-dockerfile-text", TextArea).load_text(attempt.dockerfile or "(no Dockerfile)")
        for name, path in attempt.logs.items():
            log.write_lines([f"══ {name}.log ══", *read_tail(path), ""])
        if not attempt.logs:
            log.write_line("(no logs: this attempt was not built)")
        diag = attempt.diagnosis
        self.query_one("#a-diagnosis-text", Static).update(
            f"{decision_summary(attempt.number, diag)}\n\n{diag.reason}" if diag else "no diagnosis for this attempt"
        )
        self.query_one("#a-decision-text", Static).update(decision_text(attempt))
        before = self.attempt(attempt.number - 1)
        self.query_one("#diff-text", Static).update(
            plan_diff_text(before.plan if before else None, attempt.plan, f"attempt {attempt.number - 1}",
                           f"attempt {attempt.number}")
        )

    @on(OptionList.OptionHighlighted, "#attempt-list")
    def _attempt_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.show_attempt(int(event.option.id))

    # --- actions ----------------------------------------------------------------------------
    def docker_run_command(self) -> str | None:
        plan = self.run.plan or (self.run.attempts[-1].plan if self.run.attempts else None)
        if plan is None:
            return None
        return docker_commands(self.run.metadata.run_id, plan, self.run.metadata.image_tag)[1]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """No "copy docker run" for a run that built no image (a dry run, a failure): there is nothing to run."""
        if action == "copy_docker_run":
            return self.run.metadata.image_tag is not None
        return True

    def action_copy_docker_run(self) -> None:
        command = self.docker_run_command()
        if command is None:
            self.notify("This run has no plan, so no image to run.", severity="warning")
            return
        self.app.copy_to_clipboard(command)
        self.notify(f"Copied: {command}\nIf the clipboard did not get it (SSH), it is also in "
                    f"{self.path / 'INSTRUCTIONS.md'}", timeout=10)

    def action_copy_folder(self) -> None:
        self.app.copy_to_clipboard(str(self.path))
        self.notify(f"Run folder: {self.path} (copied)", timeout=8)

    def current_file(self) -> Path:
        """The file behind what is shown: the attempt tab's file, else the run folder's report."""
        attempt = self.attempt(self.selected)
        tabs = self.query_one("#detail-tabs", TabbedContent).active
        if attempt is None or tabs != "tab-attempts":
            return self.path / ("INSTRUCTIONS.md" if tabs == "tab-instructions" else "report.md")
        inner = self.query_one("#attempt-tabs", TabbedContent).active
        if inner == "a-logs" and attempt.logs:
            return next(iter(attempt.logs.values()))
        name = {"a-dockerfile": "Dockerfile", "a-diagnosis": "diagnosis.json", "a-decision": "decision.json"}
        return attempt.path / name.get(inner, "plan.json")

    def action_edit_file(self) -> None:
        from ..editor import open_in_editor

        open_in_editor(self.app, self.current_file())

    def action_open_folder(self) -> None:
        from ..editor import open_in_editor

        open_in_editor(self.app, self.path)

    def action_mark(self) -> None:
        self.app.mark_for_compare(self.path, self.selected)  # type: ignore[attr-defined]

    def action_compare(self) -> None:
        self.app.compare_with_mark(self.path, self.selected)  # type: ignore[attr-defined]

    def action_search_logs(self) -> None:
        from .search import LogSearchScreen

        self.app.push_screen(LogSearchScreen(self.path))

    def action_rerun(self) -> None:
        self.app.rerun(self.path)  # type: ignore[attr-defined]

    def action_resume(self) -> None:
        if self.selected is None:
            self.notify("This run has no attempt to resume from.", severity="warning")
            return
        self.app.resume_run(self.path, self.selected)  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.pop_screen()
