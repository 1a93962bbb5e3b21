"""The run loop: acquire → analyze → plan → render → gate → preflight → build → smoke → diagnose → repeat.

One synchronous function, `run_pipeline`, drives a run from its RunConfig to a RunOutcome. It talks out only
through the EventSink, in only through the Reviewer (the human gate), and polls the CancelToken; the TUI, the
headless CLI and the tests are its clients. Every expected failure ends as a status, never as an exception.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import __version__
from .build.base import BuildRequest, Executor, SmokeRequest
from .config import RunConfig, default_cache_dir
from .contracts import (
    EXIT_CODES,
    AttemptFinished,
    AttemptSummary,
    DecisionMade,
    DiagnosisDecision,
    DiagnosisReady,
    DockerfileInputs,
    EnvPlan,
    FactsReady,
    GateOpened,
    GateRequest,
    HumanDecision,
    Message,
    PaperInfo,
    PaperReady,
    PhaseChanged,
    PhaseTiming,
    PlanProposed,
    PolicyChecked,
    PolicyContext,
    PolicyVerdict,
    RepoFacts,
    RunFinished,
    RunMetadata,
    RunStarted,
)
from .contracts.metadata import FloorResult, Phase, RungResult, RunStatus
from .contracts.plan import FLOOR_RUNG, SMOKE_RUNGS, SmokeRungName, at_least
from .diagnose.base import Diagnoser, DiagnosisContext, FailedAttempt
from .errors import EngineLost, PreflightError, UnsupportedRepo, UserError
from .gate import decide
from .gate.plan_diff import plan_diff
from .plan.base import PlanContext, Planner
from .policy import check_plan
from .ports import Cancelled, CancelToken, EventSink, Reviewer
from .record.recorder import RecordingSink
from .record.run_folder import RunFolder
from .render import render_instructions, render_report
from .render.dockerfile import UnsafeValue, dockerfile_inputs, render_from_inputs
from .render.install import builds_the_same

#: How many times a person may reject a plan with "ask again" before the run stops.
MAX_REPLANS = 3
#: How often a live run rewrites metadata.json (heartbeat_at): the runs browser calls a `running` run whose
#: heartbeat is older than record.store.ABANDONED_AFTER_S abandoned.
HEARTBEAT_S = 20.0


@dataclass
class RunOutcome:
    status: RunStatus
    run_dir: Path | None
    exit_code: int
    reason: str = ""
    metadata: RunMetadata | None = None


@dataclass
class Components:
    """The pluggable steps. None means: build the default from the configuration."""

    planner: Planner | None = None
    diagnoser: Diagnoser | None = None
    executor: Executor | None = None


@dataclass
class ResumeSeed:
    """Where a resumed run starts: which plan, at which attempt number, what its gate shows, which checkout."""

    plan: EnvPlan
    label: str = ""  # "<run_id>/<NN>" of the attempt it continues
    first_attempt: int = 1
    name: str | None = None  # the source's name, so the run folder is named after it and not after the copy
    checkout: Path | None = None  # the old run's repo/ copy: a resume works offline and on the same commit
    diagnosis: DiagnosisDecision | None = None
    previous: EnvPlan | None = None
    gate: bool = False  # ask at the first attempt (the TUI's resume: edit the plan before the build)
    #: Plans the source run built and saw fail: the resumed run's diagnosers never propose them again.
    earlier_failed: list[EnvPlan] = field(default_factory=list)


class _Finish(Exception):
    """Ends the run with a status (control flow inside the loop)."""

    def __init__(self, status: RunStatus, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class _Run:
    """The state of one run while it is in progress."""

    config: RunConfig
    folder: RunFolder
    sink: RecordingSink
    cancel: CancelToken
    meta: RunMetadata
    facts: RepoFacts | None = None
    paper: PaperInfo | None = None
    plan: EnvPlan | None = None
    messages: list[str] = field(default_factory=list)
    llm_client: Any = None
    ca_bundle: Path | None = None
    extra_files: dict[str, bytes] = field(default_factory=dict)
    build_args: dict[str, str] = field(default_factory=dict)
    person_approved: bool = False  # the current attempt's plan was approved or edited by a person at the gate
    meta_lock: threading.Lock = field(default_factory=threading.Lock)
    stopped: threading.Event = field(default_factory=threading.Event)
    earlier_failed: list[EnvPlan] = field(default_factory=list)  # failed in the run this one resumes
    #: The attempt whose smoke command failed while its image passed the floor rung or higher: the run's result
    #: when the repairs that aim higher do not get there (see _at_floor).
    floor: FailedAttempt | None = None
    applied_limits: Any = None  # build.limits.AppliedLimits, once limits.json is written

    def note(self, text: str, level: str = "info") -> None:
        self.messages.append(text)
        self.sink.emit(Message(level=level, text=text))  # type: ignore[arg-type]

    @contextmanager
    def phase(self, phase: Phase, attempt: int | None = None, detail: str = "") -> Iterator[None]:
        self.cancel.raise_if_cancelled()
        self.sink.emit(PhaseChanged(phase=phase, attempt=attempt, detail=detail))
        started, t0 = datetime.now(UTC), time.monotonic()
        try:
            yield
        finally:
            self.meta.phases.append(
                PhaseTiming(phase=phase, attempt=attempt, started_at=started, seconds=round(time.monotonic() - t0, 3))
            )
            self.save_metadata()

    def save_metadata(self) -> None:
        with self.meta_lock:  # the heartbeat thread writes it too; a stale snapshot must never land last
            calls = getattr(self.llm_client, "calls", None)
            if calls is not None:
                self.meta.llm_calls = list(calls)
                self.meta.prompt_tokens = sum(c.prompt_tokens for c in calls)
                self.meta.completion_tokens = sum(c.completion_tokens for c in calls)
            if self.meta.status == "running":
                self.meta.heartbeat_at = datetime.now(UTC)
            self.folder.write_json("metadata.json", self.meta)

    def heartbeat(self) -> None:
        """Rewrite metadata.json every HEARTBEAT_S until the run ends, so a dead process is told from a live one."""
        while not self.stopped.wait(HEARTBEAT_S):
            try:
                self.save_metadata()
            except OSError:  # a full disk must not kill the run; the next write may succeed
                continue


def run_pipeline(
    config: RunConfig,
    sink: EventSink,
    reviewer: Reviewer | None = None,
    cancel: CancelToken | None = None,
    *,
    planner: Planner | None = None,
    diagnoser: Diagnoser | None = None,
    executor: Executor | None = None,
    resume: ResumeSeed | None = None,
) -> RunOutcome:
    """Run one reproduction to its end and return how it ended. Never raises for expected failures."""
    from .acquire.repo import parse_repo_spec
    from .acquire.spec import redact

    cancel = cancel or CancelToken()
    try:
        source = parse_repo_spec(config.repo)
        name = resume.name if resume and resume.name else source.name
        folder = RunFolder.create(config.out, name, config.run_id)
    except UserError as err:
        sink.emit(Message(level="error", text=str(err)))
        return RunOutcome(status="input-error", run_dir=None, exit_code=EXIT_CODES["input-error"], reason=str(err))

    recorder = RecordingSink(folder, sink)
    meta = RunMetadata(
        run_id=folder.run_id,
        tool_version=__version__,
        repo=redact(config.repo),
        repo_name=name,
        ref=config.ref,
        paper=config.paper,
        dry_run=config.dry_run,
        approve=config.approve,
        started_at=datetime.now(UTC),
        max_attempts=config.max_attempts,
        model=config.llm.model if config.llm.configured else None,
        base_url=config.llm.base_url if config.llm.configured else None,
        resumed_from=resume.label if resume else None,
        pid=os.getpid(),
        host=socket.gethostname(),
    )
    run = _Run(config=config, folder=folder, sink=recorder, cancel=cancel, meta=meta)
    run.save_metadata()
    folder.write_json("config.json", config.public_json())
    threading.Thread(target=run.heartbeat, name="run-heartbeat", daemon=True).start()
    recorder.emit(
        RunStarted(run_dir=str(folder.root), repo=meta.repo, dry_run=config.dry_run, max_attempts=config.max_attempts)
    )
    status: RunStatus = "exception"
    reason = ""
    try:
        _execute(run, source, reviewer, Components(planner, diagnoser, executor), resume)
    except _Finish as fin:
        status, reason = fin.status, fin.reason
    except (Cancelled, KeyboardInterrupt) as exc:
        status, reason = "interrupted", f"interrupted: {exc}" if str(exc) else "interrupted"
    except EngineLost as err:
        status, reason = "engine-lost", str(err)
    except UnsupportedRepo as err:
        status, reason = "unsupported", str(err)
    except PreflightError as err:
        status, reason = "preflight-failed", str(err)
    except UserError as err:
        status, reason = "input-error", str(err)
    except Exception as exc:  # noqa: BLE001 - the run must end recorded, whatever happened
        status, reason = "exception", f"{type(exc).__name__}: {exc}"
        folder.write_text("logs/exception.txt", traceback.format_exc())
    return _finish(run, status, reason)


def _finish(run: _Run, status: RunStatus, reason: str) -> RunOutcome:
    run.stopped.set()
    meta = run.meta
    if status in ("interrupted", "engine-lost") and meta.attempts and meta.attempts[-1].outcome == "not-run":
        meta.attempts[-1].outcome = "cancelled" if status == "interrupted" else "error"
    meta.status = status
    meta.reason = reason
    meta.finished_at = datetime.now(UTC)
    meta.duration_s = round((meta.finished_at - meta.started_at).total_seconds(), 3)
    try:
        run.save_metadata()
        if run.plan is not None:
            hint = str(run.ca_bundle) if run.ca_bundle else None
            run.folder.write_text("INSTRUCTIONS.md", render_instructions(meta, run.plan, ca_bundle_hint=hint))
        run.folder.write_text("report.md", render_report(meta, run.facts, run.messages))
    finally:
        run.sink.emit(
            RunFinished(status=status, reason=reason, run_dir=str(run.folder.root), exit_code=EXIT_CODES[status])
        )
        run.sink.close()
    return RunOutcome(status=status, run_dir=run.folder.root, exit_code=EXIT_CODES[status], reason=reason, metadata=meta)


# --- the steps -----------------------------------------------------------------------------------------------


def _execute(
    run: _Run, source: Any, reviewer: Reviewer | None, parts: Components, resume: ResumeSeed | None
) -> None:
    from .acquire.repo import acquire_repo, parse_repo_spec

    config, folder = run.config, run.folder
    origin, ref = source, config.ref
    if resume is not None and resume.checkout is not None:
        origin, ref = parse_repo_spec(str(resume.checkout)), None
    with run.phase("acquire", detail=run.meta.repo):
        acquired = acquire_repo(origin, folder.repo_dir, ref, run.sink, run.cancel,
                                max_file_bytes=run.config.max_file_bytes, max_total_bytes=run.config.max_repo_bytes)
    run.meta.commit_sha = acquired.commit_sha
    run.meta.commit_date = acquired.commit_date
    folder.write_json("repo.json", acquired)
    for warning in acquired.warnings:
        run.note(warning, "warning")

    _load_paper(run)

    with run.phase("analyze"):
        from .analyze import analyze_repo

        facts = analyze_repo(
            folder.repo_dir,
            name=run.meta.repo_name,
            commit=acquired.commit_sha,
            commit_date=acquired.commit_date,
            cancel=run.cancel,
        )
    run.facts = facts
    folder.write_json("repo_facts.json", facts)
    run.sink.emit(FactsReady(facts=facts))
    if not facts.is_python:
        langs = ", ".join(f"{x.language} {x.share:.0%}" for x in facts.languages[:3]) or "no recognised code"
        raise UnsupportedRepo(
            f"not supported yet: this repository is not a Python project ({langs})",
            "only Python repositories are built today",
        )

    executor = parts.executor if parts.executor is not None else (None if config.dry_run else _default_executor(run))
    planner = parts.planner or _default_planner(run)
    diagnoser = parts.diagnoser or _default_diagnoser(run)
    local_images = _local_images(executor)
    _remove_leftovers(run, executor)
    if executor is not None:
        _record_limits(run)
    _setup_ca_and_proxy(run)

    ctx = PlanContext(
        facts=facts, repo_dir=folder.repo_dir, paper=run.paper, local_images=local_images,
        gpu_available=_gpu_runtime(executor), base_image_map=config.base_image_map, run_id=folder.run_id,
        policy=_policy_context(run), pull_image=_puller(run, executor),
    )
    if resume is not None:
        plan, plan_source = resume.plan, "resumed"
        run.earlier_failed = list(resume.earlier_failed)
    else:
        with run.phase("plan"):
            result = planner.plan(ctx, run.sink, run.cancel)
        for text in result.messages:
            run.note(text)
        for text in result.warnings:
            run.note(text, level="warning")
        if result.review is not None:
            run.folder.write_json("model_plan_review.json", result.review)
        plan, plan_source = result.plan, result.source

    history: list[FailedAttempt] = []
    first = resume.first_attempt if resume is not None else 1
    try:
        _attempts(run, reviewer, planner, diagnoser, executor, ctx, plan, plan_source, history, resume, first)
    except _Finish as fin:
        if run.floor is not None and fin.status in FLOOR_HOLDS:
            raise _at_floor(run, fin) from None
        raise


#: How a run may end while its floor holds: then it ends green at the floor (an interruption or a lost engine
#: still ends as such; the floor is in the record either way).
FLOOR_HOLDS: frozenset[str] = frozenset({"stopped-by-rules", "stopped-by-llm", "max-attempts-exhausted", "smoke-failed",
                                         "rejected-by-user", "rejected-by-policy", "refused-by-plan-policy"})


def _attempts(run: _Run, reviewer: Reviewer | None, planner: Planner, diagnoser: Diagnoser, executor: Executor | None,
              ctx: PlanContext, plan: EnvPlan, plan_source: str, history: list[FailedAttempt],
              resume: ResumeSeed | None, first: int) -> None:
    """The attempt loop: gate, render, build, smoke, diagnose, until a _Finish."""
    config, folder = run.config, run.folder
    preflighted = False
    attempt = first
    while True:
        plan, plan_source, decision, verdict = _gate(run, reviewer, planner, ctx, attempt, plan, plan_source,
                                                     history, resume if attempt == first else None, first)
        run.plan = plan
        dockerfile = _render(run, plan, attempt, plan_source, verdict)
        summary = AttemptSummary(
            number=attempt, plan_source=plan_source, plan_fingerprint=plan.fingerprint(),
            decision=decision.action if decision else None,
        )
        run.meta.attempts.append(summary)
        if config.dry_run:
            summary.outcome = "not-run"
            raise _Finish("dry-run", "dry run: Dockerfile and INSTRUCTIONS.md written, nothing built")
        assert executor is not None
        if not preflighted:
            with run.phase("preflight", attempt):
                report = executor.preflight(plan, run.sink, run.cancel)
            for warning in report.warnings:
                run.note(warning, "warning")
            preflighted = True
        run.person_approved = decision is not None and decision.decided_by == "person" and decision.action != "reject"
        failed = _attempt(run, executor, plan, dockerfile, attempt, summary,
                          aim_higher=attempt - first + 1 < config.max_attempts)
        if failed is None:
            if run.floor is not None and not at_least(run.meta.highest_smoke_rung, run.floor.floor_rung or FLOOR_RUNG):
                raise _Finish("smoke-failed", f"attempt {attempt} passed only at {run.meta.highest_smoke_rung}, "
                              "below the floor an earlier attempt reached")
            raise _Finish("success", f"smoke run passed on attempt {attempt} ({run.meta.smoke_outcome})")
        start = _keep_floor(run, failed)
        diagnosis = _diagnose(run, diagnoser, ctx, start, [*history, failed] if start is not failed else history,
                              attempt, attempt - first + 1)
        history.append(failed)
        summary.diagnosis = diagnosis.reason
        summary.matched_rules = list(diagnosis.matched_rules)
        run.save_metadata()
        if diagnosis.decision == "stop":
            status: RunStatus = {"llm": "stopped-by-llm", "rules": "stopped-by-rules"}.get(
                diagnosis.source, "smoke-failed"
            )  # type: ignore[assignment]
            raise _Finish(status, diagnosis.reason)
        assert diagnosis.new_plan is not None
        if _floor_answers(run, diagnosis.new_plan):
            raise _Finish("stopped-by-rules", diagnosis.reason)
        if attempt - first + 1 >= config.max_attempts:
            folder.write_json(f"attempts/{attempt:02d}/next_plan.json", diagnosis.new_plan)
            raise _Finish(
                "max-attempts-exhausted",
                f"{attempt} attempt(s) failed; the next repair ({diagnosis.reason}) is saved in "
                f"attempts/{attempt:02d}/next_plan.json for a resume",
            )
        plan, plan_source = diagnosis.new_plan, diagnosis.source
        attempt += 1


def _keep_floor(run: _Run, failed: FailedAttempt) -> FailedAttempt:
    """Which failed attempt the next repair starts from. An attempt whose image passes the floor rung (or one
    higher than the floor so far) becomes the floor; one that lost the floor (its build failed, or the floor rung
    failed in its image) is rolled back: the repair starts again from the floor's plan, with the lost attempt
    counted as tried."""
    floor = run.floor
    if failed.floor_rung is not None and (floor is None or at_least(failed.floor_rung, floor.floor_rung or FLOOR_RUNG)):
        if floor is None:
            run.note(f"attempt {failed.number}: the smoke command failed, but the image passes {failed.floor_rung}: "
                     "that is the run's floor, kept as its result unless a repair gets higher")
        run.floor = failed
        return failed
    if floor is None:
        return failed
    lost = "its build failed" if failed.outcome == "build-failed" else (
        f"it passes only {failed.floor_rung}" if failed.floor_rung else f"{floor.floor_rung} fails in its image")
    run.note(f"attempt {failed.number} lost the floor ({lost}): rolled back to attempt {floor.number}'s plan, "
             f"which passes {floor.floor_rung}; the next repair starts from it", "warning")
    return floor


def _floor_answers(run: _Run, new_plan: EnvPlan) -> bool:
    """A repair that only lowers the smoke command to a rung the floor has already passed needs no attempt."""
    floor = run.floor
    if floor is None or new_plan.smoke_command == floor.plan.smoke_command:
        return False
    rung = next((r.rung for r in new_plan.smoke_ladder if r.command == new_plan.smoke_command), None)
    same_build = builds_the_same(floor.plan, new_plan.model_copy(update={"smoke_command": floor.plan.smoke_command}))
    return same_build and rung is not None and at_least(floor.floor_rung, rung)


def _at_floor(run: _Run, fin: _Finish) -> _Finish:
    """End green at the floor: its attempt's image, plan and Dockerfile are the run's result, and the reason says
    what the smoke command it aimed at still needs."""
    floor = run.floor
    assert floor is not None and floor.floor_rung is not None
    plan, rung = floor.plan, floor.floor_rung
    top = next((r.rung for r in plan.smoke_ladder if r.command == plan.smoke_command), None)
    command = next((r.command for r in plan.smoke_ladder if r.rung == rung), "")
    needs = next((a.diagnosis for a in reversed(run.meta.attempts) if a.diagnosis), None) or fin.reason
    run.meta.floor = FloorResult(attempt=floor.number, rung=rung, command=command, top_rung=top,
                                 top_command=plan.smoke_command, needs=needs)
    run.meta.image_tag = floor.image_tag
    run.meta.smoke_outcome = "exit-0"
    run.meta.highest_smoke_rung = rung
    run.plan = plan
    run.folder.write_json("plan.json", plan)
    run.folder.write_text("Dockerfile", floor.dockerfile)
    if floor.image_tag:
        run.folder.write_text("image.txt", floor.image_tag + "\n")
    what = {"entrypoint-help": "entry point", "tests": "tests", "toy-run": "toy run"}.get(top or "", "smoke command")
    ended = {"max-attempts-exhausted": " (the attempts ran out)", "rejected-by-user": " (the repair was rejected)",
             "rejected-by-policy": " (the repair was rejected)", "refused-by-plan-policy": " (the repair was refused "
             "by the plan policy)"}.get(fin.status, "")
    return _Finish("success", f"green at {rung} (attempt {floor.number}: `{command[:80]}`); {what} "
                   f"`{plan.smoke_command[:80]}` needs more{ended}: {needs}")


def _load_paper(run: _Run) -> None:
    from .acquire.paper import load_paper, paper_from_repo_markdown

    config = run.config
    with run.phase("acquire", detail="paper" if config.paper else "repository markdown"):
        paper: PaperInfo | None
        if config.paper:
            cache = config.cache_dir or default_cache_dir()
            paper = load_paper(
                config.paper, cache_dir=cache, arxiv_base_url=config.arxiv_base_url, sink=run.sink, cancel=run.cancel
            )
        else:
            paper = paper_from_repo_markdown(run.folder.repo_dir)
    if paper is None:
        return
    from .implement.extract import enrich_paper

    paper = enrich_paper(paper)
    run.paper = paper
    run.folder.write_json("paper.json", paper)
    run.sink.emit(PaperReady(paper=paper))
    for warning in paper.warnings:
        run.note(warning, "warning")


def _gate(
    run: _Run,
    reviewer: Reviewer | None,
    planner: Planner,
    ctx: PlanContext,
    attempt: int,
    plan: EnvPlan,
    plan_source: str,
    history: list[FailedAttempt],
    resume: ResumeSeed | None = None,
    first: int = 1,
) -> tuple[EnvPlan, str, HumanDecision | None, PolicyVerdict]:
    """Every plan passes here before it is rendered, whoever wrote it: first the plan policy, then the gate
    when a person (or the approval policy) decides: a repair, the first plan when gate_initial, a resume that asks
    to edit. Returns the plan to run and its verdict.

    A refused plan never leaves: the LLM's first plan falls back to the deterministic planner's; with a person
    at the gate, they see the findings and may edit or reject; otherwise the run ends refused-by-plan-policy.
    A flag needs a person: with one the gate opens (even for a first plan), without one it refuses.
    """
    previous = history[-1] if history else None
    previous_plan = previous.plan if previous else (resume.previous if resume else None)
    diagnosis = _last_diagnosis(run, attempt - 1) or (resume.diagnosis if resume else None)
    uses_reason = bool(getattr(planner, "uses_rejection_reason", False))
    rejected: set[str] = set()
    decision: HumanDecision | None = None
    replans = rounds = 0
    while True:
        rounds += 1
        verdict = _police(run, attempt, plan, plan_source)
        if plan_source == "user" and not verdict.refused:
            return plan, plan_source, decision, verdict  # the person saw these findings live as they edited
        if verdict.blocks and plan_source == "llm" and attempt == first and resume is None:
            run.folder.write_json(f"attempts/{attempt:02d}/refused_plan.json", plan)
            run.note(f"the LLM's plan was refused by the plan policy ({verdict.summary()}); "
                     "the deterministic planner's plan is used instead", "warning")
            plan, plan_source = _deterministic(planner).plan(ctx, run.sink, run.cancel).plan, "llm-fallback-deterministic"
            continue
        person = run.config.approve == "ask" and reviewer is not None
        if verdict.blocks and not person:
            who = "repair" if attempt > first else "first"
            raise _Finish("refused-by-plan-policy",
                          f"the {who} plan for attempt {attempt} ({plan_source}) was refused by the plan policy: "
                          f"{verdict.summary()}")
        asked = attempt != first or run.config.gate_initial or (resume is not None and resume.gate)
        if not asked and not verdict.findings:
            return plan, plan_source, None, verdict
        if rounds > MAX_REPLANS + 3:
            raise _Finish("refused-by-plan-policy", f"no acceptable plan for attempt {attempt}: {verdict.summary()}")
        request = GateRequest(
            attempt=attempt, kind="initial" if attempt == first and resume is None else "repair", proposed=plan,
            previous=previous_plan, diagnosis=diagnosis, plan_source=plan_source, replan_uses_reason=uses_reason,
            verdict=verdict, dockerfile=_preview(run, plan, attempt),
            previous_dockerfile=previous.dockerfile if previous else "",
            render_inputs=_dockerfile_inputs(run, attempt), policy=_policy_context(run),
        )
        with run.phase("gate", attempt):
            run.sink.emit(GateOpened(request=request))
            decision = decide(run.config.approve, reviewer, request, run.cancel)
        run.sink.emit(DecisionMade(attempt=attempt, decision=decision))
        adir = f"attempts/{attempt:02d}"
        run.folder.write_json(f"{adir}/decision.json", decision)
        run.folder.write_json(f"{adir}/proposed_plan.json", plan)
        if decision.action == "approve":
            if verdict.refused:
                run.note("a plan the policy refuses cannot be approved: edit it or reject it", "warning")
                continue
            return plan, plan_source, decision, verdict
        if decision.action == "edit":
            assert decision.plan is not None
            run.folder.write_text(f"{adir}/plan_diff.diff", plan_diff(plan, decision.plan))
            plan, plan_source = decision.plan, "user"
            continue
        reason = decision.reason or "rejected"
        by: RunStatus = "rejected-by-user" if decision.decided_by == "person" else "rejected-by-policy"
        if decision.then == "stop":
            run.meta.attempts.append(AttemptSummary(number=attempt, plan_source=plan_source, decision="reject"))
            raise _Finish(by, f"plan for attempt {attempt} rejected: {reason}")
        replans += 1
        if replans > MAX_REPLANS:
            raise _Finish("rejected-by-user", f"{MAX_REPLANS} plans rejected in a row for attempt {attempt}")
        rejected.add(plan.fingerprint())
        ctx.rejected.append((plan, reason))
        ctx.failed = [f.plan for f in history]
        with run.phase("plan", attempt, detail="asked again after a rejection"):
            result = planner.plan(ctx, run.sink, run.cancel)
        plan, plan_source = result.plan, result.source
        if not uses_reason and plan.fingerprint() in rejected | {f.plan.fingerprint() for f in history}:
            run.meta.attempts.append(AttemptSummary(number=attempt, plan_source=plan_source, decision="reject"))
            raise _Finish(by, f"plan for attempt {attempt} rejected ({reason}), and the planner proposed the same "
                          "plan again: no planner here can use a rejection's reason (no LLM); resume with an "
                          "edited plan instead")


def _police(run: _Run, attempt: int, plan: EnvPlan, plan_source: str) -> PolicyVerdict:
    """The one call of the plan policy: recorded in attempts/NN/policy.json and sent as an event."""
    verdict = check_plan(plan, _policy_context(run), source=plan_source)
    run.folder.write_json(f"attempts/{attempt:02d}/policy.json", verdict)
    run.sink.emit(PolicyChecked(attempt=attempt, verdict=verdict))
    return verdict


def _policy_context(run: _Run) -> PolicyContext:
    config = run.config
    return PolicyContext(
        base_image_map=config.base_image_map, allowed_base_images=config.allowed_base_images,
        person_reviews=config.approve == "ask",
    )


def _deterministic(planner: Planner) -> Planner:
    """The planner a refused LLM plan falls back to: the LLM planner's own fallback, else a new one."""
    fallback = getattr(planner, "fallback", None)
    if fallback is not None:
        return fallback  # type: ignore[no-any-return]
    from .plan.deterministic import DeterministicPlanner

    return DeterministicPlanner()


