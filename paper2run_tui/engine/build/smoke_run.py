"""The contained smoke run: limits, no host mounts, no privileges, no Docker socket; the container is always
removed."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator
from typing import Any, Literal

from ..config import DockerLimits
from ..contracts import SMOKE_RUNGS, LogLine, Message, RungResult
from ..errors import EngineLost
from ..ports import Cancelled, CancelToken, EventSink
from .base import SmokeRequest, SmokeResult
from .build_stream import ENGINE_LOST_FIX
from .docker_client import MANAGED

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


def parse_memory(text: str) -> int:
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", text.lower())
    if not m:
        raise ValueError(f"not a memory size: {text!r}")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


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
    exit_code, alive = run_container(client, limits, request.image_tag, None, request.timeout_s, request, sink, cancel, gpu)
    seconds = time.monotonic() - started
    outcome: Literal["exit-0", "alive-at-timeout"]
    if alive:
        outcome = "alive-at-timeout"
    elif exit_code == 0:
        outcome = "exit-0"
    else:
        return SmokeResult(ok=False, outcome="failed", exit_code=exit_code, seconds=seconds, ran_on_cpu=ran_on_cpu,
                           error=f"the smoke command exited with {exit_code}")
    rungs = ladder_results(client, limits, request, sink, cancel, gpu, outcome, exit_code, seconds)
    counted = [r.rung for r in rungs if r.counted]
    highest = max(counted, key=SMOKE_RUNGS.index) if counted else None
    return SmokeResult(ok=True, outcome=outcome, exit_code=None if alive else exit_code, seconds=seconds,
                       ran_on_cpu=ran_on_cpu, highest_rung=highest, rungs=rungs)


def ladder_results(client: Any, limits: DockerLimits, request: SmokeRequest, sink: EventSink, cancel: CancelToken,
                   gpu: bool, smoke_outcome: str, smoke_exit: int | None, smoke_seconds: float) -> list[RungResult]:
    """Every rung of the ladder, quietly; the smoke command's own rung takes the smoke run's result.

    A rung still running at its time limit counts only for the toy run (it ran that long without an error);
    a --help or a test suite that hangs has not passed. The toy run gets no network and no GPU, so it proves the
    code runs on the CPU with what the image holds."""
    plan = request.plan
    out = []
    for rung in request.ladder:
        if rung.command == plan.smoke_command:
            alive = smoke_outcome == "alive-at-timeout"
            out.append(RungResult(rung=rung.rung, command=rung.command, exit_code=smoke_exit,
                                  outcome="alive-at-timeout" if alive else "passed", seconds=round(smoke_seconds, 1),
                                  counted=True))
            continue
        toy = rung.rung == "toy-run"
        timeout = min(TOY_RUN_TIMEOUT_S if toy else LADDER_TIMEOUT_S, request.timeout_s)
        if toy:
            sink.emit(Message(text=f"smoke ladder: toy run on the CPU, no network, up to {timeout} s: `{rung.command[:80]}`"))
        started = time.monotonic()
        code, still = run_container(client, limits, request.image_tag, rung.command, timeout, request, sink, cancel,
                                    gpu and not toy, quiet=True, offline=toy)
        outcome: Literal["passed", "failed", "alive-at-timeout"] = (
            "alive-at-timeout" if still else "passed" if code == 0 else "failed")
        if still:
            sink.emit(Message(text=f"smoke ladder: `{rung.command[:80]}` still running after {timeout} s"
                                   + (" without an error: the toy run counts" if toy else ": not counted")))
        out.append(RungResult(rung=rung.rung, command=rung.command, outcome=outcome, exit_code=code,
                              seconds=round(time.monotonic() - started, 1),
                              counted=outcome == "passed" or (toy and still)))
    return out


def run_container(client: Any, limits: DockerLimits, image: str, command: str | None, timeout_s: int,
                  request: SmokeRequest, sink: EventSink, cancel: CancelToken, gpu: bool,
                  quiet: bool = False, offline: bool = False) -> tuple[int | None, bool]:
    """(exit code, still alive at the timeout). The container is always removed. `offline`: no network, and CUDA
    hidden from the code."""
    import docker

    kwargs: dict[str, Any] = {
        "labels": {**request.labels, **MANAGED}, "detach": True, "mem_limit": parse_memory(limits.memory),
        "nano_cpus": int(limits.cpus * 1e9), "pids_limit": limits.pids, "privileged": False,
        "security_opt": ["no-new-privileges"], "network_disabled": offline or not limits.network,
    }
    if offline:
        kwargs["environment"] = {"CUDA_VISIBLE_DEVICES": ""}
    if command is not None:
        kwargs["command"] = ["/bin/sh", "-c", command]
    if gpu:
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    with engine_call("creating the smoke container"):
        container = client.containers.create(image, **kwargs)
    readers: list[threading.Thread] = []
    try:
        with engine_call("starting the smoke container"):
            container.start()
        if not quiet:
            for stream_name in ("stdout", "stderr"):
                t = threading.Thread(target=_pump, args=(container, stream_name, request.attempt, sink), daemon=True)
                t.start()
                readers.append(t)
        deadline = time.monotonic() + timeout_s
        while True:
            if cancel.wait(0.2):
                raise Cancelled(cancel.reason or "cancelled")
            with engine_call(f"during the smoke run (container {container.short_id} may still be running)"):
                container.reload()
            if container.status in ("exited", "dead"):
                code = container.attrs.get("State", {}).get("ExitCode")
                for t in readers:
                    t.join(timeout=5)
                if quiet:
                    sink.emit(Message(text=f"smoke ladder: `{command[:80] if command else ''}` exited {code}"))
                return code, False
            if time.monotonic() > deadline:
                return None, True
    finally:
        with contextlib.suppress(Exception):  # already gone
            container.remove(force=True)

def _pump(container: Any, stream_name: str, attempt: int, sink: EventSink) -> None:
    try:
        buffer = ""
        for chunk in container.logs(stream=True, follow=True, stdout=stream_name == "stdout",
                                    stderr=stream_name == "stderr"):
            buffer += chunk.decode("utf-8", errors="replace")
            *lines, buffer = buffer.split("\n")
            for line in lines:
                sink.emit(LogLine(source="smoke", stream=stream_name, text=line.rstrip("\r"), attempt=attempt))  # type: ignore[arg-type]
        if buffer:
            sink.emit(LogLine(source="smoke", stream=stream_name, text=buffer, attempt=attempt))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - the container went away; its exit is handled by the caller
        return
