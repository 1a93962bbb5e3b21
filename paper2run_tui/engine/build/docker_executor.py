"""The Executor on a real Docker engine: preflight, a streamed build, a contained smoke run.

The build uses the low-level API with a context tar we make ourselves (the repository, the rendered Dockerfile and
the CA bundle under .paper2run/), decoded line by line into events. Smoke containers run with limits, without host
mounts, privileges or the Docker socket, and are always removed.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import re
import shutil
import socket
import tarfile
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Literal

from ..config import DockerLimits
from ..contracts import BuildProgress, EnvPlan, LogLine, Message
from ..errors import PreflightError
from ..ports import Cancelled, CancelToken, EventSink
from .base import BuildRequest, BuildResult, PreflightReport, SmokeRequest, SmokeResult
from .docker_client import connect, engine_host, explain

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
MANAGED = {"org.paper2run.managed": "true"}
CONTEXT_SKIP = {".git", "__pycache__", ".mypy_cache", ".pytest_cache", ".ipynb_checkpoints"}
LADDER_TIMEOUT_S = 120
PULL_TIMEOUT_S = 60


def _parse_memory(text: str) -> int:
    m = re.match(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)b?\s*$", text.lower())
    if not m:
        raise ValueError(f"not a memory size: {text!r}")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


def build_context(request: BuildRequest) -> tempfile.SpooledTemporaryFile[bytes]:
    """A tar of the repository plus .paper2run/{Dockerfile, extra files}, and a .dockerignore that keeps the
    Dockerfile out of `COPY .` (so a Dockerfile change alone does not invalidate the source layer)."""
    spool: tempfile.SpooledTemporaryFile[bytes] = tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024)  # noqa: SIM115 - returned open
    root = request.context_dir
    ignore = ""
    with tarfile.open(fileobj=spool, mode="w") as tar:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in CONTEXT_SKIP)
            rel_dir = os.path.relpath(dirpath, root)
            for name in sorted(filenames):
                rel = name if rel_dir == "." else f"{rel_dir}/{name}"
                if rel == ".dockerignore":
                    ignore = Path(dirpath, name).read_text(errors="replace")
                    continue
                full = os.path.join(dirpath, name)
                info = tar.gettarinfo(full, arcname=rel)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0  # the cache keys on content, not timestamps
                if info.isreg():
                    with open(full, "rb") as fh:
                        tar.addfile(info, fh)
                elif info.issym():
                    tar.addfile(info)

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))

        add(".paper2run/Dockerfile", request.dockerfile.encode())
        for name, data in sorted(request.extra_files.items()):
            add(f".paper2run/{name}", data)
        add(".dockerignore", (ignore.rstrip("\n") + "\n.git\n.paper2run/Dockerfile\n").lstrip("\n").encode())
    spool.seek(0)
    return spool


def _abort(response: Any) -> None:
    """Shut the build connection's socket down (a plain close can wait on the reader), then close the response."""
    sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


def _read_json_lines(response: Any, out: queue.Queue[dict[str, Any] | None]) -> None:
    """Decode the engine's JSON-lines build stream into `out`; None marks the end (or a closed connection)."""
    import json as _json

    try:
        for raw in response.iter_lines():
            if raw:
                try:
                    out.put(_json.loads(raw))
                except ValueError:
                    out.put({"stream": raw.decode("utf-8", errors="replace")})
    except Exception:  # noqa: BLE001 - closed on cancel
        pass
    finally:
        out.put(None)


