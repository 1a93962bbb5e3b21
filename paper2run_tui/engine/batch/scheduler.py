"""The batch scheduler: repositories from a queue onto the free slots of a pool of engines, one ordinary run each.

Each slot is a worker thread running the headless pipeline. A run that ends with its engine gone (status
engine-lost, or any failure after which the engine no longer answers a ping) marks that engine dead and puts the
repository back in the queue for another engine. A per-repository time budget cancels that run only. Ctrl-C
cancels every run; those are recorded as interrupted and re-queued by the next `batch` over the same folder.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from ..config import RunConfig
from ..contracts import Event
from ..ports import CancelToken, Reviewer
from .listing import BatchItem
from .state import BatchRow, BatchState

#: A repository is moved to another engine at most this many times.
MAX_ENGINE_MOVES = 2


class PoolMember(BaseModel):
    """One engine of the pool and how many runs it takes at once."""

    name: str
    engine: str = "docker"
    host: str | None = None
    tls_dir: Path | None = None
    slots: int = Field(default=1, ge=1)


class BatchSpec(BaseModel):
    folder: Path
    items: list[BatchItem]
    pool: list[PoolMember]
    budget_s: int | None = Field(default=None, gt=0, description="wall-clock budget of one repository")
    keep_images: bool = Field(default=True, description="keep a successful run's image (failed ones are removed)")
    list_path: str = ""


class BatchSink(Protocol):
    def row_changed(self, row: BatchRow) -> None: ...

    def row_finished(self, row: BatchRow, done: int, total: int) -> None: ...

    def message(self, text: str) -> None: ...


RunFn = Callable[..., Any]


@dataclass
class _Engine:
    member: PoolMember
    alive: bool = True
    busy: int = 0
    ran: list[str] = field(default_factory=list)


class _RowSink:
    """The run's events, folded into its batch row (phase, attempt, rung) for the live table."""

    def __init__(self, row: BatchRow, changed: Callable[[BatchRow], None],
                 save: Callable[[], None] | None = None) -> None:
        self.row, self.changed, self.save = row, changed, save

    # A cluster runner's ledger (batch/slurm.py: JobLedger): the job is in batch.json as soon as it is submitted.
    def previous_job(self) -> tuple[str, str] | None:
        return (self.row.job, self.row.job_dir) if self.row.job and self.row.job_dir else None

    def detach_on_cancel(self) -> bool:
        """A batch stopped (Ctrl-C) leaves the job to the cluster; a repository over its budget has it cancelled."""
        return not self.row.over_budget

    def excluded_nodes(self) -> list[str]:
        return list(self.row.excluded_nodes)

    def node_failed(self, node: str) -> None:
        """A cluster node failed under this repository's job: kept so a resumed batch still avoids it."""
        if node not in self.row.excluded_nodes:
            self.row.excluded_nodes.append(node)
        if self.save is not None:
            self.save()
        self.changed(self.row)

    def job_submitted(self, job_id: str, job_dir: str) -> None:
        self.row.job, self.row.job_dir = job_id, job_dir
        if self.save is not None:
            self.save()
        self.changed(self.row)

    def emit(self, event: Event) -> None:
        kind = event.kind
        if kind == "phase":
            self.row.phase, self.row.attempt = event.phase, event.attempt or self.row.attempt  # type: ignore[union-attr]
        elif kind == "attempt-finished":
            self.row.rung = event.smoke_rung or self.row.rung  # type: ignore[union-attr]
        elif kind == "run-started":
            self.row.run_dir = event.run_dir  # type: ignore[union-attr]
        else:
            return
        self.changed(self.row)


def _config_for(base: RunConfig, item: BatchItem, member: PoolMember, out: Path, asking: bool = False) -> RunConfig:
    approve = base.approve if asking or base.approve != "ask" else "auto"
    return base.model_copy(update={
        "repo": item.repo, "ref": item.ref, "paper": item.paper, "out": out, "engine": member.engine,
        "engine_host": member.host, "engine_tls_dir": member.tls_dir, "approve": approve, "run_id": None,
    })


def _engine_answers(config: RunConfig) -> bool:
    from ..engines import make_executor

    try:
        executor = make_executor(config)
        ping = getattr(executor, "ping", None)
        return bool(ping()) if ping is not None else True
    except Exception:  # noqa: BLE001 - any failure: the engine is not there
        return False


def _remove_images(config: RunConfig, run_dir: str | None) -> None:
    """The run's images and containers, by its run label (one label: Podman's API matches none with two), and what
    its failed builds left without a label (the intermediate images recorded in attempts/NN/build_leftovers.txt:
    gigabytes each for a torch project)."""
    if not run_dir:
        return
    from ..build.cleanup import cleanup, run_leftovers
    from ..engines import make_executor

    run_id = Path(run_dir).name
    with contextlib.suppress(Exception):  # an unreachable engine keeps them; `cleanup` removes them later
        client = make_executor(config).client  # type: ignore[attr-defined]
        cleanup(client, run_ids=[run_id], leftovers=run_leftovers(Path(run_dir)))


