"""Preflight: can this engine build and run the plan at all? Fails before any build, with the fix."""

from __future__ import annotations

import shutil
import threading
import time
from typing import Any

from ..contracts import EnvPlan, LogLine
from ..errors import PreflightError
from ..ports import Cancelled, CancelToken, EventSink
from .base import PreflightReport
from .docker_client import explain

PULL_TIMEOUT_S = 60


def preflight(client: Any, host: str, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
    """Engine, disk, GPU runtime and base image, each failure with what to do about it."""
    try:
        info = client.info()
        version = client.version().get("Version", "?")
    except PreflightError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise explain(exc, host) from None
    report = PreflightReport(engine_version=version)
    sink.emit(LogLine(source="preflight", text=f"Docker engine {version} at {host}"))
    root = info.get("DockerRootDir") or "/var/lib/docker"
    try:
        free = shutil.disk_usage(root).free / 1e9
        report.free_disk_gb = round(free, 1)
        if free < 5:
            report.warnings.append(f"only {free:.1f} GB free for Docker ({root}); large builds may fail")
    except OSError:
        pass
    report.gpu_runtime = "nvidia" in (info.get("Runtimes") or {})
    if plan.requires_gpu and not report.gpu_runtime:
        if not plan.cpu_fallback:
            raise PreflightError("the plan needs a GPU, and this Docker engine has no NVIDIA runtime",
                                 "install the NVIDIA Container Toolkit, or allow the CPU (cpu_fallback: true)")
        report.warnings.append("no NVIDIA runtime: the smoke run will use the CPU, as the plan allows")
    report.base_image_present = ensure_image(client, plan.base_image, sink, cancel)
    return report

def ensure_image(client: Any, image: str, sink: EventSink, cancel: CancelToken) -> bool:
    import docker

    try:
        client.images.get(image)
        return True
    except docker.errors.ImageNotFound:
        pass
    except docker.errors.APIError as exc:  # e.g. "invalid reference format": no pull can help
        raise PreflightError(f"the base image {image!r} is not a usable image name ({exc.explanation or exc})",
                             "give an image name such as python:3.11-slim") from None
    sink.emit(LogLine(source="preflight", text=f"pulling {image}…"))
    # The pull runs in a thread so an unreachable or slow registry costs PULL_TIMEOUT_S, not the client's timeout.
    failure: list[str] = []

    def pull() -> None:
        try:
            client.api.pull(image)
        except Exception as exc:  # noqa: BLE001 - every kind of failure is reported the same way
            failure.append(str(exc)[:120])

    puller = threading.Thread(target=pull, daemon=True)
    puller.start()
    deadline = time.monotonic() + PULL_TIMEOUT_S
    while puller.is_alive() and time.monotonic() < deadline:
        if cancel.wait(0.2):
            raise Cancelled(cancel.reason or "cancelled")
    if puller.is_alive():
        failure.append(f"no answer within {PULL_TIMEOUT_S} s")
    if not failure:
        try:
            client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            failure.append("the pull ended without the image")
    raise PreflightError(
        f"the base image {image} is not present and cannot be pulled ({failure[0]})",
        f"pull or build it locally (docker pull {image}), or map another image with PAPER2RUN_BASE_IMAGE_MAP",
    )
