"""A full disk on the real engine: the kernel's own ENOSPC (a write to /dev/full, which always answers "No space left
on device") in the project's setup.py, which pip runs in its isolated build while installing the project. The run
stops at once on the disk, names what to free, and blames no package and no Python."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_support import docker_or_fail

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import ListSink
from paper2run_tui.engine.record.store import load_run

pytestmark = pytest.mark.docker
CA = Path("/etc/ssl/certs/ca-certificates.crt")

SETUP = ("from setuptools import setup\n\n"
         "with open('/dev/full', 'w') as sink:  # the build's scratch space is full\n"
         "    sink.write('x' * 65536)\n\n"
         "setup(name='fulldisk', version='0.1', packages=['fulldisk'], install_requires=['six'])\n")


def test_a_build_that_fills_the_disk_stops_on_the_disk_at_the_first_attempt(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docker_or_fail()
    repo = make_repo({"setup.py": SETUP, "fulldisk/__init__.py": "import six\nVERSION = six.__version__\n"},
                     git=True, name="fulldisk")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "stopped-by-rules", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["build-failed"]
    assert meta.attempts[0].matched_rules[0] == "disk-full"
    assert "pip install --no-deps -e ." in (meta.attempts[0].failing_step or "")
    assert outcome.reason.startswith("no space left on a device: the Docker engine's disk filled during the build"), \
        outcome.reason
    assert "paper2run-tui cleanup" in outcome.reason and "six" not in outcome.reason