def _dockerfile_inputs(run: _Run, attempt: int) -> DockerfileInputs:
    return dockerfile_inputs(
        facts=run.facts, repo_dir=run.folder.repo_dir, attempt=attempt, ca_bundle=run.ca_bundle is not None,
        # Proxy settings reach the build as build args without an ARG line: Docker predefines them and then leaves
        # them out of `docker history`, where a declared ARG's value (a proxy password) would be kept.
        proxy_args=[],
    )


def _preview(run: _Run, plan: EnvPlan, attempt: int) -> str:
    try:
        return render_from_inputs(plan, _dockerfile_inputs(run, attempt))
    except UnsafeValue as err:
        return f"# not rendered: {err}\n"


def _last_diagnosis(run: _Run, attempt: int) -> DiagnosisDecision | None:
    if attempt < 1:
        return None
    path = run.folder.path(f"attempts/{attempt:02d}/diagnosis.json")
    try:
        return DiagnosisDecision.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None


def _render(run: _Run, plan: EnvPlan, attempt: int, plan_source: str, verdict: PolicyVerdict) -> str:
    if verdict.plan_fingerprint != plan.fingerprint() or verdict.refused:
        raise RuntimeError("a plan reached the renderer without passing the plan policy")
    with run.phase("render", attempt):
        dockerfile = render_from_inputs(plan, _dockerfile_inputs(run, attempt))
        adir = f"attempts/{attempt:02d}"
        run.folder.write_json(f"{adir}/plan.json", plan)
        run.folder.write_text(f"{adir}/Dockerfile", dockerfile)
        run.folder.write_json("plan.json", plan)
        run.folder.write_text("Dockerfile", dockerfile)
        run.folder.write_text(
            "INSTRUCTIONS.md",
            render_instructions(run.meta, plan, ca_bundle_hint=str(run.ca_bundle) if run.ca_bundle else None),
        )
    run.sink.emit(PlanProposed(attempt=attempt, plan=plan, source=plan_source, dockerfile=dockerfile))
    return dockerfile


