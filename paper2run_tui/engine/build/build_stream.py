"""The streamed build: our own POST /build, decoded line by line into log and progress events."""

from __future__ import annotations

import contextlib
import json
import queue
import re
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ..config import DockerLimits
from ..contracts import BuildProgress
from ..errors import EngineLost, PreflightError
from ..ports import Cancelled, CancelToken, EventSink
from .base import BuildRequest, BuildResult
from .build_cgroup import BuildCgroup, BuildPidsLimit, make_build_cgroup
from .context import build_context
from .docker_client import MANAGED
from .limits import BUILD_OUTPUT_HEAD_BYTES, BUILD_OUTPUT_TAIL_LINES, build_params
from .progress import DOCKER_CLASSIC, CacheHit, ProgressParser, StepSeen
from .smoke_output import MAX_LINE_CHARS, OutputCap

ENGINE_LOST_FIX = "check the engine (`docker info`), then resume the run from its last attempt"
_LAYER = re.compile(r"^ ---> ([0-9a-f]{12,64})\s*$")
_RUNNING_IN = re.compile(r"^ ---> Running in ([0-9a-f]{12,64})\s*$")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _abort(response: Any) -> None:
    """Shut the build connection's socket down (a plain close can wait on the reader), then close the response."""
    sock = getattr(getattr(response.raw, "_connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        response.close()


#: Put in the chunk queue when reading the stream failed (the connection broke), before the closing None.
_BROKEN: dict[str, Any] = {"broken": True}


def _read_json_lines(response: Any, out: queue.Queue[dict[str, Any] | None]) -> None:
    """Decode the engine's JSON-lines build stream into `out`; None marks the end, preceded by _BROKEN when the
    connection broke (after a cancel that is expected; otherwise the engine was lost)."""
    try:
        for raw in response.iter_lines():
            if raw:
                try:
                    out.put(json.loads(raw))
                except ValueError:
                    out.put({"stream": raw.decode("utf-8", errors="replace")})
    except Exception:  # noqa: BLE001 - closed on cancel, or the engine went away
        out.put(_BROKEN)
    finally:
        out.put(None)


def stream_build(client: Any, request: BuildRequest, sink: EventSink, cancel: CancelToken,
                 parser: ProgressParser = DOCKER_CLASSIC, limits: DockerLimits | None = None,
                 original: Callable[[str], str] | None = None, endpoint: str | None = None,
                 no_cgroup_why: str | None = None) -> BuildResult:
    """Build from our own context, every log line an event; on cancel or timeout the connection is shut, which is
    what makes the engine abort the step in progress. Every RUN step runs under `limits`: memory, swap and CPU
    through the build API; the process limit through a cgroup parent made here when the engine at `endpoint` runs
    on this machine (in place before the step's first process), and set on the step's container as soon as the
    stream names it either way (the only mechanism for a remote engine, and a race with a step that forks at once).
    `original` maps an instruction of the text that was built back to the Dockerfile's own (the download cache's
    wiring taken off), for the step headers in the log, the progress events and the failing step."""
    started = time.monotonic()
    context = build_context(request)
    labels = {**request.labels, **MANAGED}
    result = BuildResult(ok=False)
    current_step = ""
    step_no = 0
    errors: list[str] = []
    broken = False
    pending = ""  # the start of a line whose end has not come yet
    # Every line is parsed (steps, cache hits, step containers); only the head and the tail become events.
    cap = OutputCap(sink, request.attempt, BUILD_OUTPUT_HEAD_BYTES, BUILD_OUTPUT_TAIL_LINES, source="build")
    cgroup, pids_why = _build_cgroup(client, endpoint, limits, no_cgroup_why)
    # An engine that says no cgroup parent applies to it (no_cgroup_why: Podman) has no watcher either.
    result.pids_limit = (None if limits is None else BuildPidsLimit(mechanism="none", detail=pids_why)
                         if no_cgroup_why and endpoint is None
                         else BuildPidsLimit(mechanism="update-api", detail=f"best effort: {pids_why}"))
    step_containers = 0  # RUN steps whose container the stream named
    from_cache = False  # the current step came from the cache: its layer is not this build's
    run_steps = 0  # RUN steps that ran (not from the cache)
    try:
        response = start_build(client, request, context, labels, limits,
                               cgroup_parent=cgroup.parent if cgroup is not None else None)
    except PreflightError:
        context.close()
        _end_cgroup(cgroup, result, 0, 0, pids_why)
        raise
    except Exception as exc:  # noqa: BLE001 - requests/urllib3 raise many kinds for a connection that went away
        context.close()
        _end_cgroup(cgroup, result, 0, 0, pids_why)
        raise EngineLost(f"the Docker engine stopped answering when the build of attempt {request.attempt} "
                         f"started ({type(exc).__name__})", ENGINE_LOST_FIX) from None
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
            if chunk is None or (chunk is not _BROKEN and pending and "stream" not in chunk):
                if pending.strip():
                    cap.line("stdout", _ANSI.sub("", pending))
                pending = ""
            if chunk is None:
                break
            if chunk is _BROKEN:
                broken = True
                continue
            if "stream" in chunk:
                # The engine splits its output into chunks anywhere, mid-line included: a line is whole at its end.
                pieces = (pending + chunk["stream"]).splitlines(keepends=True)
                pending = pieces.pop() if pieces and not pieces[-1].endswith(("\n", "\r")) else ""
                if len(pending) > MAX_LINE_CHARS:
                    pieces.append(pending)
                    pending = ""
                for line in (_ANSI.sub("", piece).rstrip("\r\n") for piece in pieces):
                    if not line.strip():
                        continue
                    seen = parser.parse(line)
                    if isinstance(seen, StepSeen) and original is not None:
                        wired = seen.instruction
                        seen = StepSeen(seen.step, seen.total, original(wired))
                        line = line.replace(wired, seen.instruction)
                    for start in range(0, len(line), MAX_LINE_CHARS):
                        cap.line("stdout", line[start:start + MAX_LINE_CHARS])
                    running = _RUNNING_IN.match(line)
                    if running and limits is not None:
                        # Only a RUN step's container is started (the classic builder commits ENV, CMD, ... from
                        # containers that never run), so only those prove the cgroup was or was not used.
                        step_containers += _is_run(current_step)
                        if cgroup is not None and cgroup.holds(running.group(1)) and result.pids_limit:
                            result.pids_limit.steps_seen_inside += 1
                        limit_step_pids(client, running.group(1), limits.pids)
                    if running:
                        result.intermediates.append(running.group(1))
                    elif (layer := _LAYER.match(line)) and not (from_cache or _is_from(current_step)):
                        # a layer this build committed: not the FROM image, not a cache hit (someone else's)
                        result.intermediates.append(layer.group(1))
                    if isinstance(seen, StepSeen):
                        step_no, current_step, from_cache = seen.step, seen.instruction, False
                        run_steps += _is_run(current_step)
                        result.steps_total = seen.total
                        sink.emit(BuildProgress(attempt=request.attempt, step=step_no, total=result.steps_total,
                                                instruction=current_step))
                    elif isinstance(seen, CacheHit):
                        from_cache = True
                        run_steps -= _is_run(current_step)
                        result.cached_steps.append(step_no)
                        sink.emit(BuildProgress(attempt=request.attempt, step=step_no, total=result.steps_total or 0,
                                                instruction=current_step, cached=True))
            elif "error" in chunk or "errorDetail" in chunk:
                text = chunk.get("error") or chunk.get("errorDetail", {}).get("message", "")
                errors.append(text.strip())
                for line in text.splitlines():
                    cap.line("stderr", line)
            elif "aux" in chunk and "ID" in chunk["aux"]:
                result.image_id = chunk["aux"]["ID"]
    except Cancelled as exc:
        exc.build_leftovers = tuple(result.intermediates)  # a stopped build's layers are the run's to remove
        raise
    finally:
        # Closing the connection is what makes the engine abort a build in progress (cancel, timeout).
        _abort(response)
        context.close()
        result.output_cut = cap.finish()
        _end_cgroup(cgroup, result, step_containers, run_steps, pids_why)
    result.seconds = time.monotonic() - started
    result.steps_cached = len(result.cached_steps)
    if not errors and (broken or not result.image_id):
        # A stream that ends without an error and without an image id did not build anything: the engine (or the
        # connection to it) went away mid-build. Counting it as a success would smoke-run a stale or absent image.
        lost = EngineLost(f"the connection to the Docker engine was lost during the build of attempt "
                          f"{request.attempt}{' at step ' + str(step_no) if step_no else ''} (no image id)",
                          ENGINE_LOST_FIX)
        lost.build_leftovers = tuple(result.intermediates)
        raise lost
    if errors:
        result.error = errors[-1]
        result.failing_step = current_step or None
        return result
    result.ok = True
    result.image_tag = request.tag
    return result

def _build_cgroup(client: Any, endpoint: str | None, limits: DockerLimits | None,
                  no_cgroup_why: str | None) -> tuple[BuildCgroup | None, str]:
    """The build's own cgroup with the process limit, when the engine is on this machine; else None and why."""
    if limits is None:
        return None, "no limits"
    if endpoint is None:
        return None, no_cgroup_why or "the engine's address is not known here"
    try:
        info = client.info()
    except Exception as exc:  # noqa: BLE001 - the build itself reports an engine that is not there
        return None, f"the engine did not say how it runs containers ({type(exc).__name__})"
    return make_build_cgroup(info, endpoint, limits.pids)


def _is_run(instruction: str) -> bool:
    return instruction.lstrip().upper().startswith("RUN")


def _is_from(instruction: str) -> bool:
    return instruction.lstrip().upper().startswith("FROM")


def _end_cgroup(cgroup: BuildCgroup | None, result: BuildResult, step_containers: int, run_steps: int,
                why: str) -> None:
    """Record which mechanism held the build's RUN steps, then remove the cgroup (every hierarchy runc made it in).
    A build whose RUN steps all came from the cache ran nothing to limit: the mechanism that was in place is
    recorded, and said to be unexercised."""
    if result.pids_limit is None:
        return
    idle = "" if run_steps > 0 else " (no RUN step ran: every one came from the cache)"
    if cgroup is None:
        if run_steps > 0 and not step_containers:
            result.pids_limit = BuildPidsLimit(
                mechanism="none", detail=f"{why}; and the build named no step container to limit (a builder that "
                                         "names none)")
        else:
            result.pids_limit.detail += idle
        return
    seen = result.pids_limit.steps_seen_inside
    if cgroup.used() or run_steps == 0:
        result.pids_limit = BuildPidsLimit(mechanism="cgroup-parent", detail=why + idle, cgroup=cgroup.parent,
                                           steps_seen_inside=seen)
    elif step_containers:
        result.pids_limit = BuildPidsLimit(
            mechanism="update-api", cgroup=cgroup.parent,
            detail=f"best effort: the engine did not create its step containers inside cgroup {cgroup.parent}, "
                   "so each got its limit only once the stream named it")
    else:
        result.pids_limit = BuildPidsLimit(
            mechanism="none", cgroup=cgroup.parent,
            detail=f"the engine made no step container inside cgroup {cgroup.parent} and the stream named none")
    if not cgroup.remove():
        result.pids_limit.detail += f" (cgroup {cgroup.parent} could not be removed yet: a step container remains)"


def limit_step_pids(client: Any, container_id: str, pids: int) -> None:
    """The build API has no pids parameter: give the RUN step's container its process limit through the update
    API, as soon as the classic builder names it ("Running in ID"). A step that ended already needs none."""
    with contextlib.suppress(Exception):
        api = client.api
        api._raise_for_status(api._post_json(api._url("/containers/{0}/update", container_id),
                                             data={"PidsLimit": pids}))


def start_build(client: Any, request: BuildRequest, context: Any, labels: dict[str, str],
                limits: DockerLimits | None = None, cgroup_parent: str | None = None) -> Any:
    """POST /build with our own context; the streamed response is ours to close (the SDK's generator hides it).
    `cgroup_parent`: the cgroup every step container is created in (the build's process limit)."""
    api = client.api
    params = {"t": request.tag, "dockerfile": ".paper2run/Dockerfile", "rm": "1", "forcerm": "1",
              "labels": json.dumps(labels), **(build_params(limits) if limits is not None else {})}
    if cgroup_parent:
        params["cgroupparent"] = cgroup_parent
    if request.build_args:
        params["buildargs"] = json.dumps(request.build_args)
    response = api.post(api._url("/build"), params=params, data=context, stream=True, timeout=None,
                        headers={"Content-Type": "application/tar"})
    if response.status_code >= 400:
        detail = response.text[:300]
        response.close()
        raise PreflightError(f"the engine refused the build ({response.status_code}): {detail}")
    return response
