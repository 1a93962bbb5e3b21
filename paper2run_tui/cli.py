"""`paper2run-tui`: the full-screen app by default; a headless client of the same engine with --headless,
or whenever stdout is not a terminal.

    paper2run-tui                       the home screen
    paper2run-tui run --repo URL ...    straight into a live run
    paper2run-tui runs [--out runs]     the runs browser
    paper2run-tui resume RUN_DIR --attempt N [--edit | --plan FILE]
    paper2run-tui config [--repo R ...] the effective configuration and where each value came from
    paper2run-tui implement PAPER ...   paper to citation-anchored code, then the same build loop
    paper2run-tui cleanup [--run ID]    remove the images and containers this tool made
    paper2run-tui schemas DIR           export the JSON schemas of the contracts
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from . import __version__
from .engine.contracts import EXIT_CODES, Event
from .engine.errors import UserError
from .engine.ports import CancelToken
from .engine.record.recorder import describe as describe_event
from .settings import Setting, build_run_config, config_from_run, describe, fix_rounds, out_folder, resolve

USAGE_ERROR = 2


def _add_run_flags(p: argparse.ArgumentParser, *, repo_required: bool) -> None:
    p.add_argument("--repo", required=repo_required, help="GitHub URL, any git URL, or a local path")
    p.add_argument("--paper", help="a .pdf, .md/.markdown, an arXiv id or URL")
    p.add_argument("--ref", help="branch, tag or commit to check out")
    p.add_argument("--out", type=Path, help="folder for the run folders (default: runs/)")
    p.add_argument("--timeout", type=int, help="smoke-run timeout per attempt, seconds (default: 900)")
    p.add_argument("--max-attempts", type=int, help="total tries: the first plan and the repairs (default: 3)")
    p.add_argument("--model", help="LLM model name (default: PAPER2RUN_MODEL)")
    p.add_argument("--base-url", help="OpenAI-compatible API base URL (default: PAPER2RUN_BASE_URL)")
    p.add_argument("--llm-context", type=int, help="the endpoint's context window in tokens; prompts are cut to fit "
                                                   "it (default: PAPER2RUN_LLM_CONTEXT, else learned from the server)")
    p.add_argument("--dry-run", action="store_true", default=None, help="render the plan and Dockerfile only")
    p.add_argument("--approve", choices=["ask", "auto", "never"],
                   help="repair plans: ask a person, approve all, or reject all (headless default: auto)")
    p.add_argument("--gate-initial", action="store_true", default=None, help="also ask before the first build")
    p.add_argument("--ca-cert", type=Path, help="CA bundle to install in the image (default: detected)")
    p.add_argument("--no-ca", action="store_true", default=None, help="do not install any CA bundle")
    p.add_argument("--memory", help="memory limit of containers, e.g. 4g")
    p.add_argument("--cpus", type=float, help="CPU limit of containers")
    p.add_argument("--pids", type=int, help="process limit of containers")
    p.add_argument("--network", action="store_true", default=None,
                   help="give the smoke container network access (default: none; builds always have it)")
    p.add_argument("--allow-base-image", action="append", metavar="IMAGE",
                   help="allow this base image too (repeatable; a trailing * allows a prefix; also "
                   "PAPER2RUN_ALLOWED_BASE_IMAGES, comma-separated)")
    p.add_argument("--engine", help="container engine: docker (default), podman, a plug-in, or module:Class")
    p.add_argument("--engine-host", help="engine endpoint, e.g. tcp://host:2376 (TLS) or ssh://user@host")
    p.add_argument("--engine-tls-dir", type=Path, help="folder with ca.pem, cert.pem, key.pem for a tcp:// engine")
    p.add_argument("--no-download-cache", action="store_true", default=None,
                   help="download pip and apt files afresh in every build (default: shared between attempts and "
                   "runs; PAPER2RUN_DOWNLOAD_CACHE=off)")
    p.add_argument("--headless", action="store_true", help="no TUI: one line per event (default when not a tty)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="paper2run-tui",
        description="Turn a research repository (and its paper) into a working Docker container, or an "
        "honest report of why it cannot run.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--out", type=Path, dest="home_out", help="runs folder the home screen lists")
    sub = parser.add_subparsers(dest="command")
    run = sub.add_parser("run", help="reproduce a repository")
    _add_run_flags(run, repo_required=True)
    runs = sub.add_parser("runs", help="browse past runs")
    runs.add_argument("--out", type=Path, default=None, help="folder of run folders (default: runs/)")
    runs.add_argument("--headless", action="store_true", help="print a table instead of opening the browser")
    resume = sub.add_parser("resume", help="resume a past run from one of its attempts")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--attempt", type=int, help="attempt whose plan to start from (default: the last one; a "
                        "run stopped before its first attempt starts again from its checkout)")
    how = resume.add_mutually_exclusive_group()
    how.add_argument("--edit", action="store_true", help="edit the plan in $EDITOR before the build")
    how.add_argument("--plan", type=Path, help="start from this plan.json instead of the attempt's")
    resume.add_argument("--approve", choices=["ask", "auto", "never"])
    resume.add_argument("--max-attempts", type=int)
    resume.add_argument("--timeout", type=int)
    resume.add_argument("--model", help="another model (default: the run's)")
    resume.add_argument("--base-url", help="another endpoint (default: the run's)")
    resume.add_argument("--memory")
    resume.add_argument("--cpus", type=float)
    resume.add_argument("--pids", type=int)
    resume.add_argument("--headless", action="store_true")
    conf = sub.add_parser("config", help="print the effective configuration and where each value came from")
    conf.add_argument("--repo", help="the repository you are about to run (a .env inside it is never read)")
    conf.add_argument("--model")
    conf.add_argument("--base-url")
    impl = sub.add_parser("implement", help="paper to citation-anchored code, built and smoke-tested")
    impl.add_argument("paper", help="arXiv id or URL, a .pdf or a .md file")
    impl.add_argument("--out", type=Path, default=None)
    impl.add_argument("--framework", choices=["pytorch", "jax", "tensorflow"], default="pytorch")
    impl.add_argument("--mode", choices=["minimal", "full", "educational"], default="minimal")
    impl.add_argument("--no-run", action="store_true", help="generate only; do not build and smoke-run")
    impl.add_argument("--model")
    impl.add_argument("--base-url")
    impl.add_argument("--timeout", type=int)
    impl.add_argument("--max-attempts", type=int)
    impl.add_argument("--approve", choices=["ask", "auto", "never"])
    impl.add_argument("--memory")
    impl.add_argument("--cpus", type=float)
    impl.add_argument("--pids", type=int)
    impl.add_argument("--fix-rounds", type=int, help="rounds in which the citation check's problems go back to the "
                      "model (0-5, default 2; PAPER2RUN_FIX_ROUNDS)")
    impl.add_argument("--build-fix-rounds", type=int, help="rounds in which a failed build or shape check goes back "
                      "to the model (0-5, default 2; PAPER2RUN_BUILD_FIX_ROUNDS)")
    impl.add_argument("--headless", action="store_true")
    batch = sub.add_parser("batch", help="reproduce a list of repositories, on a pool of engines")
    batch.add_argument("list", type=Path, help="a file: one URL or path a line (REPO [ref=REF] [paper=PAPER]) or CSV")
    batch.add_argument("--out", type=Path, help="the batch folder (default: batches/<list name>); resumable")
    batch.add_argument("--jobs", type=int, default=1, help="repositories at once on the engine (default 1)")
    batch.add_argument("--pool", action="append", metavar="NAME=ENGINE[,host=URL][,tls=DIR][,slots=N]",
                       help="an engine of the pool (repeat); replaces --engine/--jobs")
    batch.add_argument("--budget", type=int, help="wall-clock seconds per repository (default: none)")
    batch.add_argument("--remove-images", action="store_true", help="also remove successful runs' images")
    for flag in ("--timeout", "--max-attempts"):
        batch.add_argument(flag, type=int)
    batch.add_argument("--approve", choices=["ask", "auto", "never"],
                       help="repair plans (default: auto); ask queues the gates on the batch screen")
    batch.add_argument("--gate-initial", action="store_true", default=None, help="also ask before each first build")
    batch.add_argument("--dry-run", action="store_true", default=None)
    batch.add_argument("--no-ca", action="store_true", default=None)
    batch.add_argument("--no-download-cache", action="store_true", default=None,
                       help="download pip and apt files afresh in every build")
    batch.add_argument("--engine")
    batch.add_argument("--engine-host")
    batch.add_argument("--engine-tls-dir", type=Path)
    batch.add_argument("--scheduler", choices=["local", "slurm"], default="local",
                       help="local: the pool's slots here; slurm: one sbatch job per repository (SLURM_CONF)")
    batch.add_argument("--partition", help="Slurm partition (default: the cluster's default)")
    batch.add_argument("--headless", action="store_true", help="no TUI: a line per repository and a progress bar")
    engines = sub.add_parser("engines", help="list the container engines and what each can do (GPU, BuildKit, limits)")
    engines.add_argument("--engine", help="only this engine")
    engines.add_argument("--engine-host", help="its endpoint (default: the engine's own default)")
    engines.add_argument("--engine-tls-dir", type=Path, help="folder with ca.pem, cert.pem, key.pem for tcp://")
    clean = sub.add_parser("cleanup", help="remove the images and containers of the runs in a runs folder")
    clean.add_argument("--out", type=Path, default=None, help="the runs folder whose runs' images and containers go "
                       "(default: runs/)")
    clean.add_argument("--run", help="only those of this run id")
    clean.add_argument("--all", action="store_true", help="every image and container paper2run-tui made on this "
                       "engine, other people's runs included")
    clean.add_argument("--dry-run", action="store_true", help="list what would be removed")
    clean.add_argument("--yes", action="store_true", help="remove what is listed without asking")
    schemas = sub.add_parser("schemas", help="write the JSON schemas of the contracts to a folder")
    schemas.add_argument("dest", type=Path)
    return parser


class PrintSink:
    """Headless client: one line per event on stdout (model text streams are summarised, not echoed)."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.started = False  # before run-started, an error is the input's: one line on stderr

    def emit(self, event: Event) -> None:
        if event.kind == "diagnosis-delta":
            return
        if event.kind == "message" and event.level == "error" and not self.started:  # type: ignore[union-attr]
            print(f"error: {event.text}", file=sys.stderr, flush=True)  # type: ignore[union-attr]
            return
        self.started = self.started or event.kind == "run-started"
        try:
            print(describe_event(event), file=self.stream, flush=True)
        except BrokenPipeError:  # `| head` closed the pipe: keep running, stop printing
            self.stream = open("/dev/null", "w")  # noqa: SIM115


