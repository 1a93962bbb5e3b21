"""Slurm as the batch's placement: each repository one job running the headless pipeline on a node, its run folder
written to the shared batch folder; followed with squeue/scontrol and the run's own events.jsonl.

A SlurmRunner is the `run` callable of run_batch, so the queue, resume, the summary and engine re-queueing are the
same as for a local pool; the slots say how many jobs are submitted at once.

A job whose node failed (NODE_FAIL, BOOT_FAIL, or a run that ended engine-lost on it) is submitted again with
`--exclude` of every node the repository has failed on; jobs go in with `--no-requeue`, so that Slurm does not put
one back on the node that just failed. When no node is left (sbatch refuses the exclusion) the repository ends
engine-lost with the reason, and the cluster stays in the pool for the others.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..config import RunConfig
from ..contracts import Message
from ..contracts.events import parse_event
from ..errors import UserError
from ..ports import CancelToken, EventSink, Reviewer

POLL_S = 1.0
#: Job states after which a job runs no more.
TERMINAL = ("COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE",
            "PREEMPTED")
#: Job states that say the node, not the repository, failed.
NODE_LOST = ("NODE_FAIL", "BOOT_FAIL")
#: A repository is submitted again after a node failure at most this many times.
MAX_NODE_RESUBMITS = 2


@runtime_checkable
class JobLedger(Protocol):
    """Where the batch keeps a repository's job (its row in batch.json), so that a resumed batch follows the job
    instead of submitting it twice. The scheduler's row sink is one."""

    def previous_job(self) -> tuple[str, str] | None: ...

    def job_submitted(self, job_id: str, job_dir: str) -> None: ...

    def detach_on_cancel(self) -> bool: ...

    def excluded_nodes(self) -> list[str]: ...

    def node_failed(self, node: str) -> None: ...


def _run_folder(job_dir: Path, marker: str) -> Path | None:
    with contextlib.suppress(OSError):
        return next((p for p in sorted(job_dir.iterdir()) if (p / marker).is_file()), None)
    return None


@dataclass
class SlurmOutcome:
    status: str
    run_dir: Path | None
    exit_code: int
    reason: str = ""
    job_id: str | None = None
    #: The cluster itself answered: a node loss was this runner's to handle, so the scheduler keeps the cluster in
    #: the pool (it would otherwise ping the local engine, which a cluster's submit host may not have).
    engine_alive: bool = True
    excluded: list[str] | None = None


def _cli_args(config: RunConfig, out: Path) -> list[str]:
    args = [sys.executable, "-m", "paper2run_tui", "run", "--headless", "--repo", config.repo, "--out", str(out),
            "--approve", config.approve if config.approve != "ask" else "auto", "--timeout", str(config.timeout),
            "--max-attempts", str(config.max_attempts), "--engine", config.engine]
    for flag, value in (("--ref", config.ref), ("--paper", config.paper), ("--engine-host", config.engine_host),
                        ("--engine-tls-dir", config.engine_tls_dir)):
        if value:
            args += [flag, str(value)]
    args += ["--dry-run"] if config.dry_run else []
    args += ["--no-ca"] if config.no_ca else []
    args += [] if config.download_cache else ["--no-download-cache"]
    return args


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except FileNotFoundError:
        raise UserError(f"{cmd[0]} not found: Slurm's client commands are needed",
                        "install slurm-client (or slurm-wlm) and set SLURM_CONF") from None


