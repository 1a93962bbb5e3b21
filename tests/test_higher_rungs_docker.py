"""Higher rungs are diagnosed and repaired like the smoke command: the tests rung fails above a passing entry point,
its own output is read (attempts/NN/rung_tests.log), and a repair aims at it with the entry point's image kept as
the floor. The real engine, the deterministic planner, the real rules."""

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

SETUP = "from setuptools import setup\nsetup(name='demo', version='0.1', packages=['demo'])\n"
CORE = "def add(a, b):\n    return a + b\n"
TRAIN = ("import argparse\nfrom demo.core import add\n\nif __name__ == '__main__':\n"
         "    argparse.ArgumentParser().parse_args()\n    print(add(1, 2))\n")


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return docker_or_fail()


def test_tests_that_need_an_undeclared_module_are_repaired_to_green_at_the_tests_rung(  # type: ignore[no-untyped-def]
        make_repo, tmp_path: Path, client) -> None:
    repo = make_repo({"setup.py": SETUP, "demo/__init__.py": "from .core import add\n", "demo/core.py": CORE,
                      "train.py": TRAIN,
                      "tests/test_core.py": "import six\nfrom demo.core import add\n\n\ndef test_add():\n"
                                            "    assert add(2, 3) == 5 and six.PY3\n"}, git=True, name="tests-rung")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=120, ca_cert=CA), ListSink())
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert outcome.status == "success", (outcome.reason, [a.diagnosis for a in meta.attempts])
    assert [a.outcome for a in meta.attempts] == ["smoke-ok", "smoke-ok"]
    first = {r.rung: r.outcome for r in meta.attempts[0].rungs}
    assert first["entrypoint-help"] == "passed" and first["tests"] == "failed"
    log = (outcome.run_dir / "attempts/01/rung_tests.log").read_text()  # type: ignore[operator]
    assert "No module named 'six'" in log
    assert meta.attempts[0].matched_rules[0] == "missing-module"
    assert "RUN pip install six" in (outcome.run_dir / "attempts/02/Dockerfile").read_text()  # type: ignore[operator]
    assert meta.highest_smoke_rung == "tests" and meta.floor is None


def test_tests_no_rule_can_repair_leave_the_run_green_at_the_entry_point(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"setup.py": SETUP, "demo/__init__.py": "from .core import add\n", "demo/core.py": CORE,
                      "train.py": TRAIN,
                      "tests/test_core.py": "from demo.core import add\n\n\ndef test_add():\n"
                                            "    raise RuntimeError('the reference output was never committed')\n"},
                     git=True, name="tests-floor")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=120, ca_cert=CA), ListSink())
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert outcome.status == "success", outcome.reason
    assert len(meta.attempts) == 1 and meta.highest_smoke_rung == "entrypoint-help"
    assert outcome.reason.startswith("green at entrypoint-help (attempt 1: `python train.py --help`); tests "
                                     "`timeout 600 python -m pytest -x -q` needs more: no known failure signature "
                                     "matched"), outcome.reason
    assert "the reference output was never committed" in outcome.reason
    assert meta.image_tag and client.images.get(meta.image_tag)
