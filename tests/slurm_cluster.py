"""A one-node Slurm cluster (munged, slurmctld, slurmd) that a test starts in a folder of its own and stops by
its pid files: ports, state, spool, logs and the munge socket all live there, so nothing system-wide changes.
Recipe: shared docker-on-ci.md (Slurm 22.05 as root, proctrack/linuxproc, task/none, no accounting)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from engine_daemons import free_port, need_binary


def _need(binary: str) -> str:
    return need_binary(binary, "slurm-wlm munge")


def _stop(pidfile: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def slurm_cluster() -> Iterator[dict[str, str]]:
    """Yields the environment (SLURM_CONF) that points Slurm's commands at the cluster."""
    munged, slurmctld, slurmd = _need("munged"), _need("slurmctld"), _need("slurmd")
    _need("sbatch")
    # World-traversable (munged runs as the munge user); pytest's tmp_path is private to root.
    root = Path(tempfile.mkdtemp(prefix="p2r-slurm-"))
    root.chmod(0o755)
    munge_dir = root / "munge"
    munge_dir.mkdir()
    shutil.chown(munge_dir, "munge", "munge")
    for sub in ("state", "spool", "log"):
        (root / sub).mkdir()
    host = socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text("\n".join([
        f"ClusterName=p2r{os.getpid()}", f"SlurmctldHost={host}", f"SlurmctldPort={free_port()}",
        f"SlurmdPort={free_port()}", "SlurmUser=root", "AuthType=auth/munge",
        f"AuthInfo=socket={munge_dir / 'munge.socket'}", f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}", f"SlurmctldPidFile={root / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'slurmd.pid'}", f"SlurmctldLogFile={root / 'log/slurmctld.log'}",
        f"SlurmdLogFile={root / 'log/slurmd.log'}", "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none", "AccountingStorageType=accounting_storage/none",
        "SchedulerType=sched/backfill", "SelectType=select/cons_tres", "ReturnToService=2",
        f"NodeName={host} CPUs=2 State=UNKNOWN", f"PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n")
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        subprocess.run(["runuser", "-u", "munge", "--", munged, f"--socket={munge_dir / 'munge.socket'}",
                        f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={munge_dir / 'munged.log'}",
                        f"--seed-file={munge_dir / 'seed'}"], check=True, capture_output=True)
        subprocess.run([slurmctld], env=env, check=True, capture_output=True)
        subprocess.run([slurmd], env=env, check=True, capture_output=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout.strip()
            if state == "idle":
                break
            time.sleep(0.5)
        else:
            logs = "".join(p.read_text(errors="replace")[-800:] for p in (root / "log").glob("*.log"))
            pytest.fail(f"the test Slurm node did not become idle in 60 s (sinfo: {state!r}):\n{logs}", pytrace=False)
        yield env
    finally:
        _stop(root / "slurmd.pid")
        _stop(root / "slurmctld.pid")
        _stop(munge_dir / "munged.pid")
        shutil.rmtree(root, ignore_errors=True)