class TerminalReviewer:
    """--approve ask without the TUI: a one-key prompt on the terminal."""

    def review(self, request: Any, cancel: CancelToken) -> Any:
        from .engine.contracts import HumanDecision

        print(f"\nProposed {request.kind} plan for attempt {request.attempt} ({request.plan_source}):")
        print(request.proposed.model_dump_json(indent=2))
        if request.diagnosis is not None:
            print(f"Diagnosis: {request.diagnosis.reason}")
        if request.dockerfile:
            print("The Dockerfile it renders:\n" + request.dockerfile)
        if request.verdict is not None:
            print(f"Plan policy: {request.verdict.status}")
            for line in request.verdict.lines():
                print(f"  {line}")
        again = "ask [n]ew plan" if request.replan_uses_reason else "[e]dit it (no planner here can use a reason)"
        while True:
            answer = input(f"[a]pprove, [r]eject and stop, {again}? ").strip().lower()
            if answer in ("a", "approve", "y", "yes"):
                return HumanDecision(action="approve")
            if answer == "e" or (answer == "n" and not request.replan_uses_reason):
                edited = edit_plan(request.proposed)
                return HumanDecision(action="edit", plan=edited) if edited != request.proposed else HumanDecision(
                    action="approve")
            if answer in ("r", "n"):
                reason = input("reason: ").strip() or "rejected at the terminal"
                return HumanDecision(action="reject", reason=reason, then="stop" if answer == "r" else "ask-again")