def _labels(run: _Run, attempt: int) -> dict[str, str]:
    return {
        "org.paper2run.managed": "true",
        "org.paper2run.run": run.folder.run_id,
        "org.paper2run.attempt": str(attempt),
    }


def _phase_seconds(run: _Run, phase: str, fallback: float) -> float:
    """The phase just timed, as metadata.json's phases record it, so the report and metadata say the same."""
    last = run.meta.phases[-1] if run.meta.phases else None
    return last.seconds if last is not None and last.phase == phase else round(fallback, 3)


def _attempt(
    run: _Run, executor: Executor, plan: EnvPlan, dockerfile: str, attempt: int, summary: AttemptSummary,
    aim_higher: bool = False,
) -> FailedAttempt | None:
    """Build and smoke-run one plan. None on success; the failure otherwise. With aim_higher (attempts are left), a
    rung above the smoke command that failed (tests, toy run) is a failure too, diagnosed on its own output; the
    image that passed the smoke command is the run's floor meanwhile."""
    adir = run.folder.attempt_dir(attempt)
    tag = f"paper2run/{run.folder.run_id.lower()}:attempt-{attempt:02d}"
    with run.phase("build", attempt):
        try:
            built = executor.build(
                BuildRequest(
                    attempt=attempt, context_dir=run.folder.repo_dir, dockerfile=dockerfile,
                    extra_files=run.extra_files, tag=tag, labels=_labels(run, attempt), build_args=run.build_args,
                    timeout_s=run.config.build_timeout,
                ),
                run.sink,
                run.cancel,
            )
        except (Cancelled, EngineLost) as exc:  # a stopped build leaves layers too (a budget, Ctrl-C, lost engine)
            _record_leftovers(run, attempt, list(exc.build_leftovers))
            raise
    run.sink.close_attempt(attempt)
    summary.build_seconds = _phase_seconds(run, "build", built.seconds)
    summary.steps_total, summary.steps_cached = built.steps_total, built.steps_cached
    summary.cached_steps = list(built.cached_steps)
    summary.failing_step = built.failing_step
    if built.pids_limit is not None:
        _record_build_pids(run, attempt, summary, built.pids_limit)
    if built.output_cut:
        run.note(f"attempt {attempt}: {built.output_cut} (attempts/{attempt:02d}/build_*.log hold what was kept)",
                 "warning")
    if not built.ok:
        _record_leftovers(run, attempt, built.intermediates)
        summary.outcome = "build-failed"
        run.sink.emit(AttemptFinished(attempt=attempt, outcome="build-failed", detail=built.error or ""))
        return FailedAttempt(
            number=attempt, plan=plan, dockerfile=dockerfile, outcome="build-failed", attempt_dir=adir,
            failing_step=built.failing_step, error=built.error,
        )
    network = _smoke_network(run, plan, attempt)
    with run.phase("smoke", attempt, detail=plan.smoke_command):
        smoked = executor.smoke(
            SmokeRequest(
                attempt=attempt, image_tag=built.image_tag or tag, plan=plan, timeout_s=run.config.timeout,
                labels=_labels(run, attempt), ladder=plan.smoke_ladder, network=network,
            ),
            run.sink,
            run.cancel,
        )
    run.sink.close_attempt(attempt)
    # The whole smoke phase (the command and the ladder after it, toy run included), the same figure as the phase's
    # timing in metadata.json; the command alone beside it.
    summary.smoke_seconds = _phase_seconds(run, "smoke", smoked.seconds)
    summary.smoke_command_seconds = round(smoked.seconds, 3)
    summary.exit_code = smoked.exit_code
    summary.smoke_rung = smoked.highest_rung
    summary.rungs = list(smoked.rungs)
    summary.smoke_user = (f"root ({smoked.root_reason}; rerun as root with a minimal capability set)"
                          if smoked.root_reason else f"uid {smoked.user}, no capabilities")
    if smoked.root_reason:
        run.note(f"attempt {attempt}: {smoked.root_reason}, so it ran again as root (a minimal capability set, "
                 "still no-new-privileges): the smoke result is root's", "warning")
    if smoked.ran_on_cpu:
        run.note("no GPU runtime: the smoke run used the CPU fallback the plan allows", "warning")
    if smoked.output_cut:
        run.note(f"attempt {attempt}: {smoked.output_cut} (attempts/{attempt:02d}/smoke_*.log hold what was kept)",
                 "warning")
    if smoked.ok:
        summary.outcome = "smoke-ok" if smoked.outcome == "exit-0" else "smoke-alive-at-timeout"
        run.meta.smoke_outcome = "exit-0" if smoked.outcome == "exit-0" else "alive-at-timeout"
        run.meta.image_tag = built.image_tag or tag
        run.meta.highest_smoke_rung = smoked.highest_rung
        run.folder.write_text("image.txt", run.meta.image_tag + "\n")
        run.sink.emit(AttemptFinished(attempt=attempt, outcome=summary.outcome, smoke_rung=smoked.highest_rung))
        above = _failed_above(smoked.rungs, smoked.highest_rung) if aim_higher else None
        if above is None:
            return None
        where = f"attempts/{attempt:02d}/rung_{above.rung}.log"
        if above.output:
            run.folder.write_text(where, above.output)
        elif above.rung == "toy-run":
            where = f"attempts/{attempt:02d}/toy_run_*.log"  # the toy run streams into its own logs
        run.note(f"attempt {attempt}: the {above.rung} rung (`{above.command[:80]}`) failed above the smoke command "
                 f"(exit {above.exit_code}): diagnosed like a smoke command, the image passing {smoked.highest_rung} "
                 f"kept as the floor ({where})")
        return FailedAttempt(
            number=attempt, plan=plan.model_copy(update={"smoke_command": above.command}), dockerfile=dockerfile,
            outcome="smoke-failed", attempt_dir=adir, exit_code=above.exit_code,
            error=f"the {above.rung} rung exited with {above.exit_code}", floor_rung=smoked.highest_rung,
            image_tag=built.image_tag or tag, failed_rung=above.rung,
        )
    if smoked.outcome == "gpu-unavailable":
        raise PreflightError(
            smoked.error or "the plan needs a GPU and the engine has no NVIDIA runtime",
            "install the NVIDIA Container Toolkit, or allow the CPU fallback in the plan (cpu_fallback: true)",
        )
    summary.outcome = "smoke-failed"
    run.sink.emit(AttemptFinished(attempt=attempt, outcome="smoke-failed", detail=smoked.error or ""))
    floor = smoked.highest_rung if at_least(smoked.highest_rung, FLOOR_RUNG) else None
    return FailedAttempt(
        number=attempt, plan=plan, dockerfile=dockerfile, outcome="smoke-failed", attempt_dir=adir,
        exit_code=smoked.exit_code, error=smoked.error, floor_rung=floor, image_tag=built.image_tag or tag,
    )


