"""The naive baseline of issue 17: what a person gets with no planner, no rules and no repair.

    .venv/bin/python benchmarks/baseline.py LIST [--tag TAG] [--image python:3.11-slim] [--timeout 120]
    .venv/bin/python benchmarks/baseline.py --beside PRODUCT.csv BASELINE.csv --title "..." --out TABLE.md

For each repository of LIST (local checkouts, one path a line, as for bench_reproduce.py):
1. a plain `python:3.11-slim` image with the host's CA bundle installed (as the product does, so PyPI is reachable
   behind a TLS-intercepting proxy), the repository copied to /repo;
2. `pip install -r requirements.txt` when the root has one, then `pip install .` when the root has a setup.py or an
   installable pyproject.toml (a [build-system], [project] or [tool.poetry] table) — nothing else (no environment.yml,
   no subfolder manifests, no pins changed, no Python chosen);
3. one smoke command: the first `python SCRIPT ...` / `python -m MODULE ...` / `pytest` line of the README whose
   script or module is in the checkout (placeholders like `<path>` are skipped), else `python -c "import PKG"` for the
   root package (or the first root module);
4. no repair: one build, one smoke run, one row.

Everything runs in containers (nothing of the repository runs on the host): the build under the memory/CPU limits
of the classic builder (`docker build --memory --memory-swap --cpu-quota`), the smoke run with the memory, CPU and
process limits, no network, no capabilities. A README command run for real (toy-run) still running at the timeout
counts as passing, and an import, `--help` or test run still running does not: the product's rules; the reason
column says which. Rows use bench_reproduce.py's columns and rung
names (mode "baseline"), so both fit one table; `--beside` writes that table. The images and intermediate layers a
row made are removed after it (only those: others share the engine).
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

FIELDS = ["repo", "mode", "commit", "status", "highest_rung", "attempts", "rules", "first_green_s", "build_s",
          "failure_class", "model_plan", "policy_refusals", "llm_calls", "reason"]
GREEN_RUNGS = ("import-package", "entrypoint-help", "tests", "toy-run")
CA_ENV_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "PIP_CERT")
README_NAMES = ("README.md", "README.rst", "README.markdown", "README.txt", "README")
SKIP_DIRS = {".git", "tests", "test", "docs", "doc", "examples", "scripts", "build", "dist", "benchmarks"}

PROMPT = re.compile(r"^\s*(?:[$>%!]\s*)?")
COMMAND = re.compile(
    r"^(?:cd\s+(?P<cd>[\w./-]+)\s*&&\s*)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*"
    r"(?:(?P<py>python3?(?:\.\d+)?)(?:\s+-u)?\s+(?:(?P<script>[\w./-]+\.py)|-m\s+(?P<module>[\w.]+))|(?P<pytest>pytest))\b")
NOT_SMOKE_MODULES = {"pip", "venv", "ensurepip", "torch.distributed.launch", "torch.distributed.run"}


@dataclass(frozen=True)
class Smoke:
    command: str
    rung: str
    source: str  # "readme" or "import"


# ---- pure parts: manifests, the README's command, the import fallback ----

def installable_pyproject(text: str) -> bool:
    """A pyproject.toml pip can install: it declares a build backend or project metadata (not a linter config only)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return "build-system" in data or "project" in data or "poetry" in data.get("tool", {})


def choose_manifests(root: Path) -> list[str]:
    """The pip commands of the naive install, in order: the root requirements.txt, then the project itself."""
    steps = []
    if (root / "requirements.txt").is_file():
        steps.append("pip install -r requirements.txt")
    pyproject = root / "pyproject.toml"
    if (root / "setup.py").is_file() or (pyproject.is_file() and installable_pyproject(pyproject.read_text(errors="replace"))):
        steps.append("pip install .")
    return steps


def readme_text(root: Path) -> str:
    for name in README_NAMES:
        if (root / name).is_file():
            return (root / name).read_text(errors="replace")
    for path in sorted(root.iterdir()):
        if path.is_file() and path.name.lower().startswith("readme"):
            return path.read_text(errors="replace")
    return ""


