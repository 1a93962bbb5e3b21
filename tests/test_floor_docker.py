"""The floor on the real engine: the deterministic planner, the real rules, real containers. The entry point fails
in a way no rule can repair; the package imports; the run is green at the import rung, with the image that
passed it."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_support import docker_or_fail, managed

from paper2run_tui.engine.config import RunConfig
from paper2run_tui.engine.pipeline import run_pipeline
from paper2run_tui.engine.ports import ListSink
from paper2run_tui.engine.record.store import load_run

pytestmark = pytest.mark.docker
CA = Path("/etc/ssl/certs/ca-certificates.crt")

TRAIN = ("import argparse\nimport driver\n\nif __name__ == '__main__':\n"
         "    argparse.ArgumentParser().parse_args()\n")


@pytest.fixture(scope="module")
def client():  # type: ignore[no-untyped-def]
    return docker_or_fail()


def test_an_entry_point_no_rule_can_fix_leaves_the_run_green_at_the_import_rung(make_repo, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                                 client) -> None:
    repo = make_repo({"demo/__init__.py": "from .core import add\n", "demo/core.py": "def add(a, b):\n    return a + b\n",
                      "driver.py": "raise RuntimeError('the flux capacitor driver is not loaded')\n",
                      "train.py": TRAIN}, git=True, name="floor-demo")
    sink = ListSink()
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, no_ca=True), sink)
    assert outcome.status == "success" and outcome.exit_code == 0, outcome.reason
    assert outcome.reason.startswith("green at import-package (attempt 1: `python -c \"import demo\"`); entry point "
                                     "`python train.py --help` needs more: no known failure signature matched: "
                                     "RuntimeError: the flux capacitor driver is not loaded"), outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert len(meta.attempts) == 1 and meta.highest_smoke_rung == "import-package"
    rungs = {r.rung: r.outcome for r in meta.attempts[0].rungs}
    assert rungs == {"import-package": "passed", "entrypoint-help": "failed"}
    assert meta.image_tag and client.images.get(meta.image_tag)
    # the image is the result: the package imports in it
    out = client.containers.run(meta.image_tag, ["python", "-c", "import demo; print(demo.add(2, 3))"], remove=True)
    assert out.strip() == b"5"
    containers, images = managed(client, outcome.run_dir.name)  # type: ignore[union-attr]
    assert containers == [] and len(images) == 1


def test_a_requirement_no_index_has_costs_one_rebuild_of_its_own_step(make_repo, tmp_path: Path, client) -> None:  # type: ignore[no-untyped-def]
    """The project's metadata installs first; the root requirements.txt adds to it, in its own step, and names a
    distribution no index has: pip's one answer (from versions: none) leaves it out, and the Python stays."""
    repo = make_repo({"setup.py": "from setuptools import setup\nsetup(name='demo', version='0.1', packages=['demo'], "
                                  "install_requires=['six'])\n",
                      "requirements.txt": "six\np2r-no-such-distribution-anywhere==1.0\n",
                      "demo/__init__.py": "import six\nVERSION = six.__version__\n"}, git=True, name="no-release")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    assert [a.outcome for a in meta.attempts] == ["build-failed", "smoke-ok"]
    first = (outcome.run_dir / "attempts/01/Dockerfile").read_text()  # type: ignore[operator]
    assert first.index("RUN pip install six") < first.index("RUN pip install -r requirements.txt")
    assert meta.attempts[0].diagnosis.startswith(  # type: ignore[union-attr]
        "p2r-no-such-distribution-anywhere has no release on the package index (pip found none, for any Python)")
    second = (outcome.run_dir / "attempts/02/Dockerfile").read_text()  # type: ignore[operator]
    assert "p2r[-_.]no[-_.]such" in second and "FROM python:3.11-slim" in second
    assert set(range(2, 6)) <= set(meta.attempts[1].cached_steps)  # the project's own layers were kept


def test_a_docstring_only_package_is_imported_through_its_code_and_the_repair_installs_only_what_failed(  # type: ignore[no-untyped-def]
        make_repo, tmp_path: Path, client) -> None:
    """`import demo` would pass in any image (its __init__.py is a docstring): the rung imports demo.core, which
    needs six, declared nowhere. The repair installs six alone: the lazy import of a distribution no index has
    (inside a function) is not installed with it, so it cannot sink the repair."""
    repo = make_repo({"setup.py": "from setuptools import setup\nsetup(name='demo', version='0.1', packages=['demo'])\n",
                      "demo/__init__.py": '"""The demo package."""\n',
                      "demo/core.py": "import six\n\n\ndef fast():\n    import p2r_no_such_module_anywhere\n"
                                      "    return p2r_no_such_module_anywhere\n"}, git=True, name="docstring-init")
    outcome = run_pipeline(RunConfig(repo=str(repo), out=tmp_path, timeout=60, ca_cert=CA), ListSink())
    assert outcome.status == "success", outcome.reason
    meta = load_run(outcome.run_dir).metadata  # type: ignore[arg-type]
    plan = (outcome.run_dir / "attempts/01/plan.json").read_text()  # type: ignore[operator]
    assert 'import demo.core' in plan
    assert [a.outcome for a in meta.attempts] == ["smoke-failed", "smoke-ok"]
    assert meta.attempts[0].matched_rules[0] == "missing-module"
    second = (outcome.run_dir / "attempts/02/Dockerfile").read_text()  # type: ignore[operator]
    assert "RUN pip install six" in second and "p2r" not in second.replace("paper2run", "")
    assert meta.highest_smoke_rung == "import-package"