def _failed_above(rungs: list[RungResult], highest: SmokeRungName | None) -> RungResult | None:
    """The lowest rung above the highest one passed that failed (the tests after an entry point's --help): what a
    repair aims at next. None below the floor: a static check alone is no floor to keep."""
    if not at_least(highest, FLOOR_RUNG):
        return None
    assert highest is not None
    failed = [r for r in rungs if r.outcome == "failed" and SMOKE_RUNGS.index(r.rung) > SMOKE_RUNGS.index(highest)]
    return min(failed, key=lambda r: SMOKE_RUNGS.index(r.rung)) if failed else None


def _diagnose(
    run: _Run, diagnoser: Diagnoser, ctx: PlanContext, failed: FailedAttempt, history: list[FailedAttempt],
    attempt: int,
    tries: int,
) -> DiagnosisDecision:
    dctx = DiagnosisContext(
        facts=ctx.facts, repo_dir=ctx.repo_dir, attempt=failed, history=list(history), paper=run.paper,
        rejected=list(ctx.rejected), local_images=ctx.local_images, base_image_map=ctx.base_image_map,
        attempts_left=run.config.max_attempts - tries, policy=ctx.policy, earlier_failed=list(run.earlier_failed),
        pull_image=ctx.pull_image,
    )
    with run.phase("diagnose", attempt):
        diagnosis = diagnoser.diagnose(dctx, run.sink, run.cancel)
    run.folder.write_json(f"attempts/{attempt:02d}/diagnosis.json", diagnosis)
    run.sink.emit(DiagnosisReady(attempt=attempt, diagnosis=diagnosis))
    return diagnosis


