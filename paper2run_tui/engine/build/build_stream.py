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
                 original: Callable[[str], str] | None = None) -> BuildResult:
    """Build from our own context, every log line an event; on cancel or timeout the connection is shut, which is
    what makes the engine abort the step in progress. Every RUN step runs under `limits`: memory, swap and CPU
    through the build API, the process limit set on the step's container as soon as the stream names it.
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
    try:
        response = start_build(client, request, context, labels, limits)
    except PreflightError:
        context.close()
        raise
    except Exception as exc:  # noqa: BLE001 - requests/urllib3 raise many kinds for a connection that went away
        context.close()
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
                        limit_step_pids(client, running.group(1), limits.pids)
                    made = running or _LAYER.match(line)
                    if made:
                        result.intermediates.append(made.group(1))
                    if isinstance(seen, StepSeen):
                        step_no, current_step = seen.step, seen.instruction
                        result.steps_total = seen.total
                        sink.emit(BuildProgress(attempt=request.attempt, step=step_no, total=result.steps_total,
                                                instruction=current_step))
                    elif isinstance(seen, CacheHit):
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
    finally:
        # Closing the connection is what makes the engine abort a build in progress (cancel, timeout).
        _abort(response)
        context.close()
        result.output_cut = cap.finish()
    result.seconds = time.monotonic() - started
    result.steps_cached = len(result.cached_steps)
    if not errors and (broken or not result.image_id):
        # A stream that ends without an error and without an image id did not build anything: the engine (or the
        # connection to it) went away mid-build. Counting it as a success would smoke-run a stale or absent image.
        raise EngineLost(f"the connection to the Docker engine was lost during the build of attempt "
                         f"{request.attempt}{' at step ' + str(step_no) if step_no else ''} (no image id)",
                         ENGINE_LOST_FIX)
    if errors:
        result.error = errors[-1]
        result.failing_step = current_step or None
        return result
    result.ok = True
    result.image_tag = request.tag
    return result

def limit_step_pids(client: Any, container_id: str, pids: int) -> None:
    """The build API has no pids parameter: give the RUN step's container its process limit through the update
    API, as soon as the classic builder names it ("Running in ID"). A step that ended already needs none."""
    with contextlib.suppress(Exception):
        api = client.api
        api._raise_for_status(api._post_json(api._url("/containers/{0}/update", container_id),
                                             data={"PidsLimit": pids}))


def start_build(client: Any, request: BuildRequest, context: Any, labels: dict[str, str],
                limits: DockerLimits | None = None) -> Any:
    """POST /build with our own context; the streamed response is ours to close (the SDK's generator hides it)."""
    api = client.api
    params = {"t": request.tag, "dockerfile": ".paper2run/Dockerfile", "rm": "1", "forcerm": "1",
              "labels": json.dumps(labels), **(build_params(limits) if limits is not None else {})}
    if request.build_args:
        params["buildargs"] = json.dumps(request.build_args)
    response = api.post(api._url("/build"), params=params, data=context, stream=True, timeout=None,
                        headers={"Content-Type": "application/tar"})
    if response.status_code >= 400:
        detail = response.text[:300]
        response.close()
        raise PreflightError(f"the engine refused the build ({response.status_code}): {detail}")
    return response
