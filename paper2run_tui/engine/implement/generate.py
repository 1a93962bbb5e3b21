"""Generation with the LLM: the reference output layout as one JSON answer, then the citation check, and one round
in which the model is shown the violations and asked to fix them."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from ..contracts import Message, PaperInfo
from ..llm.client import LlmClient
from ..llm.prompts import render_prompt
from ..llm.schema_caps import UNCAPPED
from ..ports import CancelToken, EventSink
from .citations import CitationChecker, CitationReport

BASE_FILES = ["README.md", "REPRODUCTION_NOTES.md", "requirements.txt", "src/__init__.py", "src/model.py", "src/loss.py",
              "src/data.py", "src/utils.py", "configs/base.yaml", "smoke_shapes.py"]
MODE_FILES = {"minimal": [], "full": ["src/train.py", "src/evaluate.py"],
              "educational": ["src/train.py", "src/evaluate.py", "notebooks/walkthrough.ipynb"]}


class GeneratedFiles(BaseModel):
    #: A file's text is long: no length cap in the schema the model is held to (llm/schema_caps.py).
    files: dict[str, str] = Field(json_schema_extra={UNCAPPED: True})
    notes: str = ""

    @field_validator("files")
    @classmethod
    def _safe_paths(cls, files: dict[str, str]) -> dict[str, str]:
        for path in files:
            if path.startswith("/") or ".." in path.split("/") or not path.strip():
                raise ValueError(f"unsafe file path {path!r}")
        if "src/model.py" not in files:
            raise ValueError("src/model.py is missing")
        return files


class Generation(BaseModel):
    files: dict[str, str]
    report: CitationReport
    fixed: bool = False
    notes: str = ""
    first_report: CitationReport | None = Field(default=None, description="The check before the fix round")


def expected_files(mode: str) -> list[str]:
    return BASE_FILES + MODE_FILES.get(mode, [])


def _paper_prompt(paper: PaperInfo, budget: int = 24000) -> dict[str, object]:
    per = max(400, budget // max(1, len(paper.sections)))
    return {"title": paper.title, "abstract": paper.abstract[:1500],
            "sections": [{"number": s.number, "title": s.title, "text": s.text[:per]} for s in paper.sections if s.number],
            "equations": paper.equations[:40], "hyperparameters": paper.hyperparameters[:60]}


def generate(client: LlmClient, paper: PaperInfo, *, framework: str, mode: str, sink: EventSink,
             cancel: CancelToken) -> Generation:
    files = expected_files(mode)
    messages = [
        {"role": "system", "content": render_prompt("implement_system", framework=framework, mode=mode, files=files)},
        {"role": "user", "content": _render_user(paper)},
    ]
    answer = client.structured(messages, GeneratedFiles, purpose="implement", cancel=cancel)
    checker = CitationChecker(paper)
    report = checker.check(answer.files)
    if report.ok:
        return Generation(files=answer.files, report=report, notes=answer.notes)
    sink.emit(Message(level="warning", text=f"{len(report.violations)} citation problem(s); asking the model to fix them"))
    fix = messages + [
        {"role": "assistant", "content": answer.model_dump_json()[:60000]},
        {"role": "user", "content": "The citation check found these problems:\n" + report.markdown() +
         "\nReturn the complete corrected JSON object (all files). Fix each problem: cite existing sections and "
         "equations only, quote the paper verbatim, cite or flag every config value, use the stated numbers."},
    ]
    fixed = client.structured(fix, GeneratedFiles, purpose="fix-citations", cancel=cancel)
    final = checker.check(fixed.files)
    return Generation(files=fixed.files, report=final, fixed=True, notes=fixed.notes, first_report=report)


def _render_user(paper: PaperInfo) -> str:
    return render_prompt("implement_user", **_paper_prompt(paper))
