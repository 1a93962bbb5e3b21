"""The real Docker engine for tests: a test that needs it FAILS with a clear message when none answers."""

from __future__ import annotations

from typing import Any

import pytest

from paper2run_tui.engine.build.docker_client import connect, engine_host
from paper2run_tui.engine.errors import PreflightError

TEST_IMAGE = "python:3.11-slim"


def docker_or_fail() -> Any:
    try:
        client = connect(timeout=30)
    except PreflightError as err:
        pytest.fail(f"no Docker engine answers at {engine_host()} ({err}); run .ci/provision or start Docker",
                    pytrace=False)
    try:
        client.images.get(TEST_IMAGE)
    except Exception:  # noqa: BLE001
        pytest.fail(f"the base image {TEST_IMAGE} is missing; run .ci/provision (no registry is needed)", pytrace=False)
    return client


def managed(client: Any, run_id: str) -> tuple[list[Any], list[Any]]:
    labels = ["org.paper2run.managed=true", f"org.paper2run.run={run_id}"]
    return client.containers.list(all=True, filters={"label": labels}), client.images.list(filters={"label": labels})


def cgroup_parent_possible(client: Any) -> bool:
    """Whether this machine's engine takes a build cgroup made here (local socket, cgroupfs driver, writable tree):
    probed by making one and removing it."""
    from paper2run_tui.engine.build.build_cgroup import make_build_cgroup

    cgroup, _why = make_build_cgroup(client.info(), engine_host(), 64)
    if cgroup is None:
        return False
    assert cgroup.remove()
    return True