def _headless_wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "headless", False)) or not sys.stdout.isatty()


#: The signals that stop a run cleanly, like Ctrl-C: SIGTERM (kill, systemd, CI cancelling a job), SIGHUP (the
#: terminal or the SSH session went away).
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class StopSignals:
    """First stop signal asks the engine to stop cleanly (containers removed, run recorded as interrupted); a
    second one interrupts at once. `exit_code` is what the process should exit with after an interrupted run:
    130 after Ctrl-C, 128 + the signal's number otherwise (143 SIGTERM, 129 SIGHUP), as shells expect."""

    def __init__(self, cancel: CancelToken) -> None:
        self.cancel = cancel
        self.received: int | None = None
        for signum in STOP_SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.cancel.cancelled:
            raise KeyboardInterrupt
        self.received = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        self.cancel.cancel(name)
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            print(f"stopping… ({name}; again to force)", file=sys.stderr, flush=True)

    def exit_code(self, code: int) -> int:
        if code == EXIT_CODES["interrupted"] and self.received not in (None, signal.SIGINT):
            return 128 + int(self.received)  # type: ignore[arg-type]
        return code


def _run_flags(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("repo", "paper", "ref", "out", "timeout", "max_attempts", "model", "base_url", "llm_context", "dry_run",
            "approve", "gate_initial", "ca_cert", "no_ca", "memory", "cpus", "pids", "allow_base_image", "network",
            "engine", "engine_host", "engine_tls_dir", "no_download_cache")
    return {k: getattr(args, k, None) for k in keys}


def edit_plan(plan: Any) -> Any:
    """The plan in $VISUAL / $EDITOR until it validates (or the person gives up): the CLI's gate editor."""
    import os
    import shlex
    import subprocess
    import tempfile

    from pydantic import ValidationError

    from .engine.contracts import EnvPlan

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    text = plan.model_dump_json(indent=2)
    with tempfile.TemporaryDirectory(prefix="paper2run-plan-") as tmp:
        path = Path(tmp) / "plan.json"
        while True:
            path.write_text(text, encoding="utf-8")
            try:
                done = subprocess.run([*shlex.split(editor), str(path)], check=False)
            except OSError as exc:
                raise UserError(f"cannot start the editor {editor!r}: {exc.strerror}",
                                "set EDITOR to your editor, or pass --plan FILE") from None
            if done.returncode != 0:
                raise UserError(f"the editor {editor!r} exited with {done.returncode}: nothing changed")
            text = path.read_text(encoding="utf-8")
            try:
                return EnvPlan.model_validate_json(text)
            except ValidationError as exc:
                problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors())
                print(f"the edited plan is not valid: {problems}", file=sys.stderr)
                if not sys.stdin.isatty() or input("edit it again? [Y/n] ").strip().lower() in ("n", "no"):
                    raise UserError(f"the edited plan is not valid: {problems}") from None


