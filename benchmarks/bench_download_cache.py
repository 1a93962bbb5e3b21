"""A three-attempt repair of a torch project, with and without the download cache, on each builder here.

The project: torch 1.12.1 + numpy on python:3.9-slim (torch's last x86_64 wheel on PyPI without separate CUDA
wheels: 776 MB). The three attempts are what a repair loop builds: the first plan; a repair that adds a package
(its pip step changes, so torch is installed again); a repair that adds a system package (the apt layer changes,
so every pip step after it runs again). Each condition starts cold: a unique first step after FROM (no layer from
an earlier build can be used) and an empty download cache.

    .venv/bin/python benchmarks/bench_download_cache.py [--only NAME ...]  -> benchmarks/results/download_cache.md

Conditions: Docker's classic builder (the shared engine) without the cache, with the host's cache server, and a
second run on the warm cache; BuildKit through Debian's docker.io CLI (/usr/bin/docker, 20.10, DOCKER_BUILDKIT=1)
with and without cache mounts, and with an apt cache mount and pip through the host's cache server (the wiring
DockerEngine gives an engine with mounts that reaches this host; pip's own cache in a mount keeps nothing when the
index's answers carry no cache headers, as through this machine's proxy); buildah (Podman's API service, started here) with and without cache mounts. The
images of each condition are removed after it, and so are the BuildKit cache records (layers, cache mounts) its
builds made on the shared engine (by their ids, never a prune of the engine's whole cache), and buildah's cache
mounts of this benchmark's ids. A condition does not start with less than MIN_FREE_GB free on the disk.

Each attempt's build log is read for what shows reuse: the host cache server's count of files it served from the
disk, pip's "Using cached" lines, whether torch's wheel was fetched ("Downloading torch"), and apt's "Get:" lines.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from paper2run_tui.engine.build import download_cache  # noqa: E402
from paper2run_tui.engine.build.base import BuildRequest  # noqa: E402
from paper2run_tui.engine.build.cache_wiring import mixed_wiring, mount_wiring  # noqa: E402
from paper2run_tui.engine.build.cleanup import cleanup  # noqa: E402
from paper2run_tui.engine.build.download_cache import describe_delta  # noqa: E402
from paper2run_tui.engine.contracts import EnvPlan  # noqa: E402
from paper2run_tui.engine.engines.docker import DockerEngine  # noqa: E402
from paper2run_tui.engine.engines.podman import PodmanEngine  # noqa: E402
from paper2run_tui.engine.ports import CancelToken, ListSink  # noqa: E402
from paper2run_tui.engine.render import render_dockerfile  # noqa: E402

CA = Path("/etc/ssl/certs/ca-certificates.crt")
BASE = "python:3.9-slim"
RUN_ID = "bench-download-cache"
OUT = ROOT / "benchmarks" / "results" / "download_cache.md"
RAW = ROOT / "benchmarks" / "results" / "download_cache.json"
MIN_FREE_GB = 15
BUILDKIT_CLI = "/usr/bin/docker"  # Debian's docker.io client: BuildKit built in (the newer CLI needs buildx)

PLANS = [
    ("first plan", EnvPlan(base_image=BASE, install_steps=["pip install torch==1.12.1 numpy==1.23.5"],
                           smoke_command="python train.py")),
    ("repair: a package added", EnvPlan(base_image=BASE,
                                        install_steps=["pip install torch==1.12.1 numpy==1.23.5 tqdm==4.66.4"],
                                        smoke_command="python train.py")),
    ("repair: a system package added", EnvPlan(base_image=BASE, system_packages=["libgomp1"],
                                               install_steps=["pip install torch==1.12.1 numpy==1.23.5 tqdm==4.66.4"],
                                               smoke_command="python train.py")),
]


def project() -> Path:
    repo = Path(tempfile.mkdtemp(prefix="p2r-bench-torch-"))
    (repo / "train.py").write_text("import torch, numpy\nprint(torch.__version__, torch.ones(2).sum().item())\n")
    return repo


def dockerfiles(repo: Path, bust: str) -> list[str]:
    out = []
    for _, plan in PLANS:
        text = render_dockerfile(plan, facts=None, repo_dir=repo, ca_bundle=True)
        out.append(text.replace("\nCOPY .paper2run/ca.crt", f"\nRUN echo {bust}\nCOPY .paper2run/ca.crt", 1))
    return out


def evidence(logs: list[str]) -> dict[str, Any]:
    """What the attempt's own build output says about reuse (the table's "seen" columns)."""
    return {"pip_fetched_torch": any("Downloading" in line and "torch-1.12.1" in line for line in logs),
            "pip_cached_torch": any("Using cached" in line and "torch-1.12.1" in line for line in logs),
            "pip_using_cached": sum("Using cached" in line for line in logs),
            "apt_get_lines": sum(1 for line in logs if "Get:" in line and " http" in line),
            "cache_line": next((line for line in logs if "file(s) from the cache" in line), "")}


def engine_build(engine: DockerEngine, repo: Path, texts: list[str], tag: str) -> list[dict[str, Any]]:
    rows = []
    for number, text in enumerate(texts, start=1):
        sink = ListSink()
        request = BuildRequest(attempt=number, context_dir=repo, dockerfile=text, tag=f"{tag}:{number}",
                               labels={"org.paper2run.run": RUN_ID}, extra_files={"ca.crt": CA.read_bytes()})
        t0 = time.monotonic()
        result = engine.build(request, sink, CancelToken())
        seconds = time.monotonic() - t0
        logs = [e.text for e in sink.events if e.kind == "log"]
        if not result.ok:
            raise SystemExit(f"{tag} attempt {number} failed: {result.error}\n" + "\n".join(logs[-20:]))
        seen = evidence(logs)
        used = seen["pip_using_cached"]
        rows.append({"attempt": number, "seconds": round(seconds, 1), "steps_cached": result.steps_cached,
                     "steps_total": result.steps_total, "seen": seen,
                     "cache": seen["cache_line"] or (f"pip 'Using cached': {used}" if used else "")})
        print(tag, rows[-1], flush=True)
    return rows


def buildkit_build(repo: Path, texts: list[str], tag: str, ident: str | None,
                   host_cache: Path | None = None) -> list[dict[str, Any]]:
    """BuildKit through the docker.io CLI; `ident`: cache mounts under that id; `host_cache`: pip through the host's
    cache server on the bridge gateway as well, apt with the mount (the wiring DockerEngine would give BuildKit)."""
    rows = []
    wiring, server = (mount_wiring(ident) if ident else None), None
    if ident and host_cache is not None:
        gateway = DockerEngine().bridge_gateway()
        if gateway is None:
            raise SystemExit("no bridge gateway on the shared engine for the host's cache server")
        server = download_cache.serve(host_cache, gateway)
        wiring = mixed_wiring(server.index_url, server.netloc, ident)
    for number, text in enumerate(texts, start=1):
        before = server.stats.snapshot() if server is not None else None
        context = Path(tempfile.mkdtemp(prefix="p2r-bench-bk-"))
        shutil.copytree(repo, context, dirs_exist_ok=True)
        (context / ".paper2run").mkdir()
        (context / ".paper2run" / "ca.crt").write_bytes(CA.read_bytes())
        (context / ".paper2run" / "Dockerfile").write_text(wiring.apply(text) if wiring else text)
        (context / ".dockerignore").write_text(".paper2run/Dockerfile\n")
        t0 = time.monotonic()
        done = subprocess.run([BUILDKIT_CLI, "build", "--progress=plain", "-f", ".paper2run/Dockerfile",
                               "--label", f"org.paper2run.run={RUN_ID}", "--label", "org.paper2run.managed=true",
                               "-t", f"{tag}:{number}", "."], cwd=context, env={**os.environ, "DOCKER_BUILDKIT": "1"},
                              capture_output=True, text=True, check=False)
        seconds = time.monotonic() - t0
        shutil.rmtree(context, ignore_errors=True)
        if done.returncode != 0:
            raise SystemExit(f"{tag} attempt {number} failed:\n{done.stderr[-3000:]}")
        logs = done.stderr.splitlines()
        if server is not None and before is not None:
            logs.append(describe_delta(before, server.stats.snapshot()))
        seen = evidence(logs)
        used = seen["pip_using_cached"]
        rows.append({"attempt": number, "seconds": round(seconds, 1), "steps_cached": done.stderr.count(" CACHED"),
                     "steps_total": None, "seen": seen,
                     "cache": seen["cache_line"] or (f"pip 'Using cached': {used}" if used else "")})
        print(tag, rows[-1], flush=True)
    return rows


@contextlib.contextmanager
def podman() -> Iterator[str]:
    from engine_daemons import PODMAN_CONF, podman_service

    folder = Path(tempfile.mkdtemp(prefix="p2r-bench-podman-"))
    (folder / "svc").mkdir()
    conf = folder / "containers.conf"
    conf.write_text(PODMAN_CONF)
    env = {**os.environ, "CONTAINERS_CONF": str(conf)}
    if subprocess.run(["podman", "image", "exists", f"docker.io/library/{BASE}"], env=env, check=False).returncode:
        saved = subprocess.run(["docker", "save", BASE], check=True, capture_output=True).stdout
        subprocess.run(["podman", "load", "-q"], input=saved, env=env, check=True, capture_output=True)
        subprocess.run(["podman", "tag", f"localhost/{BASE}", f"docker.io/library/{BASE}"], env=env, check=False)
    with podman_service(folder / "svc") as service:
        yield service.host


class BenchPodman(PodmanEngine):
    """Podman with cache mounts only, under ids of this benchmark's own (a cold cache, not the tool's shared one):
    the figure of buildah's cache mounts, not of the host's cache server the tool would also use for pip."""

    ident = "paper2run"

    def cache_wiring(self, sink: Any, host_cache: bool = True) -> Any:
        wiring, _ = super().cache_wiring(sink, host_cache=False)
        return (mount_wiring(self.ident), None) if wiring is not None else (None, None)


def buildkit_records() -> set[str]:
    """The ids of the shared engine's BuildKit cache records (its /system/df)."""
    return {record["ID"] for record in (DockerEngine().client.df().get("BuildCache") or [])}