def _logical_lines(text: str) -> list[str]:
    """Lines with backslash continuations joined, shell prompts and notebook bangs stripped."""
    out: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        line = (pending + line.strip()).strip()
        pending = ""
        out.append(PROMPT.sub("", line.strip("`").strip(), count=1))
    return out


def _module_in_checkout(root: Path, module: str) -> bool:
    path = root.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__main__.py").is_file()


def readme_command(readme: str, root: Path) -> Smoke | None:
    """The first README line that runs a script or module of the checkout (or pytest), as typed; None if there is none.
    A line with a <placeholder> is skipped (the shell would read it as a redirection)."""
    for line in _logical_lines(readme):
        m = COMMAND.match(line)
        if not m or "<" in line or ">" in line:
            continue
        base = root / m["cd"] if m["cd"] else root
        if m["pytest"] or m["module"] == "pytest":
            return Smoke(line, "tests", "readme")
        if m["script"]:
            if m["script"] == "setup.py" or not (base / m["script"]).is_file():
                continue
        elif m["module"] and (m["module"] in NOT_SMOKE_MODULES or not _module_in_checkout(base, m["module"])):
            continue
        words = shlex.split(line, posix=True) if line.count('"') % 2 == 0 and line.count("'") % 2 == 0 else line.split()
        rung = "entrypoint-help" if {"--help", "-h"} & set(words) else "toy-run"
        return Smoke(line, rung, "readme")
    return None


def import_target(root: Path) -> str | None:
    """The root package to import (src/ layout too), else the first root module; setup.py and conftest.py are not."""
    for base in (root, root / "src"):
        if not base.is_dir():
            continue
        packages = sorted(p.name for p in base.iterdir()
                          if p.is_dir() and (p / "__init__.py").is_file() and p.name not in SKIP_DIRS
                          and p.name.isidentifier())
        if packages:
            return packages[0]
    modules = sorted(p.stem for p in root.glob("*.py") if p.stem not in ("setup", "conftest") and p.stem.isidentifier())
    return modules[0] if modules else None


def choose_smoke(root: Path) -> Smoke | None:
    found = readme_command(readme_text(root), root)
    if found:
        return found
    target = import_target(root)
    return Smoke(f'python -c "import {target}"', "import-package", "import") if target else None


def dockerfile(image: str, steps: list[str], ca: bool) -> str:
    lines = [f"FROM {image}"]
    if ca:
        lines += ["COPY ca.crt /usr/local/share/ca-certificates/baseline-ca.crt",
                  "RUN cat /usr/local/share/ca-certificates/baseline-ca.crt >> /etc/ssl/certs/ca-certificates.crt",
                  "ENV PIP_CERT=/usr/local/share/ca-certificates/baseline-ca.crt "
                  "SSL_CERT_FILE=/usr/local/share/ca-certificates/baseline-ca.crt "
                  "REQUESTS_CA_BUNDLE=/usr/local/share/ca-certificates/baseline-ca.crt"]
    lines += ["ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore",
              "COPY repo/ /repo", "WORKDIR /repo"]
    lines += [f"RUN {step}" for step in steps]
    return "\n".join(lines) + "\n"


def failure_class(log: str) -> str:
    """A coarse name for what went wrong, from the log's last lines (for the table only; nothing acts on it)."""
    tail = log[-6000:]
    for needle, name in (("ResolutionImpossible", "pip-resolution"), ("No matching distribution", "no-release"),
                         ("Failed building wheel", "build-wheel"), ("subprocess-exited-with-error", "pip-subprocess"),
                         ("MemoryError", "out-of-memory")):
        if needle in tail:
            return name
    errors = re.findall(r"^(\w+(?:Error|Exception|Exit))\b", tail, re.M)
    return errors[-1] if errors else ""


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def last_error_line(log: str) -> str:
    lines = [ln.strip() for ln in ANSI.sub("", log).splitlines()
             if ln.strip() and not ln.startswith(("The command '", "Removing intermediate", "DEPRECATED", " --->"))]
    for ln in reversed(lines):
        if re.match(r"^(ERROR|\w+(Error|Exception))\b", ln):
            return ln
    return lines[-1] if lines else ""


# ---- the impure part: build and smoke-run in containers ----

