"""`paper2run-tui batch` without the TUI: one line per finished repository and a progress bar on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .engine.batch.listing import read_list
from .engine.batch.scheduler import BatchSpec, PoolMember, run_batch
from .engine.batch.state import BatchRow
from .engine.batch.summary import write_summary
from .engine.config import RunConfig
from .engine.errors import UserError
from .engine.ports import CancelToken

INTERRUPTED_EXIT = 130


def parse_pool(specs: list[str]) -> list[PoolMember]:
    """`local=docker,slots=2`, `remote=docker,host=tcp://h:2376,tls=~/certs`, `pod=podman,host=unix:///x.sock`."""
    members = []
    for spec in specs:
        name, sep, rest = spec.partition("=")
        parts = rest.split(",") if sep else []
        if not name.strip() or not parts or not parts[0].strip():
            raise UserError(f"--pool {spec}: expected NAME=ENGINE[,host=URL][,tls=DIR][,slots=N]",
                            "e.g. --pool local=docker,slots=2 --pool pod=podman,host=unix:///run/podman/podman.sock")
        values: dict[str, object] = {"name": name.strip(), "engine": parts[0].strip()}
        for part in parts[1:]:
            key, eq, value = part.partition("=")
            if key == "host" and eq:
                values["host"] = value
            elif key == "tls" and eq:
                values["tls_dir"] = Path(value).expanduser()
            elif key == "slots" and eq and value.isdigit() and int(value) >= 1:
                values["slots"] = int(value)
            else:
                raise UserError(f"--pool {spec}: cannot read {part!r}", "use host=URL, tls=DIR or slots=N (N >= 1)")
        members.append(PoolMember.model_validate(values))
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise UserError("--pool: two engines with one name", "give each pool member its own NAME")
    return members


class HeadlessBatchSink:
    def __init__(self, stream=None, bar=None) -> None:  # type: ignore[no-untyped-def]
        self.out = stream or sys.stdout
        self.bar = bar or sys.stderr

    def row_changed(self, row: BatchRow) -> None:
        return None

    def row_finished(self, row: BatchRow, done: int, total: int) -> None:
        took = f"{row.seconds:.0f}s" if row.seconds is not None else "-"
        where = f"{row.engine or '-'}" + (f" job {row.job}" if row.job else "")
        print(f"{row.item.key}\t{row.status}\trung {row.rung or '-'}\t{took}\t{where}\t{row.run_dir or ''}",
              file=self.out, flush=True)
        width = 30
        filled = round(width * done / total) if total else width
        print(f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", file=self.bar, flush=True)

    def message(self, text: str) -> None:
        print(text, file=self.bar, flush=True)


def run_batch_headless(args: argparse.Namespace, base: RunConfig, cancel: CancelToken) -> int:
    items = read_list(args.list)
    if args.jobs < 1:
        raise UserError("--jobs must be at least 1")
    if args.pool:
        pool = parse_pool(args.pool)
    else:
        pool = [PoolMember(name=base.engine, engine=base.engine, host=base.engine_host, tls_dir=base.engine_tls_dir,
                           slots=args.jobs)]
    folder = args.out or Path("batches") / args.list.stem
    spec = BatchSpec(folder=folder, items=items, pool=pool, budget_s=args.budget, keep_images=not args.remove_images,
                     list_path=str(args.list))
    runner = None
    if getattr(args, "scheduler", "local") == "slurm":
        from .engine.batch.slurm import SlurmRunner

        runner = SlurmRunner(partition=args.partition, time_limit_min=-(-args.budget // 60) if args.budget else None)
    if not (getattr(args, "headless", False) or not sys.stdout.isatty()):
        from .tui.screens.batch import run_batch_app

        return run_batch_app(spec, base, runner)
    if base.approve == "ask":
        raise UserError("batch --approve ask needs the batch screen (a terminal)", "use --approve auto or never")
    sink = HeadlessBatchSink()
    state = run_batch(spec, base, sink, cancel, run=runner)
    data = write_summary(state, folder)
    outcomes = ", ".join(f"{k} {v}" for k, v in data["outcomes"].items())  # type: ignore[attr-defined]
    print(f"batch: {outcomes} — summary in {folder}/summary.md, .csv, .json", file=sys.stderr)
    if cancel.cancelled:
        print(f"interrupted: run the same command again to go on ({folder}/batch.json)", file=sys.stderr)
        return INTERRUPTED_EXIT
    return 0 if all(r.status == "success" for r in state.rows) else 1
