"""Benchmark (not a test): acquire a local folder of 100,000 small files into a run folder.

Measures the wall time of `acquire_repo` on a plain folder (the filtered copy) and on the
same folder as a git checkout (copy plus the one-commit history), and the peak RSS growth.
The generation time is reported too: it is the floor set by the file system (the copy has
to create as many files as the generator did).

Writes benchmarks/results/acquire_copy.md. Run: .venv/bin/python benchmarks/bench_acquire_copy.py [files]
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from paper2run_tui.engine.acquire.repo import acquire_repo, parse_repo_spec
from paper2run_tui.engine.ports import CancelToken, ListSink

RESULTS = Path(__file__).parent / "results" / "acquire_copy.md"
PER_DIR = 500


def generate(root: Path, files: int) -> float:
    started = time.perf_counter()
    for d in range(-(-files // PER_DIR)):
        folder = root / f"pkg{d:04d}"
        folder.mkdir(parents=True)
        for f in range(min(PER_DIR, files - d * PER_DIR)):
            (folder / f"mod{f}.py").write_bytes(b"VALUE = 1\n")
    (root / "README.md").write_text("# bench\n")
    return time.perf_counter() - started


def measure(spec: str, dest: Path) -> tuple[float, float, int]:
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = base
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, proc.memory_info().rss)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    result = acquire_repo(parse_repo_spec(spec), dest, None, ListSink(), CancelToken())
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    return elapsed, (peak - base) / 2**20, result.files or 0


def main() -> None:
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory(prefix="bench-acquire-") as tmp:
        root = Path(tmp) / "src"
        gen_s = generate(root, files)
        plain_s, plain_mb, plain_n = measure(str(root), Path(tmp) / "plain")
        shutil.rmtree(Path(tmp) / "plain")
        env_git = ["git", "-C", str(root), "-c", "user.email=b@example.com", "-c", "user.name=b"]
        git_started = time.perf_counter()
        subprocess.run([*env_git, "init", "-q"], check=True)
        subprocess.run([*env_git, "add", "-A"], check=True)
        subprocess.run([*env_git, "commit", "-qm", "bench"], check=True)
        commit_s = time.perf_counter() - git_started
        git_s, git_mb, git_n = measure(str(root), Path(tmp) / "checkout")
    lines = [
        "# acquire: local folder copy",
        "",
        f"- machine: {platform.platform()}, {psutil.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- files: {files} small .py files in folders of {PER_DIR}",
        f"- generating them (the file-system floor): {gen_s:.1f} s",
        f"- plain folder: {plain_s:.1f} s for {plain_n} files ({plain_n / plain_s:,.0f} files/s), peak RSS +{plain_mb:.1f} MB",
        f"- git checkout (copy + one-commit history; `git commit` of the source took {commit_s:.1f} s): "
        f"{git_s:.1f} s for {git_n} files, peak RSS +{git_mb:.1f} MB",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
