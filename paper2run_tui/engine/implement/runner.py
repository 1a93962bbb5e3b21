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
from ..contracts import Message, PaperInfo
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
from .generate import CONFIG, Generation, StagedGenerator, record_rounds

SMOKE = "python smoke_shapes.py"
#: Exit code when the generated code still had citation violations after the fix rounds (it was set aside).
CITATIONS_FAILED = 10
#: Run exit codes a change to the generated files can cure (the rules or the model stopped, attempts exhausted,
#: smoke failed); others (preflight, engine lost, interrupted) go back to the person, not the model.
FIXABLE = {4, 5, 6, 7}


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
            return result.model_copy(update={"plan": plan})
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
    result: Generation | None = None
    generator: StagedGenerator | None = None
    if config.llm.configured:
        client = LlmClient(config.llm, dump_dir=folder / "logs", sink=sink, dialects=DialectStore(cache))
        generator = StagedGenerator(client, paper, framework=config.framework, mode=config.mode, sink=sink,
                                    cancel=cancel, fix_rounds=config.fix_rounds, record=record_rounds(folder))
        try:
            result = generator.run()
            files, report, generated = result.files, result.report, result.has_code
        except LlmError as err:
            sink.emit(Message(level="warning", text=f"generation failed ({err}); writing the paper's facts only"))
            files, report = {}, CitationReport()
    else:
        sink.emit(Message(text="no LLM endpoint configured: configs/base.yaml and REPRODUCTION_NOTES.md from the paper's "
                               "text; no code is generated"))
        files, report = {}, CitationReport()
    if not generated:  # the no-model path: the output a weak model must never make worse
        files = {CONFIG: config_yaml(paper)}
        report = CitationChecker(paper).check(files)
    rejected = result.rejected if result is not None else {}
    _write_folder(folder, paper, config, files, report, generated, result)
    for v in report.violations:
        sink.emit(Message(level="warning", text=f"citation: {v.file}:{v.line} {v.kind}: {v.message}"))
    run = None
    if generated and config.run and generator is not None:
        for n in range(config.build_fix_rounds + 1):
            run = run_pipeline(
                RunConfig(repo=str(folder), out=config.out, timeout=config.timeout, max_attempts=config.max_attempts,
                          approve=config.approve, llm=config.llm, no_ca=config.no_ca, limits=config.limits,
                          base_image_map=config.base_image_map),
                sink, reviewer, cancel, planner=ShapeCheckPlanner(),
            )
            if run.run_dir is not None:
                _link_run(folder, run.run_dir, n)
            if run.exit_code == 0 or run.exit_code not in FIXABLE or n == config.build_fix_rounds:
                break
            sink.emit(Message(level="warning", text=(
                f"the build or shape check failed ({run.reason or run.status}); asking the model to fix the files "
                f"(round {n + 1} of {config.build_fix_rounds})")))
            fixed = generator.fix_from_build(files, _failure_text(run), n + 1)
            if fixed is None:
                break
            files = fixed
            report = CitationChecker(paper).check(files)
            _write_folder(folder, paper, config, files, report, generated, result)
    elif rejected and config.run:
        sink.emit(Message(level="warning", text="the generated code failed its citation check and was set aside "
                                               "(generation/rejected/); nothing was built"))
    exit_code = run.exit_code if run is not None else (0 if report.ok and not rejected else CITATIONS_FAILED)
    return ImplementOutcome(folder=folder, generated_code=generated, citations=report, run=run, exit_code=exit_code)


def _write_folder(folder: Path, paper: PaperInfo, config: ImplementConfig, files: dict[str, str],
                  report: CitationReport, generated: bool, result: Generation | None) -> None:
    """The output folder: the kept files, the notes with the audit and the check, the set-aside files apart."""
    out = dict(files)
    notes = reproduction_notes(paper, generated_code=generated, citation_report=report.markdown())
    if result is not None and result.rejected:
        notes += ("\n## Set aside\n\nThese generated files still failed the citation check after "
                  f"{config.fix_rounds} fix round(s) and are in generation/rejected/, not in the implementation: "
                  f"{', '.join(sorted(result.rejected))}.\n\n"
                  + (result.rejected_report.markdown() if result.rejected_report is not None else ""))
    if result is not None and result.notes:
        notes += "\n## The model's notes\n\n" + result.notes + "\n"
    out["REPRODUCTION_NOTES.md"] = notes
    out.setdefault("README.md", readme(paper, generated_code=generated, framework=config.framework, mode=config.mode))
    for rel, content in out.items():
        write_text_atomic(folder / rel, content)
    if result is not None:
        for rel, content in result.rejected.items():
            write_text_atomic(folder / "generation" / "rejected" / rel, content)
    write_json_atomic(folder / "citations.json", report.model_dump())


def _link_run(folder: Path, run_dir: Path, n: int) -> None:
    runs = [str(run_dir)]
    marker = folder / "IMPLEMENTED_FROM.json"
    if n and marker.is_file():
        runs = json.loads(marker.read_text()).get("runs", []) + runs
    write_text_atomic(marker, json.dumps({"run_dir": str(run_dir), "runs": runs}, indent=2))
    meta_path = run_dir / "metadata.json"
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        meta["implement_of"] = str(folder)
        write_text_atomic(meta_path, json.dumps(meta, indent=2))


def _failure_text(run: RunOutcome) -> str:
    """What the model is shown of a failed run: the reason and the end of the last attempt's logs."""
    parts = [f"status: {run.status}; reason: {run.reason}"]
    attempts = sorted((run.run_dir / "attempts").glob("*")) if run.run_dir is not None else []
    if attempts:
        for name in ("build_stdout.log", "smoke_stdout.log", "smoke_stderr.log"):
            log = attempts[-1] / name
            if log.is_file():
                lines = log.read_text(errors="replace").splitlines()[-60:]
                parts.append(f"--- {name} (last {len(lines)} lines)\n" + "\n".join(lines))
    return "\n".join(parts)
