"""Podman through its Docker-compatible API service (`podman system service`): the Docker executor's builds and
smoke runs, with buildah's progress format and its cache mounts.

The service is started by whoever runs the engine (see README: Engines); its socket is PAPER2RUN_PODMAN_HOST,
CONTAINER_HOST, or the rootful default. On machines where `podman run` trips over rlimits or crun, the service
needs a containers.conf with `default_ulimits = []` and `runtime = "runc"` (CONTAINERS_CONF).
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from ..build.progress import BUILDAH, ProgressParser
from ..errors import PreflightError
from .docker import DockerEngine

DEFAULT_PODMAN_SOCKET = "unix:///run/podman/podman.sock"


class PodmanEngine(DockerEngine):
    name: ClassVar[str] = "podman"
    progress: ClassVar[ProgressParser] = BUILDAH
    build_cgroup_parent: ClassVar[bool] = False
    no_cgroup_parent: ClassVar[str | None] = (
        "Podman's build API takes no pids parameter and no cgroup parent is made for it here; buildah's RUN steps "
        "are not containers the stream names: this tool sets no process limit on them (only what Podman's own "
        "configuration applies)")

    @classmethod
    def default_host(cls) -> str:
        return os.environ.get("PAPER2RUN_PODMAN_HOST") or os.environ.get("CONTAINER_HOST") or DEFAULT_PODMAN_SOCKET

    def builder_features(self) -> tuple[bool, bool]:
        return False, True  # buildah: no BuildKit, but RUN --mount=type=cache works

    @property
    def client(self) -> Any:
        try:
            return DockerEngine.client.fget(self)  # type: ignore[attr-defined]
        except PreflightError as err:
            raise PreflightError(f"no Podman API service answers at {self.endpoint}",
                                 f"start it: podman system service --time=0 {self.endpoint} "
                                 "(README: Engines), or set PAPER2RUN_PODMAN_HOST") from err
