"""The contained smoke run: limits, no network unless asked for, no capabilities, a capped /tmp, writable layer
and output, no host mounts or Docker socket; the container is always removed."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from ..config import DockerLimits
from ..contracts import SMOKE_RUNGS, Message, RungResult, SmokeRung
from ..errors import EngineLost
from ..ports import Cancelled, CancelToken, EventSink
from .base import SmokeRequest, SmokeResult
from .build_stream import ENGINE_LOST_FIX
from .docker_client import MANAGED
from .limits import ROOT_FALLBACK_CAPS, SMOKE_USER, WRITE_WATCH_S, parse_memory, smoke_kwargs
from .smoke_output import PERMISSION_ERROR, OutputCap, pump

LADDER_TIMEOUT_S = 120
#: How long the toy run may go: long enough to build a model and take training steps, short enough for every run.
TOY_RUN_TIMEOUT_S = 120


def lost_connection(exc: BaseException) -> bool:
    """Whether an exception from the SDK means the engine went away (not that it refused a request)."""
    import requests

    return isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.ChunkedEncodingError
                      | requests.exceptions.Timeout)


@contextlib.contextmanager
def engine_call(what: str) -> Iterator[None]:
    """Turn a broken connection to the engine into EngineLost, naming what was being done."""
    try:
        yield
    except Exception as exc:
        if lost_connection(exc):
            raise EngineLost(f"the connection to the Docker engine was lost {what} ({type(exc).__name__})",
                             ENGINE_LOST_FIX) from None
        raise


def smoke_run(client: Any, limits: DockerLimits, request: SmokeRequest, sink: EventSink,
              cancel: CancelToken) -> SmokeResult:
    """The smoke command, then the lower rungs of the ladder (quietly) to say how green the image is."""
    plan = request.plan
    with engine_call("before the smoke run"):
        gpu = plan.requires_gpu and "nvidia" in (client.info().get("Runtimes") or {})
    ran_on_cpu = plan.requires_gpu and not gpu
    if ran_on_cpu and not plan.cpu_fallback:
        return SmokeResult(ok=False, outcome="gpu-unavailable", error="the plan needs a GPU; the engine has none")
    started = time.monotonic()
    ran = run_container(client, limits, request.image_tag, None, request.timeout_s, request, sink, cancel, gpu)
    root_reason = None
    if not ran.alive and ran.code not in (0, None) and ran.permission_error and not ran.wrote_too_much:
        # Code that writes into /repo (root's, from COPY) or needs a root-only call fails as uid 10001: once more
        # as root, with a few capabilities only; the report says the result is root's.
        root_reason = (f"the smoke command exited {ran.code} as uid {SMOKE_USER} with a permission error "
                       f"(`{ran.permission_error[:120]}`)")
        sink.emit(Message(level="warning", text=f"{root_reason}: running it again as root with only "
                                                 f"{', '.join(ROOT_FALLBACK_CAPS)}"))
        started = time.monotonic()
        ran = run_container(client, limits, request.image_tag, None, request.timeout_s, request, sink, cancel, gpu,
                            as_root=True)
    as_root = root_reason is not None
    user = "root" if as_root else SMOKE_USER
    exit_code, alive = ran.code, ran.alive
    seconds = time.monotonic() - started
    outcome: Literal["exit-0", "alive-at-timeout"]
    if alive:
        outcome = "alive-at-timeout"
    elif exit_code == 0:
        outcome = "exit-0"
    else:
        # The rungs below the failed command still say how green the image is: the run's floor (pipeline.py).
        below = floor_results(client, limits, request, sink, cancel, gpu, exit_code, seconds, as_root)
        reached = [r.rung for r in below if r.counted]
        return SmokeResult(ok=False, outcome="failed", exit_code=exit_code, seconds=seconds, ran_on_cpu=ran_on_cpu,
                           error=ran.wrote_too_much or f"the smoke command exited with {exit_code}",
                           output_cut=ran.output_cut, rungs=below, user=user, root_reason=root_reason,
                           highest_rung=max(reached, key=SMOKE_RUNGS.index) if reached else None)
    rungs = ladder_results(client, limits, request, sink, cancel, gpu, outcome, exit_code, seconds, as_root)
    counted = [r.rung for r in rungs if r.counted]
    highest = max(counted, key=SMOKE_RUNGS.index) if counted else None
    return SmokeResult(ok=True, outcome=outcome, exit_code=None if alive else exit_code, seconds=seconds,
                       ran_on_cpu=ran_on_cpu, highest_rung=highest, rungs=rungs, output_cut=ran.output_cut,
                       user=user, root_reason=root_reason)


def smoke_rung(request: SmokeRequest) -> SmokeRung | None:
    """The ladder's rung the smoke command is (None: the command is on no rung of the ladder)."""
    return next((r for r in request.ladder if r.command == request.plan.smoke_command), None)