def _plan_file(path: Path) -> Any:
    from pydantic import ValidationError

    from .engine.contracts import EnvPlan

    try:
        return EnvPlan.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise UserError(f"--plan {path}: {exc.strerror}", "give the path of a plan.json") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'plan'}: {e['msg']}" for e in exc.errors()[:5])
        raise UserError(f"--plan {path} is not a valid plan: {problems}") from None


def _reviewer(approve: str) -> TerminalReviewer | None:
    if approve != "ask":
        return None
    if not sys.stdin.isatty():
        raise UserError("--approve ask needs a terminal to ask on", "use --approve auto or --approve never")
    return TerminalReviewer()


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        print(f"note: {note}", file=sys.stderr)


def _cmd_run(args: argparse.Namespace) -> int:
    headless = _headless_wanted(args)
    flags = _run_flags(args)
    resolved = resolve(flags, repo=flags["repo"])
    if resolved.get("approve") is None:
        mode = "auto" if headless else "ask"
        resolved.values["approve"] = Setting("approve", mode, f"default ({'headless' if headless else 'the TUI'})")
    config = build_run_config(flags, resolved)
    _print_notes(config.notes)
    if not headless:
        from .tui.app import run_app

        return run_app("run", config, config.out)
    reviewer = _reviewer(config.approve)
    from .engine.pipeline import run_pipeline

    cancel = CancelToken()
    signals = StopSignals(cancel)
    outcome = run_pipeline(config, PrintSink(), reviewer, cancel)
    return signals.exit_code(outcome.exit_code)