class DockerExecutor:
    def __init__(self, limits: DockerLimits | None = None, *, host: str | None = None) -> None:
        self.limits = limits or DockerLimits()
        self.host = host
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.host)
        return self._client

    def local_images(self) -> list[str]:
        return sorted({tag for image in self.client.images.list() for tag in image.tags})

    # --- preflight ------------------------------------------------------------------------------------------------

    def preflight(self, plan: EnvPlan, sink: EventSink, cancel: CancelToken) -> PreflightReport:
        host = self.host or engine_host()
        try:
            info = self.client.info()
            version = self.client.version().get("Version", "?")
        except PreflightError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise explain(exc, host) from None
        report = PreflightReport(engine_version=version)
        sink.emit(LogLine(source="preflight", text=f"Docker engine {version} at {host}"))
        root = info.get("DockerRootDir") or "/var/lib/docker"
        try:
            free = shutil.disk_usage(root).free / 1e9
            report.free_disk_gb = round(free, 1)
            if free < 5:
                report.warnings.append(f"only {free:.1f} GB free for Docker ({root}); large builds may fail")
        except OSError:
            pass
        report.gpu_runtime = "nvidia" in (info.get("Runtimes") or {})
        if plan.requires_gpu and not report.gpu_runtime:
            if not plan.cpu_fallback:
                raise PreflightError("the plan needs a GPU, and this Docker engine has no NVIDIA runtime",
                                     "install the NVIDIA Container Toolkit, or allow the CPU (cpu_fallback: true)")
            report.warnings.append("no NVIDIA runtime: the smoke run will use the CPU, as the plan allows")
        report.base_image_present = self._ensure_image(plan.base_image, sink, cancel)
        return report

    def _ensure_image(self, image: str, sink: EventSink, cancel: CancelToken) -> bool:
        import docker

        try:
            self.client.images.get(image)
            return True
        except docker.errors.ImageNotFound:
            pass
        sink.emit(LogLine(source="preflight", text=f"pulling {image}…"))
        # The pull runs in a thread so an unreachable or slow registry costs PULL_TIMEOUT_S, not the client's timeout.
        failure: list[str] = []

        def pull() -> None:
            try:
                self.client.api.pull(image)
            except Exception as exc:  # noqa: BLE001 - every kind of failure is reported the same way
                failure.append(str(exc)[:120])

        puller = threading.Thread(target=pull, daemon=True)
        puller.start()
        deadline = time.monotonic() + PULL_TIMEOUT_S
        while puller.is_alive() and time.monotonic() < deadline:
            if cancel.wait(0.2):
                raise Cancelled(cancel.reason or "cancelled")
        if puller.is_alive():
            failure.append(f"no answer within {PULL_TIMEOUT_S} s")
        if not failure:
            try:
                self.client.images.get(image)
                return True
            except docker.errors.ImageNotFound:
                failure.append("the pull ended without the image")
        raise PreflightError(
            f"the base image {image} is not present and cannot be pulled ({failure[0]})",
            f"pull or build it locally (docker pull {image}), or map another image with PAPER2RUN_BASE_IMAGE_MAP",
        )

    # --- build ------------------------------------------------------------------------------------------------------

    def build(self, request: BuildRequest, sink: EventSink, cancel: CancelToken) -> BuildResult:
        started = time.monotonic()
        context = build_context(request)
        labels = {**request.labels, **MANAGED}
        result = BuildResult(ok=False)
        current_step = ""
        step_no = 0
        errors: list[str] = []
        response = self._start_build(request, context, labels)
        chunks: queue.Queue[dict[str, Any] | None] = queue.Queue()
        reader = threading.Thread(target=_read_json_lines, args=(response, chunks), daemon=True)
        reader.start()
        try:
            while True:
                try:
                    chunk = chunks.get(timeout=0.2)
                except queue.Empty:
                    chunk = {}
                if cancel.cancelled:
                    raise Cancelled(cancel.reason or "cancelled")
                if time.monotonic() - started > request.timeout_s:
                    errors.append(f"the build took longer than {request.timeout_s} s")
                    break
                if chunk is None:
                    break
                if "stream" in chunk:
                    for line in _ANSI.sub("", chunk["stream"]).splitlines():
                        if not line.strip():
                            continue
                        sink.emit(LogLine(source="build", text=line, attempt=request.attempt))
                        m = _STEP.match(line)
                        if m:
                            step_no, current_step = int(m.group(1)), m.group(3)
                            result.steps_total = int(m.group(2))
                            sink.emit(BuildProgress(attempt=request.attempt, step=step_no, total=result.steps_total,
                                                    instruction=current_step))
                        elif line.strip() == "---> Using cache":
                            result.cached_steps.append(step_no)
                            sink.emit(BuildProgress(attempt=request.attempt, step=step_no, total=result.steps_total or 0,
                                                    instruction=current_step, cached=True))
                elif "error" in chunk or "errorDetail" in chunk:
                    text = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "")
                    errors.append(text.strip())
                    for line in text.splitlines():
                        sink.emit(LogLine(source="build", stream="stderr", text=line, attempt=request.attempt))
                elif "aux" in chunk and "ID" in chunk["aux"]:
                    result.image_id = chunk["aux"]["ID"]
        finally:
            # Closing the connection is what makes the engine abort a build in progress (cancel, timeout).
            _abort(response)
            context.close()
        result.seconds = time.monotonic() - started
        result.steps_cached = len(result.cached_steps)
        if errors:
            result.error = errors[-1]
            result.failing_step = current_step or None
            return result
        result.ok = True
        result.image_tag = request.tag
        return result

    def _start_build(self, request: BuildRequest, context: Any, labels: dict[str, str]) -> Any:
        """POST /build with our own context; the streamed response is ours to close (the SDK's generator hides it)."""
        import json as _json

        api = self.client.api
        params = {"t": request.tag, "dockerfile": ".paper2run/Dockerfile", "rm": "1", "forcerm": "1",
                  "labels": _json.dumps(labels)}
        if request.build_args:
            params["buildargs"] = _json.dumps(request.build_args)
        response = api.post(api._url("/build"), params=params, data=context, stream=True, timeout=None,
                            headers={"Content-Type": "application/tar"})
        if response.status_code >= 400:
            detail = response.text[:300]
            response.close()
            raise PreflightError(f"the engine refused the build ({response.status_code}): {detail}")
        return response

    # --- smoke ------------------------------------------------------------------------------------------------------

    def smoke(self, request: SmokeRequest, sink: EventSink, cancel: CancelToken) -> SmokeResult:
        plan = request.plan
        gpu = plan.requires_gpu and "nvidia" in (self.client.info().get("Runtimes") or {})
        ran_on_cpu = plan.requires_gpu and not gpu
        if ran_on_cpu and not plan.cpu_fallback:
            return SmokeResult(ok=False, outcome="gpu-unavailable", error="the plan needs a GPU; the engine has none")
        started = time.monotonic()
        exit_code, alive = self._run(request.image_tag, None, request.timeout_s, request, sink, cancel, gpu)
        seconds = time.monotonic() - started
        outcome: Literal["exit-0", "alive-at-timeout"]
        if alive:
            outcome = "alive-at-timeout"
        elif exit_code == 0:
            outcome = "exit-0"
        else:
            return SmokeResult(ok=False, outcome="failed", exit_code=exit_code, seconds=seconds, ran_on_cpu=ran_on_cpu,
                               error=f"the smoke command exited with {exit_code}")
        highest = None
        for rung in request.ladder:
            if rung.command == plan.smoke_command:
                highest = rung.rung
                continue
            code, still = self._run(request.image_tag, rung.command, min(LADDER_TIMEOUT_S, request.timeout_s), request,
                                    sink, cancel, gpu, quiet=True)
            if code == 0 or still:
                highest = rung.rung
        if highest is None and request.ladder:
            highest = next((r.rung for r in request.ladder if r.command == plan.smoke_command), None)
        return SmokeResult(ok=True, outcome=outcome, exit_code=None if alive else exit_code, seconds=seconds,
                           ran_on_cpu=ran_on_cpu, highest_rung=highest)

    def _run(self, image: str, command: str | None, timeout_s: int, request: SmokeRequest, sink: EventSink,
             cancel: CancelToken, gpu: bool, quiet: bool = False) -> tuple[int | None, bool]:
        """(exit code, still alive at the timeout). The container is always removed."""
        import docker

        kwargs: dict[str, Any] = {
            "labels": {**request.labels, **MANAGED}, "detach": True, "mem_limit": _parse_memory(self.limits.memory),
            "nano_cpus": int(self.limits.cpus * 1e9), "pids_limit": self.limits.pids, "privileged": False,
            "security_opt": ["no-new-privileges"], "network_disabled": not self.limits.network,
        }
        if command is not None:
            kwargs["command"] = ["/bin/sh", "-c", command]
        if gpu:
            kwargs["device_requests"] = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
        container = self.client.containers.create(image, **kwargs)
        readers: list[threading.Thread] = []
        try:
            container.start()
            if not quiet:
                for stream_name in ("stdout", "stderr"):
                    t = threading.Thread(target=self._pump, args=(container, stream_name, request.attempt, sink), daemon=True)
                    t.start()
                    readers.append(t)
            deadline = time.monotonic() + timeout_s
            while True:
                if cancel.wait(0.2):
                    raise Cancelled(cancel.reason or "cancelled")
                container.reload()
                if container.status in ("exited", "dead"):
                    code = container.attrs.get("State", {}).get("ExitCode")
                    for t in readers:
                        t.join(timeout=5)
                    if quiet:
                        sink.emit(Message(text=f"smoke ladder: `{command[:80] if command else ''}` exited {code}"))
                    return code, False
                if time.monotonic() > deadline:
                    return None, True
        finally:
            with contextlib.suppress(Exception):  # already gone
                container.remove(force=True)

    @staticmethod
    def _pump(container: Any, stream_name: str, attempt: int, sink: EventSink) -> None:
        try:
            buffer = ""
            for chunk in container.logs(stream=True, follow=True, stdout=stream_name == "stdout",
                                        stderr=stream_name == "stderr"):
                buffer += chunk.decode("utf-8", errors="replace")
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    sink.emit(LogLine(source="smoke", stream=stream_name, text=line.rstrip("\r"), attempt=attempt))  # type: ignore[arg-type]
            if buffer:
                sink.emit(LogLine(source="smoke", stream=stream_name, text=buffer, attempt=attempt))  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - the container went away; its exit is handled by the caller
            return
