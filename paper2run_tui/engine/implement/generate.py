"""Generation with the LLM, in stages (as PaperCoder does): a plan (the file list, a spec per file and
configs/base.yaml with its citations), then the files one by one with the earlier ones as context, then the
citation check, with the violations going back to the model for a bounded number of fix rounds. The build and
shape check in the engine, with its errors going back to the model, is driven by the runner (`fix_from_build`).

Every stage is recorded in the output folder (`generation/rounds.json`). A weak model never makes the output
worse than the no-model path: a configs/base.yaml that still fails its check is replaced by the deterministic one,
and code that still fails it is set aside (`generation/rejected/`), never written as the implementation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field, field_validator

from ..contracts import Message, PaperInfo
from ..llm.client import LlmClient, LlmError
from ..llm.prompts import render_prompt
from ..llm.schema_caps import UNCAPPED
from ..ports import CancelToken, EventSink
from ..record.atomic import write_text_atomic
from .citations import CitationChecker, CitationReport, Violation
from .deterministic import config_yaml

BASE_FILES = ["README.md", "REPRODUCTION_NOTES.md", "requirements.txt", "src/__init__.py", "src/model.py", "src/loss.py",
              "src/data.py", "src/utils.py", "configs/base.yaml", "smoke_shapes.py"]
MODE_FILES = {"minimal": [], "full": ["src/train.py", "src/evaluate.py"],
              "educational": ["src/train.py", "src/evaluate.py", "notebooks/walkthrough.ipynb"]}
#: Without these two there is nothing to build and shape-check.
REQUIRED = ("src/model.py", "smoke_shapes.py")
CONFIG = "configs/base.yaml"
#: Files the runner writes itself (the notes and README carry the audit and the citation report).
OWN_FILES = {"REPRODUCTION_NOTES.md"}
#: Context budget: characters of each earlier file, and of all of them, shown when writing the next one.
PER_FILE_CONTEXT = 6000
ALL_FILES_CONTEXT = 18000


def _safe(path: str) -> str:
    path = path.strip()
    if not path or path.startswith("/") or ".." in path.split("/") or "\\" in path:
        raise ValueError(f"unsafe file path {path!r}")
    return path


class PlannedFile(BaseModel):
    path: str
    spec: str = Field(default="", description="What the file holds: classes/functions, the sections and equations")

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        return _safe(path)


class ImplementPlan(BaseModel):
    files: list[PlannedFile]
    #: configs/base.yaml: one `key: value  # tag` line per hyperparameter, each cited or flagged.
    config: str = Field(json_schema_extra={UNCAPPED: True})
    notes: str = ""

    @field_validator("files")
    @classmethod
    def _required(cls, files: list[PlannedFile]) -> list[PlannedFile]:
        paths = [f.path for f in files]
        missing = [p for p in REQUIRED if p not in paths]
        if missing:
            raise ValueError(f"the plan has no {', '.join(missing)}")
        if len(set(paths)) != len(paths):
            raise ValueError("a file is planned twice")
        return files


class FileAnswer(BaseModel):
    #: A file's text is long: no length cap in the schema the model is held to (llm/schema_caps.py).
    content: str = Field(json_schema_extra={UNCAPPED: True})


class FileFixes(BaseModel):
    """Corrected files after a failed build or shape check: only the files that change, each in full."""
    files: dict[str, str] = Field(json_schema_extra={UNCAPPED: True})
    explanation: str = ""

    @field_validator("files")
    @classmethod
    def _paths(cls, files: dict[str, str]) -> dict[str, str]:
        for path in files:
            _safe(path)
        return files


class Round(BaseModel):
    """One recorded stage: what was asked, which files it touched, the citation problems before and after."""
    stage: str  # plan | write | citation-fix | build-fix | fallback
    round: int = 0
    files: list[str] = Field(default_factory=list)
    violations_before: list[str] = Field(default_factory=list)
    violations_after: list[str] = Field(default_factory=list)
    note: str = ""


class Generation(BaseModel):
    files: dict[str, str]
    report: CitationReport
    fixed: bool = False
    notes: str = ""
    first_report: CitationReport | None = Field(default=None, description="The check before the fix rounds")
    rejected: dict[str, str] = Field(default_factory=dict, description="Files set aside: they failed their check")
    rejected_report: CitationReport | None = None
    rounds: list[Round] = Field(default_factory=list)
    plan: ImplementPlan | None = None

    @property
    def has_code(self) -> bool:
        return all(p in self.files for p in REQUIRED)


def expected_files(mode: str) -> list[str]:
    return BASE_FILES + MODE_FILES.get(mode, [])


def _paper_prompt(paper: PaperInfo, budget: int = 24000) -> dict[str, object]:
    per = max(400, budget // max(1, len(paper.sections)))
    return {"title": paper.title, "abstract": paper.abstract[:1500],
            "sections": [{"number": s.number, "title": s.title, "text": s.text[:per]} for s in paper.sections if s.number],
            "equations": paper.equations[:40], "hyperparameters": paper.hyperparameters[:60]}


def _messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _violation_lines(report: CitationReport) -> list[str]:
    return [f"{v.file}:{v.line} {v.kind}: {v.message}" for v in report.violations]


def _table(violations: list[Violation]) -> str:
    return CitationReport(citations=len(violations), violations=violations).markdown()


class StagedGenerator:
    """Plan, write file by file, check, fix; `record` is called after every stage with the rounds so far."""

    def __init__(self, client: LlmClient, paper: PaperInfo, *, framework: str, mode: str, sink: EventSink,
                 cancel: CancelToken, fix_rounds: int = 2, record: Callable[[list[Round]], None] | None = None) -> None:
        self.client, self.paper, self.sink, self.cancel = client, paper, sink, cancel
        self.framework, self.mode, self.fix_rounds = framework, mode, fix_rounds
        self.checker = CitationChecker(paper)
        self.rounds: list[Round] = []
        self._record = record or (lambda rounds: None)
        self.system = render_prompt("implement_system", framework=framework, mode=mode, files=expected_files(mode))
        self.paper_text = render_prompt("implement_user", **_paper_prompt(paper))

    def _add(self, r: Round) -> None:
        self.rounds.append(r)
        self._record(self.rounds)

    # --- stage 1: the plan ----------------------------------------------------------------------------------------

    def plan(self) -> ImplementPlan:
        user = self.paper_text + "\n\n" + render_prompt("implement_plan", files=expected_files(self.mode))
        plan = self.client.structured(_messages(self.system, user), ImplementPlan, purpose="implement-plan",
                                      cancel=self.cancel)
        files = [f for f in plan.files if f.path != CONFIG and f.path not in OWN_FILES]
        plan = plan.model_copy(update={"files": files})
        report = self.checker.check({CONFIG: plan.config})
        self._add(Round(stage="plan", files=[f.path for f in files] + [CONFIG], violations_after=_violation_lines(report),
                        note=plan.notes[:500]))
        return plan

    # --- stage 2: file by file ------------------------------------------------------------------------------------

    def _context(self, written: dict[str, str]) -> str:
        parts: list[str] = []
        left = ALL_FILES_CONTEXT
        for path, content in written.items():
            if left <= 0:
                parts.append(f"(further files left out: {path}, ...)")
                break
            shown = content[:min(PER_FILE_CONTEXT, left)]
            cut = "" if len(shown) == len(content) else f"\n# ... ({len(content) - len(shown)} more characters)"
            parts.append(f"--- {path}\n{shown}{cut}")
            left -= len(shown)
        return "\n".join(parts) or "(none yet)"

    def write(self, plan: ImplementPlan) -> dict[str, str]:
        written: dict[str, str] = {CONFIG: plan.config}
        listing = "\n".join(f"- {f.path}: {f.spec}" for f in plan.files)
        for f in plan.files:
            self.cancel.raise_if_cancelled()
            user = render_prompt("implement_file", paper=self.paper_text, listing=listing, path=f.path, spec=f.spec,
                                 context=self._context(written))
            answer = self.client.structured(_messages(self.system, user), FileAnswer, purpose="implement-file",
                                            cancel=self.cancel)
            written[f.path] = answer.content
            report = self.checker.check({f.path: answer.content})
            self._add(Round(stage="write", files=[f.path], violations_after=_violation_lines(report)))
        return written

    # --- stage 3: the citation check and its fix rounds -----------------------------------------------------------

    def fix_citations(self, files: dict[str, str]) -> tuple[dict[str, str], CitationReport, CitationReport]:
        first = report = self.checker.check(files)
        for n in range(1, self.fix_rounds + 1):
            if report.ok:
                break
            self.sink.emit(Message(level="warning", text=(
                f"{len(report.violations)} citation problem(s); asking the model to fix them (round {n} of "
                f"{self.fix_rounds})")))
            by_file: dict[str, list[Violation]] = {}
            for v in report.violations:
                by_file.setdefault(v.file, []).append(v)
            before = _violation_lines(report)
            for path, violations in sorted(by_file.items()):
                if path not in files:
                    continue
                user = render_prompt("implement_fix", paper=self.paper_text, path=path, content=files[path],
                                     problems=_table(violations), context=self._context(
                                         {p: c for p, c in files.items() if p != path}))
                try:
                    answer = self.client.structured(_messages(self.system, user), FileAnswer,
                                                    purpose="fix-citations", cancel=self.cancel)
                except LlmError as err:
                    self.sink.emit(Message(level="warning", text=f"the fix of {path} failed ({err}); kept as it was"))
                    continue
                files = {**files, path: answer.content}
            report = self.checker.check(files)
            self._add(Round(stage="citation-fix", round=n, files=sorted(by_file), violations_before=before,
                            violations_after=_violation_lines(report)))
        return files, first, report

    # --- never worse than the no-model path -----------------------------------------------------------------------

    def settle(self, files: dict[str, str], report: CitationReport) -> tuple[dict[str, str], dict[str, str],
                                                                                CitationReport | None]:
        """Files that still fail their check are set aside; a failing config becomes the deterministic one; without
        src/model.py and smoke_shapes.py no code is kept at all. Returns (kept, rejected, report of the rejected)."""
        if report.ok:
            return files, {}, None
        rejected_report = report
        kept = dict(files)
        rejected: dict[str, str] = {}
        notes = []
        for _ in range(4):  # the config first (code disagreeing with a wrong config is not wrong), then the code
            again = self.checker.check(kept)
            if again.ok:
                break
            bad = {v.file for v in again.violations}
            if CONFIG in bad and CONFIG not in rejected:
                rejected[CONFIG] = kept[CONFIG]
                kept[CONFIG] = config_yaml(self.paper)
                notes.append("configs/base.yaml replaced by the one read from the paper")
                continue
            rejected.update({p: kept.pop(p) for p in bad if p != CONFIG and p in kept})
            if CONFIG in bad:
                kept[CONFIG] = config_yaml(self.paper)
        if any(p not in kept for p in REQUIRED):
            rejected.update({p: c for p, c in kept.items() if p != CONFIG})
            kept = {CONFIG: kept.get(CONFIG) or config_yaml(self.paper)}
            if self.checker.check(kept).violations:
                kept = {CONFIG: config_yaml(self.paper)}
            notes.append("no code kept: src/model.py or smoke_shapes.py failed its check")
        notes.insert(0, f"set aside: {', '.join(sorted(rejected)) or 'nothing'}")
        self.sink.emit(Message(level="warning", text="citation problems remained after the fix rounds; " + "; ".join(notes)))
        self._add(Round(stage="fallback", files=sorted(rejected), violations_before=_violation_lines(report),
                        violations_after=_violation_lines(self.checker.check(kept)), note="; ".join(notes)))
        return kept, rejected, rejected_report

    def run(self) -> Generation:
        plan = self.plan()
        files = self.write(plan)
        files, first, report = self.fix_citations(files)
        kept, rejected, rejected_report = self.settle(files, report)
        final = self.checker.check(kept)
        return Generation(files=kept, report=final, fixed=not first.ok, notes=plan.notes, first_report=first,
                          rejected=rejected, rejected_report=rejected_report, rounds=self.rounds, plan=plan)

    # --- stage 4 (driven by the runner): the build and shape check's errors back to the model ---------------------

    def fix_from_build(self, files: dict[str, str], error: str, n: int) -> dict[str, str] | None:
        """Corrected files for a failed build or shape check, or None when the model's fix cannot be used (invalid,
        or it breaks a citation): the files stay as they were."""
        user = render_prompt("implement_build_fix", paper_title=self.paper.title, error=error[-6000:],
                             context=self._context({p: c for p, c in files.items() if p != CONFIG}),
                             config=files.get(CONFIG, ""))
        try:
            answer = self.client.structured(_messages(self.system, user), FileFixes, purpose="fix-build",
                                            cancel=self.cancel)
        except LlmError as err:
            self._add(Round(stage="build-fix", round=n, note=f"the model's fix could not be used: {err}"[:500]))
            return None
        changed = {p: c for p, c in answer.files.items() if p not in OWN_FILES and files.get(p) != c}
        new = {**files, **changed}
        report = self.checker.check(new)
        if not report.ok:
            self._add(Round(stage="build-fix", round=n, files=sorted(changed), violations_after=_violation_lines(report),
                            note="refused: the fix broke citations; the files stay as they were"))
            return None
        self._add(Round(stage="build-fix", round=n, files=sorted(changed), note=answer.explanation[:500]))
        return new if changed else None


def record_rounds(folder: Path) -> Callable[[list[Round]], None]:
    def record(rounds: list[Round]) -> None:
        write_text_atomic(folder / "generation" / "rounds.json",
                          json.dumps([r.model_dump() for r in rounds], indent=2) + "\n")
    return record


def generate(client: LlmClient, paper: PaperInfo, *, framework: str, mode: str, sink: EventSink,
             cancel: CancelToken, fix_rounds: int = 2,
             record: Callable[[list[Round]], None] | None = None) -> Generation:
    return StagedGenerator(client, paper, framework=framework, mode=mode, sink=sink, cancel=cancel,
                           fix_rounds=fix_rounds, record=record).run()