# --- defaults built from the configuration ---------------------------------------------------------------


def _llm_client(run: _Run) -> Any:
    if run.llm_client is None and run.config.llm.configured:
        from .llm.client import LlmClient
        from .llm.dialects import DialectStore

        dialects = DialectStore(run.config.cache_dir or default_cache_dir())
        run.llm_client = LlmClient(run.config.llm, dump_dir=run.folder.logs_dir, sink=run.sink, dialects=dialects)
    return run.llm_client


def _default_planner(run: _Run) -> Planner:
    from .plan.deterministic import DeterministicPlanner

    deterministic = DeterministicPlanner()
    client = _llm_client(run)
    if client is None:
        return deterministic
    from .plan.llm_planner import LlmPlanner

    return LlmPlanner(client, fallback=deterministic)


def _default_diagnoser(run: _Run) -> Diagnoser:
    from .diagnose.chain import DiagnosisChain
    from .diagnose.rules_diagnoser import RulesDiagnoser

    client = _llm_client(run)
    llm = None
    if client is not None:
        from .diagnose.llm_diagnoser import LlmDiagnoser

        llm = LlmDiagnoser(client)
    # with a model, the deterministic plan stays a candidate: it runs before the model is asked to diagnose
    deterministic = _deterministic(_default_planner(run)) if llm is not None else None
    return DiagnosisChain(RulesDiagnoser(), llm, deterministic=deterministic)