def _cmd_runs(args: argparse.Namespace) -> int:
    out = out_folder(args.out)
    if not _headless_wanted(args):
        from .tui.app import run_app

        return run_app("runs", None, out)
    from .engine.record.store import list_runs

    rows = list_runs(out)
    if not rows:
        print(f"no runs under {out}")
        return 0
    for r in rows:
        when = r.started_at.strftime("%Y-%m-%d %H:%M") if r.started_at else "?"
        took = f"{r.duration_s:.0f}s" if r.duration_s is not None else "-"
        print(f"{r.run_id}\t{r.status}\t{r.attempts} attempt(s)\t{took}\t{when}\t{r.repo}")
    return 0


def _cmd_resume(args: argparse.Namespace) -> int:
    from .engine.resume import resume_run, resume_seed

    if not (args.run_dir / "metadata.json").is_file():
        raise UserError(f"{args.run_dir} is not a run folder (no metadata.json)", "pass a folder under runs/")
    headless = _headless_wanted(args)
    flags = {k: getattr(args, k) for k in ("approve", "max_attempts", "timeout", "model", "base_url", "memory",
                                           "cpus", "pids")}
    flags["approve"] = args.approve or ("auto" if headless else "ask")
    config = config_from_run(args.run_dir, flags)
    _print_notes(config.notes)
    plan = _plan_file(args.plan) if args.plan else None
    if args.edit:
        seed = resume_seed(args.run_dir, args.attempt)
        if seed is None:
            raise UserError(f"{args.run_dir} stopped before its first attempt: there is no plan to edit",
                            "resume it without --edit (it starts again)")
        plan = edit_plan(seed.plan)
    reviewer = _reviewer(config.approve)
    cancel = CancelToken()
    signals = StopSignals(cancel)
    outcome = resume_run(args.run_dir, args.attempt, PrintSink(), reviewer, cancel, config=config, plan=plan)
    return signals.exit_code(outcome.exit_code)


def _cmd_config(args: argparse.Namespace) -> int:
    flags = {"model": args.model, "base_url": args.base_url}
    for line in describe(resolve(flags, repo=args.repo)):
        print(line)
    return 0


def _cmd_implement(args: argparse.Namespace) -> int:
    from .engine.implement.config import ImplementConfig
    from .engine.implement.runner import run_implement

    flags = {k: getattr(args, k) for k in ("out", "timeout", "max_attempts", "approve", "model", "base_url",
                                           "memory", "cpus", "pids", "fix_rounds", "build_fix_rounds")}
    flags["approve"] = flags["approve"] or "auto"
    resolved = resolve({**flags, "repo": args.paper}, repo=args.paper)
    base = build_run_config({**flags, "repo": args.paper}, resolved)  # the settings every run gets, from the one resolver
    rounds = fix_rounds(resolved)
    _print_notes(base.notes)
    config = ImplementConfig(
        paper=args.paper, out=base.out, framework=args.framework, mode=args.mode, run=not args.no_run,
        timeout=base.timeout, max_attempts=base.max_attempts, approve=base.approve, llm=base.llm,
        limits=base.limits, base_image_map=base.base_image_map, arxiv_base_url=base.arxiv_base_url,
        cache_dir=base.cache_dir,
    ).model_copy(update=rounds)  # validated against the same fields by fix_rounds()
    reviewer = _reviewer(config.approve) if config.run else None
    cancel = CancelToken()
    signals = StopSignals(cancel)
    outcome = run_implement(config, PrintSink(), reviewer, cancel)
    state = "code generated" if outcome.generated_code else "no code generated (no LLM endpoint)"
    checks = "citations checked: ok" if outcome.citations.ok else f"{len(outcome.citations.violations)} citation problem(s)"
    print(f"implementation: {outcome.folder} ({state}; {checks})")
    if outcome.run is not None:
        print(f"run: {outcome.run.run_dir} ({outcome.run.status})")
    return signals.exit_code(outcome.exit_code)


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch_cli import run_batch_headless

    flags = {"repo": ".", "timeout": args.timeout, "max_attempts": args.max_attempts, "approve": args.approve or "auto",
             "dry_run": args.dry_run, "no_ca": args.no_ca, "gate_initial": args.gate_initial, "engine": args.engine, "engine_host": args.engine_host,
             "engine_tls_dir": args.engine_tls_dir, "no_download_cache": args.no_download_cache}
    base = build_run_config(flags)
    cancel = CancelToken()
    signals = StopSignals(cancel)
    return signals.exit_code(run_batch_headless(args, base, cancel))


