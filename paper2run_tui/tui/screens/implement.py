"""Paper to code from the app: generate (or, without an LLM, extract), then read the files with their citations
highlighted; each citation opens the cited section's text beside it; the citation check's result on top."""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, ListItem, ListView, Select, Static

from ...engine.contracts import PaperInfo
from ...engine.implement.config import ImplementConfig
from ...engine.implement.runner import ImplementOutcome, run_implement
from ...engine.ports import CancelToken, ListSink

CITATION = re.compile(r"§\s*\d+(?:\.\d+)*(?:,\s*Eq\.\s*\d+)?|\[(?:UNSPECIFIED|PARTIALLY_SPECIFIED|ASSUMPTION|FROM_OFFICIAL_CODE)\]")
SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")


def highlight(content: str) -> Text:
    text = Text(content)
    text.highlight_regex(CITATION.pattern, style="bold magenta")
    return text


def rounds_summary(folder: Path) -> Text:
    """generation/rounds.json, one line a stage: what was asked, which files, the citation problems before and after
    (no file: the output is the no-model one, and nothing was asked)."""
    path = folder / "generation" / "rounds.json"
    try:
        rounds = json.loads(path.read_text())
    except (OSError, ValueError):
        return Text("")
    lines = [f"generation: {len(rounds)} stage(s), recorded in generation/rounds.json"]
    for r in rounds if isinstance(rounds, list) else []:
        if not isinstance(r, dict):
            continue
        stage = str(r.get("stage", "?")) + (f" round {r['round']}" if r.get("round") else "")
        files = ", ".join(map(str, r.get("files") or [])) or "-"
        line = f"  {stage}: {files}"
        if r.get("violations_before") or r.get("violations_after"):
            line += f" — problems {len(r.get('violations_before') or [])} before, {len(r.get('violations_after') or [])} after"
        if r.get("note"):
            line += f" ({str(r['note'])[:120]})"
        lines.append(line)
    return Text("\n".join(lines))


class ImplementScreen(Screen[None]):
    BINDINGS = [
        Binding("ctrl+g", "generate", "Generate", id="implement.generate"),
        Binding("escape", "back", "Back", id="implement.back"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.outcome: ImplementOutcome | None = None
        self.paper: PaperInfo | None = None
        self.cancel = CancelToken()

    def compose(self) -> ComposeResult:
        with Horizontal(id="implement-form"):
            yield Input(placeholder="paper: arXiv id or URL, .pdf or .md", id="implement-paper")
            yield Select([(f, f) for f in ("pytorch", "jax", "tensorflow")], value="pytorch", allow_blank=False,
                         id="implement-framework")
            yield Select([(m, m) for m in ("minimal", "full", "educational")], value="minimal", allow_blank=False,
                         id="implement-mode")
            yield Button("Generate", id="implement-go", variant="primary")
        yield Static("Give a paper and press Generate (ctrl+g).", id="implement-status")
        yield Static("", id="implement-rounds")
        with Horizontal(id="implement-body"):
            yield ListView(id="implement-files")
            with VerticalScroll(id="implement-file-pane"):
                yield Static("", id="implement-file")
            with Vertical(id="implement-side"):
                yield ListView(id="implement-citations")
                with VerticalScroll():
                    yield Static("", id="implement-section")
        yield Footer()

    def action_back(self) -> None:
        self.cancel.cancel("left the implement screen")
        self.app.pop_screen()

    @on(Button.Pressed, "#implement-go")
    def action_generate(self) -> None:
        paper = self.query_one("#implement-paper", Input).value.strip()
        if not paper:
            self.query_one("#implement-status", Static).update("[b red]Give a paper first[/]")
            return
        self.query_one("#implement-status", Static).update(f"Working on {paper}…")
        self._generate(paper, str(self.query_one("#implement-framework", Select).value),
                       str(self.query_one("#implement-mode", Select).value))

    @work(thread=True, exclusive=True, exit_on_error=False, group="implement")
    def _generate(self, paper: str, framework: str, mode: str) -> None:
        from ...settings import fix_rounds, llm_settings, resolve

        try:
            resolved = resolve()
            config = ImplementConfig(paper=paper, out=self.app.out, framework=framework, mode=mode, run=False,  # type: ignore[attr-defined,arg-type]
                                     llm=llm_settings(resolved)).model_copy(update=fix_rounds(resolved))
            outcome = run_implement(config, ListSink(), None, self.cancel)
        except Exception as exc:  # noqa: BLE001 - shown to the person, who can fix the input
            self.app.call_from_thread(self.query_one("#implement-status", Static).update, f"[b red]{exc}[/]")
            return
        self.app.call_from_thread(self._show, outcome)

    def _show(self, outcome: ImplementOutcome) -> None:
        self.outcome = outcome
        self.paper = PaperInfo.model_validate_json((outcome.folder / "paper.json").read_bytes())
        made = "code generated" if outcome.generated_code else (
            "the model's code failed its citation check after the fix rounds: set aside in generation/rejected/"
            if (outcome.folder / "generation" / "rejected").is_dir() else "no code generated (no LLM endpoint configured)")
        check = ("[green]citations checked: no problems[/]" if outcome.citations.ok else
                 f"[b red]{len(outcome.citations.violations)} citation problem(s)[/]: "
                 + "; ".join(f"{v.file}:{v.line} {v.message}" for v in outcome.citations.violations[:3]))
        code = (f"\nthe paper names its code: {escape(self.paper.code_url)} — run it with "
                f"`paper2run-tui run --repo {escape(self.paper.code_url)}`") if self.paper.code_url else ""
        self.query_one("#implement-status", Static).update(f"{outcome.folder} — {made}; {check}{code}")
        self.query_one("#implement-rounds", Static).update(rounds_summary(outcome.folder))
        files = self.query_one("#implement-files", ListView)
        files.clear()
        for path in sorted(p for p in outcome.folder.rglob("*") if p.is_file() and p.suffix != ".json"):
            rel = path.relative_to(outcome.folder).as_posix()
            files.append(ListItem(Static(rel), name=rel))
        files.focus()

    @on(ListView.Highlighted, "#implement-files")
    def _file_chosen(self, event: ListView.Highlighted) -> None:
        if self.outcome is None or event.item is None or event.item.name is None:
            return
        content = (self.outcome.folder / event.item.name).read_text(errors="replace")
        self.query_one("#implement-file", Static).update(highlight(content))
        citations = self.query_one("#implement-citations", ListView)
        citations.clear()
        for n, line in enumerate(content.splitlines(), 1):
            for number in dict.fromkeys(SECTION.findall(line)):
                citations.append(ListItem(Static(f"{n}: §{number}"), name=number))

    @on(ListView.Highlighted, "#implement-citations")
    def _citation_chosen(self, event: ListView.Highlighted) -> None:
        if self.paper is None or event.item is None or event.item.name is None:
            return
        number = event.item.name
        sections = [s for s in self.paper.sections if s.number == number or s.number.startswith(number + ".")]
        body = "\n\n".join(f"§{s.number} {s.title}\n{s.text}" for s in sections) or f"§{number} is not in the paper"
        self.query_one("#implement-section", Static).update(Text(body))

