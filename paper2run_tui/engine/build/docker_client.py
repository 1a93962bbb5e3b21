"""Connect to the Docker engine lazily, honouring DOCKER_HOST and the current docker context."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import PreflightError


def context_host(home: Path | None = None) -> str | None:
    """The endpoint of the current docker context (~/.docker/config.json currentContext), if any."""
    base = (home or Path.home()) / ".docker"
    try:
        current = json.loads((base / "config.json").read_text()).get("currentContext")
    except (OSError, ValueError):
        return None
    if not current or current == "default":
        return None
    for meta in (base / "contexts" / "meta").glob("*/meta.json"):
        try:
            data = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        if data.get("Name") == current:
            return data.get("Endpoints", {}).get("docker", {}).get("Host")
    return None


def engine_host() -> str:
    return os.environ.get("DOCKER_HOST") or context_host() or "unix:///var/run/docker.sock"


def explain(exc: BaseException, host: str) -> PreflightError:
    text = str(exc)
    if "Permission denied" in text or "PermissionError" in text:
        return PreflightError(f"permission denied on the Docker socket ({host})",
                              "add yourself to the docker group (sudo usermod -aG docker $USER) and log in again")
    return PreflightError(f"no Docker engine answers at {host}",
                          "start it (sudo systemctl start docker, or Docker Desktop) and check `docker info`")


def connect(host: str | None = None, timeout: int = 120) -> Any:
    """A docker.DockerClient that answered a ping, or PreflightError with the fix."""
    import docker

    host = host or engine_host()
    try:
        client = docker.DockerClient(base_url=host, timeout=timeout)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - docker raises many kinds for "not there"
        raise explain(exc, host) from None
    return client


#: The label on every image and container paper2run-tui makes: `cleanup` finds them by it.
MANAGED = {"org.paper2run.managed": "true"}
