"""The contained smoke run: limits, no host mounts, no privileges, no Docker socket; the container is always
removed."""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import Any, Literal

from ..config import DockerLimits
from ..contracts import LogLine, Message
from ..ports import Cancelled, CancelToken, EventSink
from .base import SmokeRequest, SmokeResult
from .docker_client import MANAGED

LADDER_TIMEOUT_S = 120


def parse_memory(text: str) -> int:
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", text.lower())
    if not m:
        raise ValueError(f"not a memory size: {text!r}")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


def smoke_run(client: Any, limits: DockerLimits, request: SmokeRequest, sink: EventSink,
              cancel: CancelToken) -> SmokeResult:
    """The smoke command, then the lower rungs of the ladder (quietly) to say how green the image is."""
    plan = request.plan
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
    highest = None
    for rung in request.ladder:
        if rung.command == plan.smoke_command:
            highest = rung.rung
            continue
        code, still = run_container(client, limits, request.image_tag, rung.command, min(LADDER_TIMEOUT_S, request.timeout_s), request,
                                sink, cancel, gpu, quiet=True)
        if code == 0 or still:
            highest = rung.rung
    if highest is None and request.ladder:
        highest = next((r.rung for r in request.ladder if r.command == plan.smoke_command), None)
    return SmokeResult(ok=True, outcome=outcome, exit_code=None if alive else exit_code, seconds=seconds,
                       ran_on_cpu=ran_on_cpu, highest_rung=highest)

def run_container(client: Any, limits: DockerLimits, image: str, command: str | None, timeout_s: int,
                  request: SmokeRequest, sink: EventSink, cancel: CancelToken, gpu: bool,
                  quiet: bool = False) -> tuple[int | None, bool]:
    """(exit code, still alive at the timeout). The container is always removed."""
    import docker

    kwargs: dict[str, Any] = {
        "labels": {**request.labels, **MANAGED}, "detach": True, "mem_limit": parse_memory(limits.memory),
        "nano_cpus": int(limits.cpus * 1e9), "pids_limit": limits.pids, "privileged": False,
        "security_opt": ["no-new-privileges"], "network_disabled": not limits.network,
    }
    if command is not None:
        kwargs["command"] = ["/bin/sh", "-c", command]
    if gpu:
        kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    container = client.containers.create(image, **kwargs)
    readers: list[threading.Thread] = []
    try:
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