def _default_executor(run: _Run) -> Executor:
    from .engines import make_executor

    return make_executor(run.config)


def _local_images(executor: Executor | None) -> list[str]:
    if executor is None:
        return []
    try:
        return list(executor.local_images())
    except Exception:  # noqa: BLE001 - an unreachable engine is reported by preflight, not here
        return []


def _puller(run: _Run, executor: Executor | None) -> Callable[[str], bool] | None:
    """The engine's pull, for a Python image the pins need that is not local; None when the executor cannot pull.
    Each image is asked for once per run: a registry that does not answer is not asked again."""
    pull = getattr(executor, "pull_image", None)
    if pull is None:
        return None
    answers: dict[str, bool] = {}

    def pull_image(image: str) -> bool:
        if image not in answers:
            answers[image] = bool(pull(image, run.sink, run.cancel))
            run.note(f"{image} pulled (a plan needs that Python)" if answers[image] else
                     f"{image} could not be pulled: no registry gave it", "info" if answers[image] else "warning")
        return answers[image]

    return pull_image


def _record_limits(run: _Run) -> None:
    """limits.json: what every build step and smoke container runs under; one line of it in the report."""
    from .build.limits import applied_limits

    limits = run.config.limits
    applied = applied_limits(limits, network=limits.network)
    run.applied_limits = applied
    run.folder.write_json("limits.json", applied)
    run.note(f"containers run with {limits.memory} of memory (no swap on top), {limits.cpus:g} CPUs and at most "
             f"{limits.pids} processes, builds included; the smoke run has no capabilities, a "
             f"{applied.smoke_tmpfs.split(', ')[1]} /tmp, a {limits.write_cap} write cap, "
             f"capped output and {'network (--network)' if limits.network else 'no network'} (limits.json)")


