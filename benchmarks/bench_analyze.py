"""Analyzer wall time and peak memory on a generated repository of 50,000 files (aim: under 2 s).

Run by hand: .venv/bin/python benchmarks/bench_analyze.py   -> benchmarks/results/analyze.md
"""

from __future__ import annotations

import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from paper2run_tui.engine.analyze import analyze_repo  # noqa: E402

FILES = 50_000
MODULES = ["numpy", "torch", "scipy", "yaml", "cv2", "sklearn", "os", "json", "pandas", "tqdm"]


def generate(root: Path, n: int) -> None:
    rng = random.Random(7)
    (root / "requirements.txt").write_text("numpy==1.26.4\ntorch>=2\n")
    (root / "README.md").write_text("# Big\n\n```\npip install -r requirements.txt\npython train.py --help\n```\n")
    for i in range(n - 2):
        d = root / f"pkg{i % 50:02d}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        if i % 3 == 0:
            (d / f"data{i}.txt").write_text("x " * rng.randint(10, 200))
        else:
            imports = "\n".join(f"import {m}" for m in rng.sample(MODULES, 3))
            (d / f"mod{i}.py").write_text(f"{imports}\n\ndef f{i}(x):\n    return x + {i}\n")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        generate(root, FILES)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        analyze_repo(root)  # cold-ish: files were just written, so mostly in the page cache anyway
        cold = time.perf_counter() - t0
        walls = []
        for _ in range(3):
            t0 = time.perf_counter()
            facts = analyze_repo(root)
            walls.append(time.perf_counter() - t0)
        wall = min(walls)
        load = os.getloadavg()[0]
        tracemalloc.start()  # memory in a separate run: tracemalloc slows allocation-heavy code several times
        analyze_repo(root)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [
        "# Analyzer benchmark",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit}, Python {sys.version.split()[0]}",
        f"- repository: {FILES} generated files (two thirds .py with imports, one third text), generated in {gen_s:.1f} s",
        f"- analyze_repo wall time: first run {cold:.2f} s, best of 3 warm runs **{wall:.2f} s** (aim: under 2 s;"
        f" {'met' if wall < 2 else 'not met'})",
        f"- peak Python memory (tracemalloc): **{peak / 1e6:.1f} MB**; process peak RSS (getrusage, whole script incl."
        f" generation): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3:.0f} MB",
        f"- machine: {os.cpu_count()} CPUs, load average {load:.2f} while measuring (other jobs share the CPUs;"
        " wall times scale with it)",
        f"- files seen {facts.files_seen}, truncated {facts.truncated}, imports found {len(facts.imports)}",
        "",
    ]
    out = Path(__file__).parent / "results" / "analyze.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
