"""The diagnosis as the model writes it, then the decision: matched rules and confidence."""

from __future__ import annotations

from rich.markup import escape
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Markdown, Static
from textual.widgets.markdown import MarkdownStream

from ...engine.contracts import DiagnosisDecision


def matched_lines_text(d: DiagnosisDecision) -> Text:
    """Each fired rule with the log line it matched, as plain text spans: a repository can plant markup in its logs."""
    text = Text()
    for rule, line in d.matched_lines.items():
        text.append(rule, style="bold").append(" ← ").append(line).append("\n")
    if d.matched_lines:
        text.append("l: show it in the log", style="dim")
    return text


def decision_summary(attempt: int, d: DiagnosisDecision) -> str:
    rules = escape(", ".join(d.matched_rules) or "none")
    verdict = "[b green]repair[/]" if d.decision == "repair" else "[b red]stop[/]"
    failure = f" · {escape(d.failure_class)}" if d.failure_class else ""
    return (
        f"attempt {attempt}: {verdict} · confidence [b]{d.confidence}[/b] · by {d.source}{failure}\n"
        f"matched rules: {rules}"
    )


class DiagnosisPane(VerticalScroll):
    """Streams DiagnosisDelta text into a Markdown widget; the scroll stays anchored at the end."""

    ALLOW_MAXIMIZE = True
    BINDINGS = [Binding("l", "show_matched_line", "Show matched line", id="diagnosis.show-matched-line")]

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self._stream: MarkdownStream | None = None
        self._attempt: int | None = None
        self.text = ""
        self.decision: DiagnosisDecision | None = None
        self._shown = -1

    def compose(self) -> ComposeResult:
        yield Static("no diagnosis yet: it appears when an attempt fails", id="diag-head")
        yield Static("", id="diag-lines")
        yield Markdown("", id="diag-text")

    def on_mount(self) -> None:
        self.border_title = "Diagnosis"

    async def add_delta(self, attempt: int, text: str) -> None:
        if attempt != self._attempt:
            await self._stop_stream()
            self._attempt, self.text = attempt, ""
            await self.query_one("#diag-text", Markdown).update("")
            self.query_one("#diag-head", Static).update(f"attempt {attempt}: diagnosing…")
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one("#diag-text", Markdown))
        self.text += text
        await self._stream.write(text)
        self.scroll_end(animate=False)

    async def show_decision(self, attempt: int, decision: DiagnosisDecision) -> None:
        await self._stop_stream()
        if attempt != self._attempt or not self.text.strip():
            self._attempt, self.text = attempt, decision.reason
            await self.query_one("#diag-text", Markdown).update(decision.reason)
        self.query_one("#diag-head", Static).update(decision_summary(attempt, decision))
        self.decision, self._shown = decision, -1
        self.query_one("#diag-lines", Static).update(matched_lines_text(decision))
        self.border_title = f"Diagnosis · attempt {attempt} · {decision.confidence}"

    def action_show_matched_line(self) -> None:
        """Each press shows the next fired rule's matched line in the log pane."""
        lines = list(self.decision.matched_lines.values()) if self.decision else []
        if not lines:
            self.notify("No rule matched a log line in this diagnosis.")
            return
        self._shown = (self._shown + 1) % len(lines)
        self.post_message(self.ShowLine(lines[self._shown]))

    class ShowLine(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    async def _stop_stream(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.stop()