def _record_leftovers(run: _Run, attempt: int, ids: list[str]) -> None:
    """A failed or stopped build's step containers and layers carry no label: `cleanup`, a batch and the benchmarks
    find them by these ids (attempts/NN/build_leftovers.txt); only what this build made, never a cache hit."""
    if ids:
        run.folder.write_text(f"attempts/{attempt:02d}/build_leftovers.txt", "\n".join(ids) + "\n")


def _record_build_pids(run: _Run, attempt: int, summary: AttemptSummary, applied: Any) -> None:
    """Which mechanism held the build's process limit (build_cgroup.BuildPidsLimit): in the attempt's summary and
    limits.json. Preflight warned already when a cgroup parent was not possible; a warning here when one was made
    and the engine did not use it, or when nothing limited the steps."""
    summary.build_pids_limit = applied.line()
    if run.applied_limits is not None:
        run.applied_limits = run.applied_limits.model_copy(
            update={"build_pids": applied.line(), "build_pids_mechanism": applied.mechanism})
        run.folder.write_json("limits.json", run.applied_limits)
    unexpected = applied.mechanism == "update-api" and applied.cgroup is not None
    if (unexpected or (applied.mechanism == "none" and applied.cgroup is None)) and attempt == 1:
        run.note(f"build process limit: {applied.line()} (limits.json)", "warning")


