"""`paper2run-tui implement`: paper → citation-anchored folder → (optionally) the engine's build-and-smoke loop.

The generated folder and the run folder point at each other (IMPLEMENTED_FROM.json / metadata.implement_of).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..acquire.paper import load_paper
from ..config import RunConfig, default_cache_dir
from ..contracts import Message
from ..errors import UserError
from ..llm.client import LlmClient, LlmError
from ..llm.dialects import DialectStore
from ..pipeline import RunOutcome, run_pipeline
from ..plan.base import PlanContext, Planner, PlanResult
from ..plan.deterministic import DeterministicPlanner
from ..ports import CancelToken, EventSink, Reviewer
from ..record.atomic import write_json_atomic, write_text_atomic
from ..record.run_folder import slug
from .citations import CitationChecker, CitationReport
from .config import ImplementConfig
from .deterministic import config_yaml, readme, reproduction_notes
from .extract import enrich_paper
from .generate import generate

SMOKE = "python smoke_shapes.py"
#: Exit code when the generated code still has citation violations after the fix round (and was not run).
CITATIONS_FAILED = 10


@dataclass
class ImplementOutcome:
    folder: Path
    generated_code: bool
    citations: CitationReport
    run: RunOutcome | None
    exit_code: int


class ShapeCheckPlanner:
    """The deterministic plan for the generated folder, with the CPU-safe shape check as its smoke command."""

    def __init__(self, inner: Planner | None = None) -> None:
        self.inner = inner or DeterministicPlanner()

    def plan(self, ctx: PlanContext, sink: EventSink, cancel: CancelToken) -> PlanResult:
        result = self.inner.plan(ctx, sink, cancel)
        if (ctx.repo_dir / "smoke_shapes.py").is_file():
            plan = result.plan.model_copy(update={
                "smoke_command": SMOKE, "notes": result.plan.notes + "\n- smoke: the generated shape check (one forward pass)"})
            return PlanResult(plan=plan, source=result.source, messages=result.messages)
        return result


def run_implement(config: ImplementConfig, sink: EventSink, reviewer: Reviewer | None, cancel: CancelToken) -> ImplementOutcome:
    cache = config.cache_dir or default_cache_dir()
    paper = enrich_paper(load_paper(config.paper, cache_dir=cache, arxiv_base_url=config.arxiv_base_url, sink=sink,
                                    cancel=cancel))
    name = slug((paper.title or Path(config.paper).stem).lower().replace(" ", "_"))[:50]
    folder = config.out / f"{name}-implement-{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise UserError(f"cannot create {folder}: {exc.strerror}", "pass a writable --out") from exc
    write_json_atomic(folder / "paper.json", paper)
    if paper.code_url:
        sink.emit(Message(text=f"the paper names its code: {paper.code_url} (paper2run-tui run --repo {paper.code_url})"))
    files: dict[str, str]
    generated = False
    if config.llm.configured:
        client = LlmClient(config.llm, dump_dir=folder / "logs", sink=sink, dialects=DialectStore(cache))
        try:
            result = generate(client, paper, framework=config.framework, mode=config.mode, sink=sink, cancel=cancel)
            files, report, generated = result.files, result.report, True
        except LlmError as err:
            sink.emit(Message(level="warning", text=f"generation failed ({err}); writing the paper's facts only"))
            files, report = {}, CitationReport()
    else:
        sink.emit(Message(text="no LLM endpoint configured: configs/base.yaml and REPRODUCTION_NOTES.md from the paper's "
                               "text; no code is generated"))
        files, report = {}, CitationReport()
    if not generated:
        files = {"configs/base.yaml": config_yaml(paper)}
        report = CitationChecker(paper).check(files)
    files["REPRODUCTION_NOTES.md"] = reproduction_notes(paper, generated_code=generated, citation_report=report.markdown()) \
        + (("\n## The model's notes\n\n" + files["REPRODUCTION_NOTES.md"]) if "REPRODUCTION_NOTES.md" in files else "")
    files.setdefault("README.md", readme(paper, generated_code=generated, framework=config.framework, mode=config.mode))
    for rel, content in files.items():
        write_text_atomic(folder / rel, content)
    write_json_atomic(folder / "citations.json", report.model_dump())
    for v in report.violations:
        sink.emit(Message(level="warning", text=f"citation: {v.file}:{v.line} {v.kind}: {v.message}"))
    run = None
    if generated and config.run:
        run = run_pipeline(
            RunConfig(repo=str(folder), out=config.out, timeout=config.timeout, max_attempts=config.max_attempts,
                      approve=config.approve, llm=config.llm, no_ca=config.no_ca, limits=config.limits,
                      base_image_map=config.base_image_map),
            sink, reviewer, cancel, planner=ShapeCheckPlanner(),
        )
        if run.run_dir is not None:
            write_text_atomic(folder / "IMPLEMENTED_FROM.json", json.dumps({"run_dir": str(run.run_dir)}, indent=2))
            meta_path = run.run_dir / "metadata.json"
            meta = json.loads(meta_path.read_text())
            meta["implement_of"] = str(folder)
            write_text_atomic(meta_path, json.dumps(meta, indent=2))
    exit_code = run.exit_code if run is not None else (0 if report.ok else CITATIONS_FAILED)
    return ImplementOutcome(folder=folder, generated_code=generated, citations=report, run=run, exit_code=exit_code)
