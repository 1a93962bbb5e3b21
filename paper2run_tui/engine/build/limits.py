"""The limits every container we start runs under, builds included, in the engine's own units.

Untrusted code runs in both: `pip install` executes a repository's setup.py during the build, and the smoke command
is the repository's code. So both get the memory limit with swap equal to it (no swap on top), the CPU quota and a
process limit; the smoke container is also cut off from the network, capability-free and capped in what it writes.
The run folder records what was applied (limits.json).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from ..config import DockerLimits

#: Size of the tmpfs mounted at /tmp in the smoke container.
SMOKE_TMPFS = "256m"
#: How often the writable layer's size is measured (each measure walks the layer; small layers are cheap).
WRITE_WATCH_S = 3.0
#: Output of one attempt's smoke run kept as log lines: the head up to this many bytes, then the last lines.
OUTPUT_HEAD_BYTES = 1024 * 1024
OUTPUT_TAIL_LINES = 200
#: The same for a build's output: more room (a real pip/apt install prints a few hundred KB), the same idea.
BUILD_OUTPUT_HEAD_BYTES = 2 * 1024 * 1024
BUILD_OUTPUT_TAIL_LINES = 400
CPU_PERIOD_US = 100_000
#: The smoke container's user: no account in the image, no capability, nothing of root's.
SMOKE_UID = 10001
SMOKE_USER = f"{SMOKE_UID}:{SMOKE_UID}"
#: The fallback when the code needs root (it writes into /repo, which COPY made root's): root, but only the
#: capabilities a program that runs as root ordinarily uses on its own files (no NET_*, SYS_*, MKNOD, ...).
ROOT_FALLBACK_CAPS = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "SETGID", "SETUID")


def parse_memory(text: str) -> int:
    """'4g' → bytes. Raises ValueError for anything that is not a size (so `--memory abc` fails at the start)."""
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", str(text).lower())
    if not m:
        raise ValueError(f"not a memory size: {text!r} (e.g. 512m, 4g)")
    value = int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))
    if value < 6 * 1024 * 1024:
        raise ValueError(f"{text!r} is below the engine's minimum of 6 MB")
    return value


class AppliedLimits(BaseModel):
    """What limits.json holds: the limits as the engine was asked to apply them."""

    memory_bytes: int
    memory_swap_bytes: int = Field(description="Equal to memory_bytes: no swap on top of the memory limit")
    cpus: float
    pids: int
    build_pids: str = Field(description="How the process limit reached the last build's steps (one line)")
    build_pids_mechanism: str = Field(default="", description="cgroup-parent (in place before the step's first "
                                      "process), update-api (best effort: set once the stream names the step), none")
    smoke_network: bool
    smoke_capabilities: str = "none (cap_drop ALL), no-new-privileges"
    smoke_user: str = Field(default=f"uid {SMOKE_USER}, HOME=/tmp; root with only {', '.join(ROOT_FALLBACK_CAPS)} "
                                    "when the smoke fails for a permission a non-root user lacks (the report says so)")
    smoke_tmpfs: str = f"/tmp, {SMOKE_TMPFS}"
    smoke_write_cap_bytes: int = Field(description="Most the smoke container may write to its writable layer")
    smoke_output_head_bytes: int = OUTPUT_HEAD_BYTES
    smoke_output_tail_lines: int = OUTPUT_TAIL_LINES
    build_output_head_bytes: int = BUILD_OUTPUT_HEAD_BYTES
    build_output_tail_lines: int = BUILD_OUTPUT_TAIL_LINES


def applied_limits(limits: DockerLimits, *, network: bool) -> AppliedLimits:
    memory = parse_memory(limits.memory)
    return AppliedLimits(
        memory_bytes=memory, memory_swap_bytes=memory, cpus=limits.cpus, pids=limits.pids,
        build_pids="no build yet: a cgroup parent with pids.max on an engine on this machine (cgroupfs driver), "
                   "else set on each RUN step's container once the engine names it (the build API has no pids "
                   "parameter)",
        smoke_network=network, smoke_write_cap_bytes=parse_memory(limits.write_cap),
    )


def build_params(limits: DockerLimits) -> dict[str, str]:
    """Query parameters of POST /build that bound every RUN step's container (classic builder)."""
    memory = parse_memory(limits.memory)
    return {"memory": str(memory), "memswap": str(memory), "cpuperiod": str(CPU_PERIOD_US),
            "cpuquota": str(int(limits.cpus * CPU_PERIOD_US))}


def smoke_kwargs(limits: DockerLimits, *, network: bool, as_root: bool = False) -> dict[str, Any]:
    """containers.create() arguments of a contained smoke container: an unprivileged uid with no capability (HOME
    on the /tmp tmpfs, the one place it can write), or `as_root`: uid 0 with ROOT_FALLBACK_CAPS only."""
    memory = parse_memory(limits.memory)
    return {
        "mem_limit": memory, "memswap_limit": memory, "nano_cpus": int(limits.cpus * 1e9),
        "pids_limit": limits.pids, "privileged": False, "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"], "network_disabled": not network,
        "tmpfs": {"/tmp": f"rw,nosuid,nodev,size={SMOKE_TMPFS},mode=1777"},
        **({"user": "0:0", "cap_add": list(ROOT_FALLBACK_CAPS)} if as_root
           else {"user": SMOKE_USER, "environment": {"HOME": "/tmp"}}),
    }
