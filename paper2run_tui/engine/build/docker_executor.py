"""The Executor on a real Docker engine: preflight, a streamed build, a contained smoke run.

The build uses the low-level API with a context tar we make ourselves (the repository, the rendered Dockerfile and
the CA bundle under .paper2run/), decoded line by line into events. Smoke containers run with limits, without host
mounts, privileges or the Docker socket, and are always removed.
"""

from __future__ import annotations

from typing import Any

from ..config import DockerLimits
from ..contracts import EnvPlan
from ..ports import CancelToken, EventSink
from .base import BuildRequest, BuildResult, PreflightReport, SmokeRequest, SmokeResult
from .build_stream import stream_build
from .context import build_context
from .docker_client import connect, engine_host
from .preflight import preflight
from .smoke_run import smoke_run

__all__ = ["DockerExecutor", "build_context"]


class DockerExecutor:
    """The Executor port on a Docker engine; the work is in preflight, build_stream and smoke_run."""

    def __init__(self, limits: DockerLimits | None = None, *, host: str | None = None) -> None:
        self.limits = limits or DockerLimits()
        self.host = host
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.host)
        return self._client

    def local_images(self) -> list[str]:
        return sorted({tag for image in self.client.images.list() for tag in image.tags})

    def pull_image(self, image: str, sink: EventSink, cancel: CancelToken) -> bool:
        """Pull an image a plan needs (the python:X.Y-slim its pins need); False when no registry gives it."""
        from ..errors import PreflightError
        from .preflight import ensure_image

        try:
            return ensure_image(self.client, image, sink, cancel)
        except PreflightError:
            return False

    def gpu_runtime(self) -> bool:
        """Whether the engine can give a container a GPU (the NVIDIA runtime is registered)."""
        return "nvidia" in (self.client.info().get("Runtimes") or {})

    def preflight(self, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
        return preflight(self.client, self.host or engine_host(), plan, sink, cancel)

    def build(self, request: BuildRequest, sink: EventSink, cancel: CancelToken) -> BuildResult:
        return stream_build(self.client, request, sink, cancel, limits=self.limits, endpoint=self.host or engine_host())

    def smoke(self, request: SmokeRequest, sink: EventSink, cancel: CancelToken) -> SmokeResult:
        return smoke_run(self.client, self.limits, request, sink, cancel)

    def remove_leftovers(self, run_id: str) -> list[str]:
        """The containers an earlier run left behind (its engine connection broke); resume calls it."""
        from .cleanup import remove_run_containers

        return remove_run_containers(self.client, run_id)