def floor_results(client: Any, limits: DockerLimits, request: SmokeRequest, sink: EventSink, cancel: CancelToken,
                  gpu: bool, smoke_exit: int | None, smoke_seconds: float, as_root: bool = False) -> list[RungResult]:
    """After the smoke command failed: the rungs below its own, quietly, then the failed rung itself. A smoke
    command on no rung of the ladder has nothing below it that is known to be lower."""
    top = smoke_rung(request)
    if top is None:
        return []
    lower = [r for r in request.ladder
             if SMOKE_RUNGS.index(r.rung) < SMOKE_RUNGS.index(top.rung) and r.command != top.command]
    out = _run_rungs(client, limits, request, sink, cancel, gpu, lower, as_root)
    if any(r.counted for r in out):
        sink.emit(Message(text="smoke ladder: the smoke command failed; the image still passes "
                               + ", ".join(r.rung for r in out if r.counted)))
    out.append(RungResult(rung=top.rung, command=top.command, exit_code=smoke_exit, outcome="failed",
                          seconds=round(smoke_seconds, 1), counted=False))
    return out


def ladder_results(client: Any, limits: DockerLimits, request: SmokeRequest, sink: EventSink, cancel: CancelToken,
                   gpu: bool, smoke_outcome: str, smoke_exit: int | None, smoke_seconds: float,
                   as_root: bool = False) -> list[RungResult]:
    """Every rung of the ladder, quietly; the smoke command's own rung takes the smoke run's result.

    A rung still running at its time limit counts only for the toy run (it ran that long without an error);
    a --help or a test suite that hangs has not passed. The toy run gets no network and no GPU, so it proves the
    code runs on the CPU with what the image holds."""
    plan = request.plan
    out: list[RungResult] = []
    for rung in request.ladder:
        if rung.command == plan.smoke_command:
            alive = smoke_outcome == "alive-at-timeout"
            out.append(RungResult(rung=rung.rung, command=rung.command, exit_code=smoke_exit,
                                  outcome="alive-at-timeout" if alive else "passed", seconds=round(smoke_seconds, 1),
                                  counted=True))
            continue
        out += _run_rungs(client, limits, request, sink, cancel, gpu, [rung], as_root)
    return out


def _run_rungs(client: Any, limits: DockerLimits, request: SmokeRequest, sink: EventSink, cancel: CancelToken,
               gpu: bool, rungs: list[SmokeRung], as_root: bool = False) -> list[RungResult]:
    """The rungs run as the same user as the smoke command's counted run (root only after its fallback)."""
    out = []
    for rung in rungs:
        toy = rung.rung == "toy-run"
        timeout = min(TOY_RUN_TIMEOUT_S if toy else LADDER_TIMEOUT_S, request.timeout_s)
        if toy:
            sink.emit(Message(text=f"smoke ladder: toy run on the CPU, no network, up to {timeout} s: `{rung.command[:80]}`"))
        started = time.monotonic()
        # The toy run (up to two minutes of the repository's own code) streams and is saved as toy_run_*.log; the
        # quick rungs only say how they exited.
        ran = run_container(client, limits, request.image_tag, rung.command, timeout, request, sink, cancel,
                            gpu and not toy, quiet=not toy, offline=toy, source="toy-run" if toy else "smoke",
                            as_root=as_root)
        rooted = as_root
        if not as_root and not ran.alive and ran.code not in (0, None) and ran.permission_error:
            sink.emit(Message(level="warning", text=f"smoke ladder: `{rung.command[:80]}` exited {ran.code} as uid "
                                                    f"{SMOKE_USER} with a permission error "
                                                    f"(`{ran.permission_error[:120]}`): again as root with only "
                                                    f"{', '.join(ROOT_FALLBACK_CAPS)}"))
            started, rooted = time.monotonic(), True
            ran = run_container(client, limits, request.image_tag, rung.command, timeout, request, sink, cancel,
                                gpu and not toy, quiet=not toy, offline=toy, source="toy-run" if toy else "smoke",
                                as_root=True)
        if toy:
            sink.emit(Message(text=f"smoke ladder: toy run {'still running' if ran.alive else f'exited {ran.code}'} "
                                   f"(attempts/{request.attempt:02d}/toy_run_*.log)"))
            if ran.output_cut:
                sink.emit(Message(level="warning", text=f"attempt {request.attempt}: {ran.output_cut}"))
        code, still = ran.code, ran.alive
        outcome: Literal["passed", "failed", "alive-at-timeout"] = (
            "alive-at-timeout" if still else "passed" if code == 0 else "failed")
        if still:
            sink.emit(Message(text=f"smoke ladder: `{rung.command[:80]}` still running after {timeout} s"
                                   + (" without an error: the toy run counts" if toy else ": not counted")))
        out.append(RungResult(rung=rung.rung, command=rung.command, outcome=outcome, exit_code=code,
                              seconds=round(time.monotonic() - started, 1), as_root=rooted,
                              counted=outcome == "passed" or (toy and still),
                              output=ran.output if outcome == "failed" else ""))
    return out