def _cmd_engines(args: argparse.Namespace) -> int:
    """One line per engine: reachable or not, and what it can do; exit 1 when the chosen one is not reachable."""
    from .engine.config import RunConfig
    from .engine.engines import engine_class, engine_names, make_executor
    from .engine.errors import PreflightError

    names = [args.engine] if args.engine else engine_names()
    config = RunConfig(repo=".", engine_host=args.engine_host, engine_tls_dir=args.engine_tls_dir)
    reachable = True
    for name in names:
        cls = engine_class(name)
        try:
            line = make_executor(config, name=name, host=args.engine_host).capabilities().line()  # type: ignore[attr-defined]
        except PreflightError as err:
            line, reachable = f"{name}: {err}", False
        print(f"{line}  [{cls.__module__}.{cls.__name__}]")
        reachable = reachable and "not reachable" not in line
    return 0 if reachable or not args.engine else 1


def _cmd_cleanup(args: argparse.Namespace) -> int:
    """List first, then ask (or --yes): only the runs of one runs folder (or one run) unless --all."""
    from .engine.build.cleanup import cleanup, run_leftovers
    from .engine.build.docker_client import connect
    from .engine.record.store import list_runs

    out = out_folder(args.out)
    if args.all:
        scope: dict[str, Any] = {}
        where = "every paper2run-tui image and container on this engine (other people's runs included)"
    else:
        runs = [r for r in list_runs(out) if args.run in (None, r.run_id)]
        ids = [args.run] if args.run else [r.run_id for r in runs]
        leftovers = [ref for r in runs for ref in run_leftovers(r.path)]
        scope = {"run_ids": ids, "leftovers": leftovers}
        where = f"run {args.run}" if args.run else f"the {len(ids)} run(s) under {out}"
    client = connect()
    listed = cleanup(client, dry_run=True, **scope)
    print(f"{where}:")
    print(listed.summary())
    if args.dry_run or not (listed.containers or listed.images):
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise UserError("cleanup removes only after asking, and there is no terminal to ask on",
                            "check the list above and pass --yes")
        if input("remove them? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 0
    print(cleanup(client, **scope).summary())
    return 0


def _cmd_schemas(args: argparse.Namespace) -> int:
    from .engine.contracts.schemas import export_schemas

    for path in export_schemas(args.dest):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    commands = {"run": _cmd_run, "runs": _cmd_runs, "resume": _cmd_resume, "implement": _cmd_implement,
                "cleanup": _cmd_cleanup, "engines": _cmd_engines, "batch": _cmd_batch, "schemas": _cmd_schemas, "config": _cmd_config}
    try:
        if args.command is None:
            from .tui.app import run_app

            return run_app("home", None, out_folder(args.home_out))
        return commands[args.command](args)
    except UserError as err:
        for line in str(err).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_CODES["interrupted"]