def remove_buildkit_records(before: set[str]) -> int:
    """Prune, one id at a time, the BuildKit cache records that were not there before this condition (a parent
    goes only after its children, so again until a round removes none)."""
    removed = 0
    while True:
        left = buildkit_records() - before
        for ident in sorted(left):
            subprocess.run([BUILDKIT_CLI, "builder", "prune", "-f", "--filter", f"id={ident}"],
                           capture_output=True, text=True, check=False)
        gone = len(left - buildkit_records())
        removed += gone
        if not gone:
            return removed


def remove_buildah_mounts(ident: str) -> None:
    """buildah keeps `id=` cache mounts under /var/tmp (buildah-cache, or buildah-cache-<uid> rootless); this
    benchmark's ids only."""
    for root in {Path(tempfile.gettempdir()), Path("/var/tmp")}:
        for folder in [*root.glob("buildah-cache"), *root.glob(f"buildah-cache-{os.getuid()}")]:
            for mount in folder.iterdir():
                if ident in mount.name:
                    shutil.rmtree(mount, ignore_errors=True)


def free_gb() -> float:
    return shutil.disk_usage("/").free / 1e9


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    repo = project()
    results: dict[str, Any] = json.loads(RAW.read_text()) if RAW.is_file() and args.only else {}
    conditions: list[tuple[str, Callable[[], list[dict[str, Any]]]]] = []
    cache_root = Path(tempfile.mkdtemp(prefix="p2r-bench-dlcache-"))
    classic_cache = cache_root / "classic"

    def classic(cache: Path | None, bust: str) -> Callable[[], list[dict[str, Any]]]:
        return lambda: engine_build(DockerEngine(download_cache=cache), repo, dockerfiles(repo, bust),
                                    f"p2r-bench-dl/classic-{bust[:6]}")

    def podman_run(mounts: bool) -> list[dict[str, Any]]:
        with podman() as host:
            engine = BenchPodman(host=host, download_cache=cache_root / "podman" if mounts else None)
            engine.ident = f"p2r-bench-{uuid.uuid4().hex[:8]}"
            try:
                return engine_build(engine, repo, dockerfiles(repo, uuid.uuid4().hex),
                                    f"p2r-bench-dl/buildah-{'mounts' if mounts else 'none'}")
            finally:
                cleanup(engine.client, run_id=RUN_ID)
                remove_buildah_mounts(engine.ident)

    def buildkit(ident: str | None, host_cache: Path | None = None) -> Callable[[], list[dict[str, Any]]]:
        def run() -> list[dict[str, Any]]:
            before = buildkit_records()
            kind = "none" if not ident else "mixed" if host_cache else "mounts"
            try:
                return buildkit_build(repo, dockerfiles(repo, uuid.uuid4().hex), f"p2r-bench-dl/bk-{kind}", ident,
                                      host_cache)
            finally:
                cleanup(DockerEngine().client, run_id=RUN_ID)
                print("BuildKit records removed:", remove_buildkit_records(before), flush=True)
        return run

    conditions += [
        ("classic, no cache", classic(None, uuid.uuid4().hex)),
        ("classic, host cache server (cold)", classic(classic_cache, uuid.uuid4().hex)),
        ("buildkit, no cache mounts", buildkit(None)),
        ("buildkit, cache mounts (cold)", buildkit(f"p2r-bench-{uuid.uuid4().hex[:8]}")),
        ("buildkit, apt cache mount + pip through the host cache server (cold)",
         buildkit(f"p2r-bench-{uuid.uuid4().hex[:8]}", cache_root / "buildkit")),
        ("buildah, no cache mounts", lambda: podman_run(False)),
        ("buildah, cache mounts (cold)", lambda: podman_run(True)),
        ("classic, host cache server, a second run (warm)", classic(classic_cache, uuid.uuid4().hex)),
    ]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    dirty = bool(subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                 ":(exclude)benchmarks/results"], cwd=ROOT, capture_output=True, text=True).stdout.strip())
    for name, run in conditions:
        if args.only and not any(word in name for word in args.only):
            continue
        if free_gb() < MIN_FREE_GB:
            print(f"{name}: not run, {free_gb():.1f} GB free (< {MIN_FREE_GB})", flush=True)
            continue
        before, free_before = load(), round(free_gb(), 1)
        t0 = time.monotonic()
        try:
            rows = run()
        finally:
            docker = DockerEngine()
            cleanup(docker.client, run_id=RUN_ID)
        results[name] = {"rows": rows, "total": round(time.monotonic() - t0, 1), "load_before": before,
                         "free_gb_before": free_before,
                         "load_after": load(), "commit": commit + ("+dirty" if dirty else ""),
                         "date": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"}
        RAW.write_text(json.dumps(results, indent=1) + "\n")
        write_table(results)
    shutil.rmtree(cache_root, ignore_errors=True)
    shutil.rmtree(repo, ignore_errors=True)


def seen(row: dict[str, Any]) -> str:
    """One attempt's reuse, as its build log showed it."""
    data = row.get("seen")
    if not data:  # a row from before the log was read for it
        return row["cache"].replace("download cache: ", "") or "—"
    torch = ("torch: pip 'Using cached'" if data["pip_cached_torch"] else
             "torch: fetched by pip" if data["pip_fetched_torch"] else "torch: no pip line (layer cached)")
    parts = [torch]
    if data["cache_line"]:
        parts.append("host cache: " + data["cache_line"].replace("download cache: ", ""))
    parts.append(f"apt Get: lines {data['apt_get_lines']}")
    return ", ".join(parts)


def write_table(results: dict[str, Any]) -> None:
    lines = ["# Download cache: a three-attempt repair of a torch project", "",
             "Fixture: torch 1.12.1 + numpy 1.23.5 on python:3.9-slim (local stand-in), pip through the CA bundle; "
             "attempt 2 adds a package (its pip step runs again), attempt 3 adds a system package (the apt layer and "
             "every pip step after it run again). Each condition starts cold (a unique step after FROM, an empty "
             "cache). The machine has 2 cores shared with other sessions: the load average (1, 5, 15 min) before "
             "and after each condition is given. One run of each condition.", "",
             "| condition | attempt 1 s | attempt 2 s | attempt 3 s | total s | ratio to its builder without cache "
             "| load before / after | reuse seen in the build log (attempt 2; attempt 3) | commit, date |",
             "|---|---|---|---|---|---|---|---|---|"]
    baselines = {"classic": results.get("classic, no cache"), "buildkit": results.get("buildkit, no cache mounts"),
                 "buildah": results.get("buildah, no cache mounts")}
    for name, data in results.items():
        rows = data["rows"]
        base = baselines.get(name.split(",")[0])
        ratio = f"{sum(r['seconds'] for r in rows) / sum(r['seconds'] for r in base['rows']):.2f}" if base else "—"
        seconds = [f"{r['seconds']:.1f}" for r in rows]
        did = "; ".join(seen(r) for r in rows[1:])
        lines.append(f"| {name} | {' | '.join(seconds)} | {sum(r['seconds'] for r in rows):.1f} | {ratio} | "
                     f"{data['load_before']} / {data['load_after']} | {did} | {data['commit']}, {data['date']} |")
    lines += ["", "Method: `benchmarks/bench_download_cache.py` (raw figures in `download_cache.json`). Seconds are "
              "the build of each attempt as the engine reports it done; the classic rows go through "
              "`DockerEngine.build` (the host's cache server on the bridge gateway), the buildah rows through "
              "`PodmanEngine.build` (its API service, started by the benchmark) with cache mounts only (the tool "
              "would also send pip through the host's cache server there), the BuildKit rows through "
              "`DOCKER_BUILDKIT=1 /usr/bin/docker build` with the Dockerfile the engine would build with cache "
              "mounts (the tool does not build with BuildKit itself). \"torch: fetched by pip\" means pip printed "
              "a Downloading line for torch's wheel: from PyPI without the host cache, from the host's cache server "
              "with it (its count of files and MB served from the disk says which).", ""]
    OUT.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