@dataclass
class Ran:
    """How one container ended: its exit code, or still alive at the timeout; and what the caps did."""

    code: int | None
    alive: bool
    output_cut: str | None = None
    wrote_too_much: str | None = None
    permission_error: str | None = None  # the first output line that reads like EACCES/EPERM
    #: A quiet run's last lines (stdout and stderr), kept for the diagnosis of a rung that failed.
    output: str = ""


def run_container(client: Any, limits: DockerLimits, image: str, command: str | None, timeout_s: int,
                  request: SmokeRequest, sink: EventSink, cancel: CancelToken, gpu: bool,
                  quiet: bool = False, offline: bool = False,
                  source: Literal["smoke", "toy-run"] = "smoke", as_root: bool = False) -> Ran:
    """Run one contained container (build/limits.py) and wait for it. The container is always removed.
    `offline`: no network whatever the request says, and CUDA hidden from the code. Its writable layer is measured
    every WRITE_WATCH_S; past limits.write_cap it is stopped and counted as failed. Unless `quiet`, its output
    streams as LogLine events of `source` (the recorder saves them in attempts/NN/)."""
    import docker

    kwargs: dict[str, Any] = {"labels": {**request.labels, **MANAGED}, "detach": True,
                              **smoke_kwargs(limits, network=request.network and not offline, as_root=as_root)}
    if offline:
        kwargs["environment"] = {**kwargs.get("environment", {}), "CUDA_VISIBLE_DEVICES": ""}
    if command is not None:
        kwargs["command"] = ["/bin/sh", "-c", command]
    if gpu:
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    with engine_call("creating the smoke container"):
        container = client.containers.create(image, **kwargs)
    readers: list[threading.Thread] = []
    cap = OutputCap(sink, request.attempt, source=source)
    ran = Ran(code=None, alive=False)
    try:
        with engine_call("starting the smoke container"):
            container.start()
        for stream_name in ("stdout", "stderr"):
            t = threading.Thread(target=pump, args=(container, stream_name, cap), daemon=True)
            t.start()
            readers.append(t)
        deadline = time.monotonic() + timeout_s
        next_measure = time.monotonic() + WRITE_WATCH_S
        while True:
            if cancel.wait(0.2):
                raise Cancelled(cancel.reason or "cancelled")
            with engine_call(f"during the smoke run (container {container.short_id} may still be running)"):
                container.reload()
            if container.status in ("exited", "dead"):
                ran.code = container.attrs.get("State", {}).get("ExitCode")
                for t in readers:
                    t.join(timeout=5)
                if quiet:
                    sink.emit(Message(text=f"smoke ladder: `{command[:80] if command else ''}` exited {ran.code}"))
                    if ran.code:
                        ran.output = _quiet_output(container)
                return ran
            if time.monotonic() > deadline:
                ran.alive = True
                return ran
            if time.monotonic() > next_measure:
                next_measure = time.monotonic() + WRITE_WATCH_S
                ran.wrote_too_much = _over_write_cap(client, container, parse_memory(limits.write_cap))
                if ran.wrote_too_much:
                    sink.emit(Message(level="warning", text=ran.wrote_too_much))
                    ran.code = -1
                    return ran
    finally:
        with contextlib.suppress(Exception):  # already gone
            container.remove(force=True)
        for t in readers:
            t.join(timeout=5)
        ran.output_cut = cap.finish()
        ran.permission_error = cap.permission_error or _permission_line(ran.output)  # quiet: its end, read at exit


def _permission_line(text: str) -> str | None:
    """The line of `text` that reads like EACCES/EPERM, if one does."""
    found = PERMISSION_ERROR.search(text)
    if found is None:
        return None
    end = text.find("\n", found.end())
    return text[text.rfind("\n", 0, found.start()) + 1:end if end >= 0 else len(text)].strip()[:200]


#: How much of a failed rung's output is kept: its end, where the error is.
RUNG_OUTPUT_LINES = 200
RUNG_OUTPUT_CHARS = 16_000


def _quiet_output(container: Any) -> str:
    """The end of a quiet container's output (its logs, read once it exited), for the diagnosis of the rung."""
    try:
        raw = container.logs(stdout=True, stderr=True, tail=RUNG_OUTPUT_LINES)
    except Exception:  # noqa: BLE001 - the output is a help to the diagnosis, never a reason to fail
        return ""
    return raw.decode("utf-8", errors="replace")[-RUNG_OUTPUT_CHARS:]


def _over_write_cap(client: Any, container: Any, cap: int) -> str | None:
    """The reason to stop the container when its writable layer is over the cap, else None."""
    with engine_call("measuring the smoke container's writes"):
        api = client.api  # the SDK's inspect_container cannot ask for the size
        info = api._result(api._get(api._url("/containers/{0}/json", container.id), params={"size": 1}), True)
        written = info.get("SizeRw") or 0
    if written <= cap:
        return None
    return (f"the smoke run wrote {written / 1e6:.0f} MB to the container's filesystem, over the cap of "
            f"{cap / 1e6:.0f} MB: stopped")