class SlurmRunner:
    """Submits one job per repository and waits for it, feeding the run's events to the batch as they appear."""

    def __init__(self, partition: str | None = None, time_limit_min: int | None = None) -> None:
        self.partition = partition
        self.time_limit_min = time_limit_min

    def job_state(self, job_id: str) -> str | None:
        """The job's state while Slurm knows it (squeue, then scontrol for a job that just ended), else None."""
        state = _run(["squeue", "-h", "-j", job_id, "-o", "%T"]).stdout.strip()
        if state:
            return state
        shown = _run(["scontrol", "show", "job", job_id]).stdout
        for word in shown.split():
            if word.startswith("JobState="):
                return word.split("=", 1)[1]
        return None

    def job_node(self, job_id: str) -> str | None:
        """The node the job ran (or runs) on: scontrol's BatchHost, else its NodeList."""
        shown = _run(["scontrol", "show", "job", job_id]).stdout.split()
        fields = dict(word.split("=", 1) for word in shown if "=" in word)
        node = fields.get("BatchHost") or fields.get("NodeList") or ""
        return node if node and node != "(null)" else None

    def __call__(self, config: RunConfig, sink: EventSink, reviewer: Reviewer | None,
                 cancel: CancelToken) -> SlurmOutcome:
        ledger = sink if isinstance(sink, JobLedger) else None
        excluded = list(ledger.excluded_nodes()) if ledger is not None else []
        followed = self._resumable(ledger.previous_job()) if ledger is not None else None
        resubmits = 0
        while True:
            if followed is not None:
                job_id, job_dir = followed
            else:
                submitted = self._submit(config, excluded)
                if isinstance(submitted, SlurmOutcome):
                    if excluded:  # the exclusion left no node: the node loss, not the repository, ended it
                        submitted.status = "engine-lost"
                        submitted.reason = (f"its node(s) {','.join(excluded)} failed, and with --exclude="
                                            f"{','.join(excluded)} {submitted.reason}")
                    submitted.excluded = excluded
                    return submitted
                job_id, job_dir = submitted
                if ledger is not None:
                    ledger.job_submitted(job_id, str(job_dir))
            followed = None
            outcome, node = self._follow(job_id, job_dir, sink, cancel, ledger)
            if node is None or resubmits >= MAX_NODE_RESUBMITS or cancel.cancelled:
                outcome.excluded = excluded
                return outcome
            # The node failed under the job: the same repository again, anywhere but there.
            resubmits += 1
            if node not in excluded:
                excluded.append(node)
            if ledger is not None:
                ledger.node_failed(node)
            sink.emit(Message(text=f"slurm job {job_id}: node {node} failed ({outcome.reason[:120]}); "
                                   f"submitting again with --exclude={','.join(excluded)}"))

    def _follow(self, job_id: str, job_dir: Path, sink: EventSink, cancel: CancelToken,
                ledger: JobLedger | None) -> tuple[SlurmOutcome, str | None]:
        """Follow one job to its end; (its outcome, the node that failed under it, or None)."""
        seen = 0
        run_dir: Path | None = None
        cancelled = False
        state: str | None = None
        node: str | None = None
        while True:
            state = self.job_state(job_id)
            if state == "RUNNING" and node is None:
                node = self.job_node(job_id)
            run_dir = run_dir or _run_folder(job_dir, "events.jsonl")
            if run_dir is not None:
                seen = self._forward(run_dir / "events.jsonl", seen, sink)
            if state is None or state in TERMINAL:
                break
            if cancel.cancelled and not cancelled:
                if ledger is not None and ledger.detach_on_cancel():
                    # The batch client stops, the job does not: it stays the cluster's, and the next batch over
                    # this folder follows it (or reads its run) instead of submitting the repository again.
                    return SlurmOutcome("interrupted", run_dir, 130, f"slurm job {job_id} left {state.lower()} on "
                                        "the cluster; the next batch over this folder follows it", job_id), None
                _run(["scancel", "--signal=INT", "--full", job_id])  # the pipeline stops cleanly, like Ctrl-C
                cancelled = True
            time.sleep(POLL_S)
        run_dir = run_dir or _run_folder(job_dir, "metadata.json")
        if run_dir is not None:
            self._forward(run_dir / "events.jsonl", seen, sink)
        outcome = self._outcome(job_id, state, job_dir, run_dir)
        # A job cancelled by someone (scancel) ended by choice, not by its node.
        node_lost = state in NODE_LOST or (outcome.status == "engine-lost" and state != "CANCELLED")
        if not node_lost or cancelled:
            return outcome, None
        return outcome, node or self.job_node(job_id)

    def _submit(self, config: RunConfig, exclude: list[str] | None = None) -> tuple[str, Path] | SlurmOutcome:
        config.out.mkdir(parents=True, exist_ok=True)
        job_dir = Path(tempfile.mkdtemp(prefix="slurm-", dir=config.out))
        cmd = ["sbatch", "--parsable", "--no-requeue", "--job-name", f"p2r-{Path(config.repo).name[:40]}",
               "--output", str(job_dir / "slurm-%j.log"), "--chdir", str(job_dir)]
        if exclude:
            cmd += [f"--exclude={','.join(exclude)}"]
        if self.partition:
            cmd += ["--partition", self.partition]
        if self.time_limit_min:
            cmd += ["--time", str(self.time_limit_min)]
        cmd += ["--wrap", shlex.join(_cli_args(config, job_dir))]
        submitted = _run(cmd)
        if submitted.returncode != 0:
            with contextlib.suppress(OSError):
                job_dir.rmdir()  # nothing ran there
            return SlurmOutcome("exception", None, 1, f"sbatch refused the job: {submitted.stderr.strip()[:300]}",
                                engine_alive=_run(["scontrol", "ping"]).returncode == 0)
        return submitted.stdout.strip().split(";")[0], job_dir

    def _resumable(self, previous: tuple[str, str] | None) -> tuple[str, Path] | None:
        """The job an earlier batch submitted, when it is still queued or running (follow it again) or ended with
        a finished run (its outcome is that run); None when it ended without one (submit the repository again)."""
        if previous is None:
            return None
        job_id, folder = previous[0], Path(previous[1])
        if not folder.is_dir():
            return None
        state = self.job_state(job_id)
        if state is not None and state not in TERMINAL:
            return job_id, folder
        run_dir = _run_folder(folder, "metadata.json")
        if run_dir is not None:
            from ..record.store import load_run

            with contextlib.suppress(Exception):
                if load_run(run_dir).metadata.status != "running":
                    return job_id, folder
        return None

    @staticmethod
    def _forward(events: Path, seen: int, sink: EventSink) -> int:
        with contextlib.suppress(OSError):
            lines = events.read_text().splitlines()
            for line in lines[seen:]:
                with contextlib.suppress(ValueError):
                    sink.emit(parse_event(line))
            return len(lines)
        return seen

    @staticmethod
    def _outcome(job_id: str, state: str | None, job_dir: Path, run_dir: Path | None) -> SlurmOutcome:
        if run_dir is not None and (run_dir / "metadata.json").is_file():
            from ..record.store import load_run

            meta = load_run(run_dir).metadata
            status = meta.status if meta.status != "running" else "engine-lost"
            return SlurmOutcome(status, run_dir, 0 if status == "success" else 1,
                                f"slurm job {job_id} {state or 'ended'}: {meta.status}", job_id)
        log = next(job_dir.glob("slurm-*.log"), None)
        tail = log.read_text(errors="replace")[-300:] if log else ""
        return SlurmOutcome("exception", run_dir, 1, f"slurm job {job_id} {state or 'ended'} without a run: {tail}",
                            job_id)