def ca_bundle(env: dict[str, str]) -> Path | None:
    for var in CA_ENV_VARS:
        value = env.get(var)
        if value and Path(value).is_file() and b"BEGIN CERTIFICATE" in Path(value).read_bytes()[: 1 << 20]:
            return Path(value)
    return None


def _run(cmd: list[str], timeout: float, env: dict[str, str] | None = None) -> tuple[int | None, str]:
    """rc (None at the timeout, the process killed) and the combined output."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            rc: int | None = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = None
        out.seek(0)
        return rc, out.read().decode(errors="replace")


def one(repo: Path, image: str, timeout: float, build_minutes: float, memory: str, cpus: float, pids: int,
        logs: Path | None = None) -> dict[str, str]:
    name = repo.name
    tag = f"p2r-baseline/{re.sub(r'[^a-z0-9._-]', '-', name.lower())}:{os.getpid()}"
    commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    row = {"repo": name, "mode": "baseline", "commit": commit[:10], "attempts": "1"}
    steps = choose_manifests(repo)
    smoke = choose_smoke(repo)
    if smoke is None:
        return row | {"status": "unsupported", "reason": "no README command and no Python module to import"}
    started = time.monotonic()
    quota = str(int(cpus * 100_000))
    with tempfile.TemporaryDirectory(prefix="p2r-baseline-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(repo, ctx / "repo", symlinks=True, ignore=shutil.ignore_patterns(".git"))
        bundle = ca_bundle(dict(os.environ))
        if bundle:
            shutil.copyfile(bundle, ctx / "ca.crt")
        (ctx / "Dockerfile").write_text(dockerfile(image, steps, bundle is not None))
        env = {**os.environ, "DOCKER_BUILDKIT": "0"}
        rc, log = _run(["docker", "build", "--force-rm", "--memory", memory, "--memory-swap", memory,
                        "--cpu-period", "100000", "--cpu-quota", quota, "-t", tag, str(ctx)], build_minutes * 60, env)
    build_s = time.monotonic() - started
    if logs:
        logs.mkdir(parents=True, exist_ok=True)
        (logs / f"{name}.build.log").write_text(log)
    layers = re.findall(r"^ ---> ([0-9a-f]{12})$", log, re.M)
    row["build_s"] = f"{build_s:.0f}"
    install = "; ".join(steps) or "nothing installed"
    try:
        if rc != 0:
            why = f"build over {build_minutes:.0f} min" if rc is None else last_error_line(log)
            return row | {"status": "build-failed", "failure_class": "timeout" if rc is None else failure_class(log),
                          "reason": f"{install} :: {why}"[:160]}
        cname = f"p2r-baseline-smoke-{os.getpid()}-{int(time.time())}"
        rc, out = _run(["docker", "run", "--name", cname, "--network", "none", "--memory", memory, "--memory-swap", memory,
                        f"--cpus={cpus}", "--pids-limit", str(pids), "--cap-drop", "ALL", "--security-opt",
                        "no-new-privileges", "-w", "/repo", tag, "sh", "-c", smoke.command], timeout + 30)
        subprocess.run(["docker", "rm", "-f", cname], capture_output=True)
        if logs:
            (logs / f"{name}.smoke.log").write_text(f"$ {smoke.command}\n{out}")
        if rc is None and smoke.rung == "toy-run":  # a toy run still going at its limit passes, as in the product
            return row | {"status": "success", "highest_rung": smoke.rung,
                          "first_green_s": f"{time.monotonic() - started:.0f}",
                          "reason": f"smoke still running at {timeout + 30:.0f}s (counts as passing): {smoke.command}"[:160]}
        if rc == 0:
            return row | {"status": "success", "highest_rung": smoke.rung,
                          "first_green_s": f"{time.monotonic() - started:.0f}", "reason": f"smoke: {smoke.command}"[:160]}
        if rc is None:  # an import, --help or test run that hangs does not pass (the product's rule too)
            return row | {"status": "smoke-failed", "failure_class": "timeout",
                          "reason": f"{smoke.command} :: still running at {timeout + 30:.0f}s"[:160]}
        return row | {"status": "smoke-failed", "failure_class": failure_class(out),
                      "reason": f"{smoke.command} :: {last_error_line(out)}"[:160]}
    finally:
        subprocess.run(["docker", "rmi", "-f", tag], capture_output=True)
        for layer in reversed(layers):  # the intermediate layers this build committed (a failed build leaves them)
            subprocess.run(["docker", "rmi", layer], capture_output=True)


# ---- tables ----

def green(row: dict[str, str]) -> bool:
    return row.get("status") == "success" and row.get("highest_rung") in GREEN_RUNGS


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=FIELDS)
        w.writeheader()
        w.writerows({k: r.get(k, "") for k in FIELDS} for r in rows)
    tmp.replace(path)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def beside(product: list[dict[str, str]], baseline: list[dict[str, str]], title: str) -> str:
    """One table: per repository, the product's row and the baseline's, and the repositories where the baseline is
    green and the product is not (which must not happen)."""
    base = {r["repo"]: r for r in baseline}
    prod = {r["repo"]: r for r in product if r.get("mode", "no model") == "no model"}
    names = [r["repo"] for r in product if r["repo"] in base] + [n for n in base if n not in prod]
    pg = sum(green(prod[n]) for n in names if n in prod)
    bg = sum(green(base[n]) for n in names if n in base)
    losses = [n for n in names if n in prod and n in base and green(base[n]) and not green(prod[n])]
    lines = [f"# {title}", "",
             f"Green at 'import the package' or higher: product {pg}/{len(names)}, naive baseline {bg}/{len(names)}.",
             f"Baseline green where the product is not: {', '.join(losses) if losses else 'none'}.", "",
             "| repo | commit | product status | product rung | attempts | rules | product reason | baseline status | "
             "baseline rung | baseline build s | baseline reason |", "|" + "---|" * 11]
    for n in names:
        p, b = prod.get(n, {}), base.get(n, {})
        cells = [n, p.get("commit") or b.get("commit", ""), p.get("status", "(not run)"), p.get("highest_rung", ""),
                 p.get("attempts", ""), p.get("rules", ""), p.get("reason", "")[:110], b.get("status", "(not run)"),
                 b.get("highest_rung", ""), b.get("build_s", ""), b.get("reason", "")[:110]]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("list", type=Path, nargs="?")
    ap.add_argument("--tag", default="baseline")
    ap.add_argument("--image", default="python:3.11-slim")
    ap.add_argument("--timeout", type=float, default=270, help="smoke timeout, s (plus 30 s for the container start)")
    ap.add_argument("--build-minutes", type=float, default=15)
    ap.add_argument("--memory", default="4g")
    ap.add_argument("--cpus", type=float, default=2)
    ap.add_argument("--pids", type=int, default=1024)
    ap.add_argument("--beside", nargs=2, type=Path, metavar=("PRODUCT_CSV", "BASELINE_CSV"))
    ap.add_argument("--title", default="Product and naive baseline")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--logs", type=Path, default=Path("benchmarks/work/baseline-logs"),
                    help="build and smoke logs go to LOGS/TAG/REPO.*.log (benchmarks/work is git-ignored)")
    args = ap.parse_args()
    if args.beside:
        text = beside(read_rows(args.beside[0]), read_rows(args.beside[1]), args.title)
        if args.out:
            args.out.write_text(text)
        print(text)
        return
    if args.list is None:
        sys.exit("give LIST (or --beside PRODUCT_CSV BASELINE_CSV)")
    repos = [Path(s.strip()) for s in args.list.read_text().splitlines() if s.strip() and not s.startswith("#")]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d") + f"-{args.tag}"
    results = Path(__file__).parent / "results"
    rows: list[dict[str, str]] = []
    for repo in repos:
        print(f"== {repo} (baseline)", flush=True)
        row = one(repo, args.image, args.timeout, args.build_minutes, args.memory, args.cpus, args.pids,
                  args.logs / args.tag)
        rows.append(row)
        print("   ", row, flush=True)
        write_rows(results / f"reproduce-{stamp}.csv", rows)
    n = sum(green(r) for r in rows)
    print(f"baseline green at import-package or higher: {n}/{len(rows)}")


if __name__ == "__main__":
    main()