def _smoke_network(run: _Run, plan: EnvPlan, attempt: int) -> bool:
    """The smoke container has no network unless --network says so, or the plan asks for it (network: true) and a
    person approved that plan at the gate; a plan's own request is not enough. Either way the report says so."""
    if run.config.limits.network:
        run.note(f"attempt {attempt}: the smoke run has network access (--network)", "warning")
        return True
    if plan.network and run.person_approved:
        run.note(f"attempt {attempt}: the smoke run has network access (the plan asks for it and a person "
                 "approved it at the gate)", "warning")
        return True
    if plan.network:
        run.note(f"attempt {attempt}: the plan asks for network in the smoke run, but no person approved it at the "
                 "gate: the smoke run has no network (use --gate-initial / --approve ask, or --network)", "warning")
    return False


def _remove_leftovers(run: _Run, executor: Executor | None) -> None:
    """A resumed run first removes the containers the run it resumes left on the engine (a lost connection can
    leave a smoke container running). Executors without the method have nothing to remove."""
    remove = getattr(executor, "remove_leftovers", None)
    if remove is None or not run.meta.resumed_from:
        return
    old_run = run.meta.resumed_from.rsplit("/", 1)[0]
    try:
        removed = remove(old_run)
    except Exception:  # noqa: BLE001 - an unreachable engine is reported by preflight
        return
    if removed:
        run.note(f"removed {len(removed)} container(s) left by {old_run}: {', '.join(removed)}")


def _gpu_runtime(executor: Executor | None) -> bool | None:
    if executor is None:
        return None
    try:
        return bool(executor.gpu_runtime())
    except Exception:  # noqa: BLE001 - unknown; preflight reports an unreachable engine
        return None


def _setup_ca_and_proxy(run: _Run) -> None:
    """Detect the CA bundle and proxies once per run; they go into every attempt's build context."""
    import os

    from .build.ca_proxy import detect_ca_bundle, proxy_build_args

    run.build_args = proxy_build_args(os.environ) | dict(run.config.proxy_env)
    if run.config.no_ca:
        return
    bundle = detect_ca_bundle(run.config.ca_cert, os.environ)
    if bundle is not None:
        run.ca_bundle = bundle
        run.extra_files = {"ca.crt": bundle.read_bytes()}
        run.note(f"CA bundle {bundle} will be installed in the image (use --no-ca to skip)")