def run_batch(spec: BatchSpec, base: RunConfig, sink: BatchSink, cancel: CancelToken,
              run: RunFn | None = None, reviewer: Reviewer | None = None) -> BatchState:
    """Run every repository not yet done; returns the batch's state (also in spec.folder/batch.json).

    With a reviewer (the batch screen), `--approve ask` gates are asked of it, one blocked run per open gate;
    without one, ask becomes auto."""
    if run is None:
        from ..pipeline import run_pipeline

        run = run_pipeline
    runner: RunFn = run
    spec.folder.mkdir(parents=True, exist_ok=True)
    runs_dir = spec.folder / "runs"
    state = BatchState.load(spec.folder) or BatchState(list_path=spec.list_path)
    state.merge_items(spec.items)
    lock = threading.Lock()
    pending: queue.Queue[BatchRow] = queue.Queue()
    for row in state.rows:
        if row.state == "queued":
            pending.put(row)
    total = len(state.rows)
    skipped = total - pending.qsize()
    if skipped:
        sink.message(f"{skipped} of {total} repositories already done in {spec.folder}: skipped")
    engines = [_Engine(m) for m in spec.pool]
    outstanding = [pending.qsize()]
    finished_count = [skipped]

    def count_done() -> int:
        with lock:
            finished_count[0] += 1
            return finished_count[0]
    free = threading.Condition(lock)

    def save() -> None:
        state.save(spec.folder)

    def locked_save() -> None:
        with lock:
            save()

    def changed(row: BatchRow) -> None:
        sink.row_changed(row)

    def take_engine(row: BatchRow) -> _Engine | None:
        """A live engine with a free slot, preferring one this repository has not died on; None when none is alive."""
        with free:
            while True:
                alive = [e for e in engines if e.alive]
                if not alive or cancel.cancelled:
                    return None
                ready = [e for e in alive if e.busy < e.member.slots]
                fresh = [e for e in ready if e.member.name not in row.engines_tried] or ready
                if fresh:
                    chosen = min(fresh, key=lambda e: e.busy / e.member.slots)
                    chosen.busy += 1
                    return chosen
                free.wait(0.5)

    def run_one(row: BatchRow, engine: _Engine) -> bool:
        """Run the repository on `engine`; True when it is finished (False: re-queue it)."""
        member = engine.member
        config = _config_for(base, row.item, member, runs_dir, asking=reviewer is not None)
        token = CancelToken()
        timer: threading.Timer | None = None

        def watch() -> None:
            while not token.cancelled:
                if cancel.wait(0.5):
                    token.cancel(cancel.reason or "batch cancelled")
                    return

        threading.Thread(target=watch, daemon=True).start()
        if spec.budget_s:
            def over() -> None:
                row.over_budget = True
                token.cancel(f"the repository's time budget of {spec.budget_s} s ran out")
            timer = threading.Timer(spec.budget_s, over)
            timer.daemon = True
            timer.start()
        with lock:
            row.state, row.engine, row.phase, row.attempt, row.rung = "running", member.name, "acquire", None, None
            row.engines_tried.append(member.name)
            row.started_at, row.over_budget, row.run_dir = datetime.now(UTC), False, None
            save()
        changed(row)
        started = time.monotonic()
        try:
            outcome = runner(config, _RowSink(row, changed, locked_save), reviewer, token)
        finally:
            if timer is not None:
                timer.cancel()
            token.cancel("finished")  # stops the watcher
        row.seconds = round(time.monotonic() - started, 1)
        row.run_dir = str(outcome.run_dir) if outcome.run_dir else row.run_dir
        row.job = getattr(outcome, "job_id", None) or row.job
        answered = getattr(outcome, "engine_alive", None)  # a cluster runner says so itself (batch/slurm.py)
        if answered is not None:
            lost = not answered
        else:
            lost = outcome.status == "engine-lost" or (
                outcome.status in ("preflight-failed", "exception", "smoke-failed", "max-attempts-exhausted")
                and not _engine_answers(config))
        if lost and not cancel.cancelled:
            with lock:
                engine.alive = False
            sink.message(f"engine {member.name} is gone ({outcome.reason[:120]}); {row.item.key} goes to another")
            if len(row.engines_tried) <= MAX_ENGINE_MOVES and any(e.alive for e in engines):
                with lock:
                    row.state, row.status, row.reason = "queued", None, f"moved off {member.name}: {outcome.reason}"
                    save()
                return False
        if outcome.status == "interrupted" and cancel.cancelled and not row.over_budget:
            row.state, row.status, row.reason = "interrupted", "interrupted", outcome.reason
        else:
            row.state, row.status, row.reason = "done", outcome.status, outcome.reason
        if outcome.status != "success" or not spec.keep_images:
            _remove_images(config, row.run_dir)
        with lock:
            engine.ran.append(row.item.key)
            save()
        return True

    def worker() -> None:
        while not cancel.cancelled:
            try:
                row = pending.get(timeout=0.3)
            except queue.Empty:
                with lock:
                    if outstanding[0] <= 0:
                        return
                continue
            engine = take_engine(row)
            if engine is None:
                with lock:
                    if not cancel.cancelled:
                        row.state, row.status = "done", "engine-lost"
                        row.reason = "no engine of the pool is alive"
                    outstanding[0] -= 1
                    save()
                if not cancel.cancelled:
                    sink.row_finished(row, count_done(), total)
                continue
            try:
                finished = run_one(row, engine)
            except Exception as exc:  # noqa: BLE001 - one repository's crash must not stop the batch
                row.state, row.status, row.reason, finished = "done", "exception", f"{type(exc).__name__}: {exc}", True
            finally:
                with free:
                    engine.busy -= 1
                    free.notify_all()
            if finished:
                with lock:
                    outstanding[0] -= 1
                    save()
                if row.state == "done":
                    sink.row_finished(row, count_done(), total)
            else:
                pending.put(row)
                changed(row)

    save()
    workers = [threading.Thread(target=worker, daemon=True, name=f"batch-{i}")
               for i in range(sum(m.slots for m in spec.pool))]
    for w in workers:
        w.start()
    for w in workers:
        while w.is_alive():
            w.join(0.5)
    with lock:
        for row in state.rows:
            if row.state in ("running", "queued") and cancel.cancelled:
                row.state = "interrupted"
        if not any(r.state in ("queued", "running", "interrupted") for r in state.rows):
            state.finished_at = datetime.now(UTC)
        save()
    return state
