"""A process limit that is in place before a build step's first process: a cgroup made here, the build's parent.

The build API has no pids parameter, and setting PidsLimit on a step's container once the stream names it races
with a step that forks at once. On an engine that runs on this machine with the cgroupfs driver, the build gets a
cgroup of its own with pids.max set (`cgroupparent`): every step container is created inside it, so the limit holds
from the step's first fork (the classic builder runs one step container at a time, so it is the step's limit).
Elsewhere (a remote engine, the systemd driver, no writable cgroup tree) the update-API watcher is all there is, and
the run folder says so.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

CGROUP_ROOT = Path("/sys/fs/cgroup")
PREFIX = "paper2run-build-"
#: A cgroup of ours whose process is gone is swept after this long (a live build of another pid namespace is
#: never that old: builds time out well before).
STALE_S = 6 * 3600

Mechanism = Literal["cgroup-parent", "update-api", "none"]


class BuildPidsLimit(BaseModel):
    """How a build's process limit reached its steps; recorded per attempt (metadata.json) and in limits.json."""

    mechanism: Mechanism
    detail: str = Field(description="Why this mechanism, in one line")
    cgroup: str | None = Field(default=None, description="The build's cgroup parent, when one was made")
    steps_seen_inside: int = Field(default=0, description="Step containers found inside the cgroup while running")

    def line(self) -> str:
        return f"{self.mechanism}: {self.detail}"


class BuildCgroup:
    """One build's cgroup: made before the build starts, removed (in every controller) once it ended."""

    def __init__(self, name: str, version: int, root: Path = CGROUP_ROOT) -> None:
        self.name, self.version, self.root = name, version, root

    @property
    def parent(self) -> str:
        """The value of the build API's `cgroupparent` (a cgroupfs path)."""
        return f"/{self.name}"

    @property
    def pids_dir(self) -> Path:
        return self.root / "pids" / self.name if self.version == 1 else self.root / self.name

    def holds(self, short_id: str) -> bool:
        """Whether the step container named `short_id` runs inside this cgroup (its own cgroup is a child)."""
        with contextlib.suppress(OSError):
            return any(child.name.startswith(short_id) for child in self.pids_dir.iterdir() if child.is_dir())
        return False

    def used(self) -> bool:
        """Whether the engine made step containers inside: runc creates our path in every other hierarchy (v1), or
        turns controllers on for the children (v2); we made only the pids one."""
        if self.version == 2:
            with contextlib.suppress(OSError):
                return bool((self.pids_dir / "cgroup.subtree_control").read_text().strip())
            return False
        return any(d.exists() for d in self._dirs() if d != self.pids_dir)

    def pids_max(self) -> str:
        return (self.pids_dir / "pids.max").read_text().strip()

    def remove(self, wait_s: float = 5.0) -> bool:
        """rmdir ours in every hierarchy (runc made it in each controller, not only pids), children first; the
        last step container's cgroup can outlive the build by a moment, hence the wait. True when all are gone."""
        deadline = time.monotonic() + wait_s
        while True:
            left = [d for d in self._dirs() if d.exists()]
            for d in left:
                _rmdir_tree(d)
            left = [d for d in left if d.exists()]
            if not left or time.monotonic() > deadline:
                return not left
            time.sleep(0.2)

    def _dirs(self) -> list[Path]:
        if self.version == 2:
            return [self.root / self.name]
        with contextlib.suppress(OSError):
            return [h / self.name for h in self.root.iterdir() if h.is_dir() and not h.is_symlink()]
        return [self.pids_dir]


def _rmdir_tree(path: Path) -> None:
    """rmdir a cgroup and its (empty) children; a cgroup with processes refuses (EBUSY) and is left."""
    with contextlib.suppress(OSError):
        for child in path.iterdir():
            if child.is_dir():
                _rmdir_tree(child)
    with contextlib.suppress(OSError):
        path.rmdir()


def _local_endpoint(endpoint: str) -> bool:
    return endpoint.startswith("unix://") or endpoint.startswith("npipe://")


def blocker(info: dict[str, Any], endpoint: str, root: Path = CGROUP_ROOT) -> str | None:
    """Why no cgroup parent can be made here for this engine, or None when one can (preflight says it too)."""
    if not _local_endpoint(endpoint):
        return f"the engine at {endpoint} is not on this machine: its cgroups are not ours to make"
    name = str(info.get("Name") or "")
    if name and name != socket.gethostname():
        return f"the engine reports host {name!r}, not this machine ({socket.gethostname()!r})"
    driver = str(info.get("CgroupDriver") or "")
    if driver != "cgroupfs":
        return (f"the engine uses the {driver or 'unknown'} cgroup driver; a cgroup parent is made here only for "
                "the cgroupfs driver")
    if _version(info) == 1:
        if not (root / "pids").is_dir():
            return f"no pids hierarchy at {root / 'pids'}"
        if not os.access(root / "pids", os.W_OK):
            return f"{root / 'pids'} is not writable by this user"
        return None
    try:
        if "pids" not in (root / "cgroup.controllers").read_text().split():
            return f"the pids controller is not available at {root}"
    except OSError as exc:
        return f"cannot read {root / 'cgroup.controllers'}: {exc.strerror or exc}"
    if not os.access(root, os.W_OK):
        return f"{root} is not writable by this user"
    return None


def _version(info: dict[str, Any]) -> int:
    return 2 if str(info.get("CgroupVersion") or "1") == "2" else 1


def make_build_cgroup(info: dict[str, Any], endpoint: str, pids: int,
                      root: Path = CGROUP_ROOT) -> tuple[BuildCgroup | None, str]:
    """A cgroup with pids.max = `pids` for one build, or None and why not (the watcher is the fallback)."""
    why = blocker(info, endpoint, root)
    if why is not None:
        return None, why
    version = _version(info)
    if version == 2:
        try:
            if "pids" not in (root / "cgroup.subtree_control").read_text().split():
                (root / "cgroup.subtree_control").write_text("+pids")
        except OSError as exc:
            return None, f"cannot enable the pids controller at {root}: {exc.strerror or exc}"
    sweep_stale(root, version)
    cgroup = BuildCgroup(f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:10]}", version, root)
    try:
        cgroup.pids_dir.mkdir()
        (cgroup.pids_dir / "pids.max").write_text(str(pids))
    except OSError as exc:
        cgroup.remove(wait_s=0)
        return None, f"cannot make a cgroup at {cgroup.pids_dir}: {exc.strerror or exc}"
    return cgroup, f"the build's steps run inside cgroup {cgroup.parent} (pids.max {pids}) from their first process"


def sweep_stale(root: Path = CGROUP_ROOT, version: int = 1) -> None:
    """Remove our build cgroups whose process is gone (it was killed before it could) and that are old enough to
    belong to no live build; a cgroup with processes is never removed (rmdir refuses)."""
    base = root / "pids" if version == 1 else root
    with contextlib.suppress(OSError):
        for path in base.glob(f"{PREFIX}*"):
            try:
                pid = int(path.name[len(PREFIX):].split("-")[0])
                age = time.time() - path.stat().st_mtime
            except (ValueError, OSError):
                continue
            if age > STALE_S and not _alive(pid):
                BuildCgroup(path.name, version, root).remove(wait_s=0)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
