"""Hostile or mistaken inputs end with one clear line and their documented exit code, never an internal error.

Each crash input of issue 14, through the real CLI (headless): a file name that is not UTF-8 and a path near
PATH_MAX (skipped with a reason; the dry run ends 0), `--memory abc` (exit 2 before anything starts), a base image
that does not exist (exit 3, or 10 when the plan policy refuses the name), a 1 MB markdown paper with 40k headings
(parsed in seconds, linear, and Ctrl-C ends it within 2 s with exit 130). The last one, rich markup in a diagnosis
reason shown by the TUI gate, is tests/test_tui_gate.py::test_markup_planted_in_a_diagnosis_reason_is_shown_as_text.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docker_support import docker_or_fail
from hostile_trees import plant_bad_name_and_deep_path

from paper2run_tui.engine.acquire.paper_structure import structure_paper
from paper2run_tui.engine.ports import Cancelled, CancelToken


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paper2run_tui", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


@pytest.mark.parametrize("memory", ["abc", "1k", "-4g"])
def test_a_memory_limit_that_is_not_a_size_is_refused_before_anything_starts(make_repo, tmp_path: Path,
                                                                              memory: str) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"demo/__init__.py": ""}, name="demo")
    done = _cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--headless", f"--memory={memory}")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0].startswith("error: --memory: ") and "Value error" not in lines[0], lines[0]
    assert lines[0].endswith("(e.g. 512m, 4g)") or "below the engine's minimum" in lines[0]
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.docker
@pytest.mark.parametrize("image", ["paper2run-absent/none:1", "Not/A/Valid:Name"])
def test_a_base_image_that_does_not_exist_is_a_preflight_failure(make_repo, tmp_path: Path, image: str) -> None:  # type: ignore[no-untyped-def]
    docker_or_fail()
    repo = make_repo({"demo/__init__.py": ""}, name="demo")
    done = _cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--headless", "--no-ca",
                "--allow-base-image", image, env={"PAPER2RUN_BASE_IMAGE_MAP": f"3.11={image},3.13={image},3.9={image}"})
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert done.returncode in (3, 10), done.stdout[-2000:]  # preflight failed, or the plan policy refused the name
    assert last.startswith("run finished: ") and ("preflight-failed" in last or "refused-by-plan-policy" in last)


def test_a_memory_limit_from_the_environment_names_where_it_came_from(make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"demo/__init__.py": ""}, name="demo")
    done = _cli("run", "--repo", str(repo), "--out", str(tmp_path / "runs"), "--headless",
                env={"PAPER2RUN_MEMORY": "abc"})
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: --memory (from environment PAPER2RUN_MEMORY): not a memory size: 'abc' "
                                   "(e.g. 512m, 4g)")


def test_a_name_that_is_not_utf8_and_a_path_near_path_max_are_skipped_and_the_run_goes_on(make_repo,
                                                                                          tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo({"demo/__init__.py": "X = 1\n"}, name="hostile")
    plant_bad_name_and_deep_path(repo)
    out = tmp_path / ("p" * 200) / "runs"
    done = _cli("run", "--repo", str(repo), "--out", str(out), "--headless", "--dry-run", "--no-ca")
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]  # a dry run: 0
    assert done.stdout.strip().splitlines()[-1].startswith("run finished: dry-run")
    run_dir = next(out.iterdir())
    skipped = json.loads((run_dir / "repo.json").read_text())["skipped"]
    assert any("bad\\xff name.py (its name is not UTF-8)" in s for s in skipped), skipped
    assert any("path too long for the run folder" in s for s in skipped), skipped
    assert json.loads((run_dir / "repo_facts.json").read_text())  # UTF-8 JSON, written


def _headings(n: int) -> str:
    return "".join(f"## {i}. Heading number {i}\nSome text of section {i}.\n" for i in range(1, n + 1))


def test_a_1mb_markdown_paper_with_40k_headings_is_parsed_linearly_and_ctrl_c_stops_it(make_repo,
                                                                                       tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    big = _headings(40_000)
    assert len(big) > 1_000_000
    timings = {}
    for n in (10_000, 40_000):
        text = _headings(n)
        started = time.perf_counter()
        structure_paper(text, "markdown", CancelToken())
        timings[n] = time.perf_counter() - started
    # linear: four times the input takes about four times as long (quadratic would be sixteen)
    assert timings[40_000] < 8 * timings[10_000] + 0.5, timings
    paper = tmp_path / "paper.md"
    paper.write_text(big)
    repo = make_repo({"demo/__init__.py": ""}, name="demo")
    args = [sys.executable, "-m", "paper2run_tui", "run", "--repo", str(repo), "--paper", str(paper), "--out",
            str(tmp_path / "runs"), "--headless", "--dry-run", "--no-ca"]
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert time.monotonic() - started < 120
    # Ctrl-C while the paper is parsed (4 MB of headings: seconds of work): the run ends interrupted (exit 130)
    # within 2 s of the signal
    paper.write_text(big * 4)
    proc = subprocess.Popen([*args[:-4], str(tmp_path / "runs2"), "--headless", "--dry-run", "--no-ca"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("phase acquire: paper"):
            break
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    signalled = time.monotonic()
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - signalled < 2.0 + 1.0, "Ctrl-C was not answered in time"  # 1 s of interpreter exit
    assert proc.returncode == 130, (out[-1500:], err[-1500:])
    assert "Traceback" not in err and "paper:" not in out  # stopped before the paper was done
    assert out.strip().splitlines()[-1].startswith("run finished: interrupted")


def test_parsing_a_huge_paper_answers_a_cancel_within_a_fraction_of_a_second() -> None:
    import threading

    token = CancelToken()
    text = _headings(40_000) * 4  # 4 MB: several seconds of work if it were not cancelled
    threading.Timer(0.2, token.cancel, args=("stop",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        structure_paper(text, "markdown", token)
    assert time.monotonic() - started < 2.0
