"""One client for every model call: any OpenAI-compatible endpoint through the `openai` package.

Built lazily (no key needed at import); retries 429/5xx/timeouts itself so each try is logged; records tokens and
latency per call; dumps prompts and answers (redacted) into the run's logs/; never writes the key anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..config import LlmSettings
from ..contracts import LlmCall, LlmCallFinished, Message
from ..ports import Cancelled, CancelToken, EventSink
from ..record.atomic import write_text_atomic
from .budget import (
    CHARS_PER_TOKEN,
    MIN_ANSWER_TOKENS,
    ContextStore,
    Fitted,
    PromptBuilder,
    PromptTooLong,
    answer_tokens,
    estimate_tokens,
    fixed,
    is_context_error,
    probe_window,
    prompt_budget,
    window_in,
)
from .dialects import DialectStore, names_the_format, next_dialect, response_format
from .jsonish import NoJson, extract_json
from .redact import Redactor
from .schema_caps import capped_schema
from .schema_caps import schema_text as schema_text

M = TypeVar("M", bound=BaseModel)


class LlmError(Exception):
    """The endpoint could not give a usable answer. `str()` is one redacted, actionable line; `answer` is the
    model's last (unusable) answer, when there was one."""

    def __init__(self, message: str, answer: str = "") -> None:
        super().__init__(message)
        self.answer = answer


class _StreamCut(Exception):
    """The stream ended without its end: the server died or the connection dropped mid-answer."""


class FormatRefused(LlmError):
    """The endpoint refused the request's response_format (it names the format): step down, never retry it."""


class ContextOverflow(LlmError):
    """The request was longer than the endpoint's context window (`window` when the error names it): never retried
    as it was; structured() learns the window and sends the prompt again, cut to fit."""

    def __init__(self, message: str, window: int | None) -> None:
        super().__init__(message)
        self.window = window


class _EmptyStream(Exception):
    """A stream that ended with no content and no finish_reason: llama.cpp's server ends one like this when the
    prompt exceeds its window (after answering 200), so the next try asks without streaming to hear the error."""

#: How often a call in flight looks at the cancel token: Ctrl-C takes effect within this, not at the timeout.
_CANCEL_POLL_S = 0.1
DEFAULT_BASE_URL = "https://api.openai.com/v1"


class LlmClient:
    def __init__(self, settings: LlmSettings, *, dump_dir: Path | None, sink: EventSink,
                 backoff_s: float = 1.0, dialects: DialectStore | None = None) -> None:
        self.settings = settings
        self.dump_dir = dump_dir
        self.sink = sink
        self.calls: list[LlmCall] = []
        self.backoff_s = backoff_s
        self._client: Any = None
        key = settings.api_key.get_secret_value() if settings.api_key else None
        self.redact = Redactor(key)
        self.dialects = dialects or DialectStore(None)
        self.contexts = ContextStore(self.dialects.path.parent if self.dialects.path is not None else None)
        self._probed: tuple[int, str] | None | bool = False
        #: The token estimate's characters per token; lowered when the endpoint says a fitted prompt was too long.
        self.chars_per_token = CHARS_PER_TOKEN
        #: Rounds the last structured() answer needed (1, or 2 after the corrective round), and the problems
        #: its answers had (schema errors, `validate`'s findings), in order.
        self.last_rounds = 0
        self.last_problems: list[str] = []

    @property
    def model(self) -> str:
        return self.settings.model or "default"

    def _openai(self) -> Any:
        if self._client is None:
            import openai

            if not self.settings.api_key and not self.settings.base_url:
                raise LlmError("no LLM endpoint is configured: set NVIDIA_API_KEY / OPENAI_API_KEY or PAPER2RUN_BASE_URL")
            self._client = openai.OpenAI(
                api_key=self.settings.api_key.get_secret_value() if self.settings.api_key else "not-needed",
                base_url=self.settings.base_url, timeout=self.settings.timeout_s, max_retries=0,
            )
        return self._client

    # --- raw calls ----------------------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.settings.base_url or DEFAULT_BASE_URL

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        purpose: str,
        cancel: CancelToken | None = None,
        on_delta: Callable[[str], None] | None = None,
        response_format: dict[str, Any] | None = None,
        max_tokens: int | None = None,
        fitted: Fitted | None = None,
        window: int | None = None,
    ) -> str:
        """One answer's text, retrying 429 (honouring Retry-After), 5xx, connection errors and timeouts. A refusal
        of `response_format` is not retried: it raises FormatRefused at once; nor is a context-length error
        (ContextOverflow). A stream that ends empty is asked again without streaming, to hear the server's error."""
        import openai

        self._dump(purpose, "prompt", "\n\n".join(f"## {m['role']}\n{m['content']}" for m in messages))
        last_error = ""
        stream = on_delta
        cuts = list(fitted.cuts) if fitted else []
        record = functools.partial(self._record, purpose, context_window=window, prompt_cuts=cuts)
        attempt = -1
        while attempt < self.settings.max_retries:
            attempt += 1
            if cancel is not None:
                cancel.raise_if_cancelled()
            started = time.monotonic()
            try:
                text, usage = self._cancellable(functools.partial(
                    self._call, messages, stream, response_format, cancel, max_tokens), cancel)
            except openai.APIStatusError as exc:
                last_error = self._status_message(exc)
                record(started, ok=False, error=last_error, streamed=stream is not None)
                message = str(getattr(exc, "message", "") or exc)
                if exc.status_code >= 400 and exc.status_code < 500 and is_context_error(message):
                    raise ContextOverflow(last_error, window_in(message)) from None
                if response_format is not None and exc.status_code >= 400 and names_the_format(str(exc.message)):
                    raise FormatRefused(last_error) from None
                if exc.status_code == 429 or exc.status_code >= 500:
                    self._wait(attempt, exc, cancel)
                    continue
                raise LlmError(last_error) from None
            except (openai.APITimeoutError, openai.APIConnectionError, _StreamCut, _EmptyStream) as exc:
                if isinstance(exc, _EmptyStream):
                    last_error = f"the LLM endpoint broke off its answer mid-stream ({exc})"
                    if stream is not None:  # once, and not counted as a retry: the same request, unstreamed
                        record(started, ok=False, error=last_error, streamed=True)
                        self.sink.emit(Message(level="info", text="the LLM stream ended empty; asking once without "
                                                                  "streaming to hear the endpoint's error"))
                        self._abort()  # the server may have closed that connection: a new one
                        stream = None
                        attempt -= 1
                        continue
                elif isinstance(exc, _StreamCut):
                    last_error = f"the LLM endpoint broke off its answer mid-stream ({exc})"
                elif isinstance(exc, openai.APITimeoutError):
                    last_error = f"the LLM endpoint did not answer within {self.settings.timeout_s:.0f} s"
                else:
                    last_error = f"cannot connect to the LLM endpoint {self.settings.base_url or 'default'}: check the URL"
                record(started, ok=False, error=last_error, streamed=stream is not None)
                self._wait(attempt, None, cancel)
                continue
            record(started, ok=True, usage=usage, streamed=stream is not None)
            if on_delta is not None and stream is None and text:  # asked without streaming: the pane still sees it
                on_delta(self.redact(text))
            self._dump(purpose, "answer", text)
            return text
        raise LlmError(f"{last_error} (after {self.settings.max_retries + 1} tries)")

    def _cancellable(self, call: Callable[[], tuple[str, Any]], cancel: CancelToken | None) -> tuple[str, Any]:
        """Run the HTTP call in a worker thread and watch the cancel token meanwhile: a blocked read (a stalled
        server, a slow model) must not hold Ctrl-C until the timeout. On cancel the connection is closed."""
        if cancel is None:
            return call()
        box: dict[str, Any] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["value"] = call()
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="llm-call", daemon=True).start()
        while not done.wait(_CANCEL_POLL_S):
            if cancel.cancelled:
                self._abort()
                raise Cancelled(cancel.reason or "cancelled")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _abort(self) -> None:
        """Close the connection of the call in flight; the next call builds a new client."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _call(self, messages: list[dict[str, str]], on_delta: Callable[[str], None] | None,
              response_format: dict[str, Any] | None, cancel: CancelToken | None,
              max_tokens: int | None = None) -> tuple[str, Any]:
        import openai

        client = self._openai()
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": 0,
                                  "max_tokens": max_tokens or self.settings.max_tokens}
        if response_format is not None:
            kwargs["response_format"] = response_format
        if on_delta is None:
            resp = client.chat.completions.create(**kwargs)
            return resp.choices[0].message.content or "", resp.usage
        stream = client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs)
        parts: list[str] = []
        live = _RedactingStream(on_delta, self.redact)
        usage = None
        finished = False
        try:
            for chunk in stream:
                if cancel is not None and cancel.cancelled:
                    break
                if getattr(chunk, "usage", None):
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        parts.append(delta)
                        live.write(delta)
                    finished = finished or bool(choice.finish_reason)
        except openai.APITimeoutError:
            raise
        except openai.APIConnectionError as exc:  # the stream was open: the connection broke mid-answer
            if cancel is not None and cancel.cancelled:
                raise Cancelled(cancel.reason or "cancelled") from None
            raise _StreamCut(f"after {len(''.join(parts))} characters: {exc}") from exc
        except openai.APIError:
            raise
        except Exception as exc:  # noqa: BLE001 - the HTTP library's own error once the headers are in
            if cancel is not None and cancel.cancelled:
                raise Cancelled(cancel.reason or "cancelled") from None
            raise _StreamCut(type(exc).__name__ + (f": {exc}" if str(exc) else "")) from exc
        finally:
            with contextlib.suppress(Exception):
                stream.close()
            live.flush()
        if cancel is not None:
            cancel.raise_if_cancelled()
        if not finished:  # the connection closed quietly after part of the answer: not an answer
            got = len("".join(parts))
            if got == 0:
                raise _EmptyStream("the stream ended without a finish_reason after 0 characters; a server that fails "
                                   "after answering 200, e.g. on a prompt longer than its context window, ends its "
                                   "stream like this: see its log")
            raise _StreamCut(f"the stream ended without a finish_reason after {got} characters")
        return "".join(parts), usage

    def _status_message(self, exc: Any) -> str:
        code = exc.status_code
        detail = self.redact(str(getattr(exc, "message", "") or exc))[:200]
        if code == 401:
            return f"the LLM endpoint refused the API key (401: expired or wrong): {detail}"
        if code == 403:
            return f"the API key may not use this model (403): {detail}"
        if code == 404:
            return f"unknown model {self.model!r} or wrong base URL (404): {detail}"
        if code == 429:
            return f"rate limited by the LLM endpoint (429): {detail}"
        return f"the LLM endpoint failed ({code}): {detail}"

    def _wait(self, attempt: int, exc: Any, cancel: CancelToken | None) -> None:
        if attempt >= self.settings.max_retries:
            return
        delay = self.backoff_s * (2**attempt)
        retry_after = exc.response.headers.get("retry-after") if exc is not None and exc.response is not None else None
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(float(retry_after), 60.0)
        self.sink.emit(Message(level="warning", text=f"LLM call failed; retrying in {delay:.1f} s"))
        if cancel is not None:
            if cancel.wait(delay):
                cancel.raise_if_cancelled()
        else:
            time.sleep(delay)

    def _record(self, purpose: str, started: float, *, ok: bool, usage: Any = None, error: str | None = None,
                streamed: bool = False, context_window: int | None = None, prompt_cuts: list[str] | None = None) -> None:
        call = LlmCall(
            purpose=purpose if purpose in ("plan", "diagnose", "implement", "fix-citations") else "other",  # type: ignore[arg-type]
            model=self.model, prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            latency_s=round(time.monotonic() - started, 3), ok=ok, error=self.redact(error) if error else None,
            streamed=streamed, context_window=context_window, prompt_cuts=list(prompt_cuts or []),
        )
        self.calls.append(call)
        self.sink.emit(LlmCallFinished(call=call))
        if error:
            self.sink.emit(Message(level="warning", text=f"LLM {purpose}: {call.error}"))

    def _dump(self, purpose: str, kind: str, text: str) -> None:
        if self.dump_dir is None:
            return
        n = len(list(self.dump_dir.glob(f"llm-*-{purpose}-{kind}.txt"))) + 1 if self.dump_dir.exists() else 1
        write_text_atomic(self.dump_dir / f"llm-{n:02d}-{purpose}-{kind}.txt", self.redact(text))

    # --- structured answers ---------------------------------------------------------------------------------------

    def context_window(self, cancel: CancelToken | None = None) -> tuple[int | None, str]:
        """The endpoint's context window in tokens and where it was learned: the person's setting, else what the
        server's context-length error said (remembered per endpoint and model), else what the server says of itself
        (asked once per client). (None, "") when nothing says."""
        if self.settings.context_tokens:
            return self.settings.context_tokens, "the setting PAPER2RUN_LLM_CONTEXT"
        learned = self.contexts.get(self._context_key)
        if learned:
            return learned, "learned from the endpoint's context-length error"
        if self._probed is False:
            if cancel is not None:
                cancel.raise_if_cancelled()
            key = self.settings.api_key.get_secret_value() if self.settings.api_key else None
            self._probed = probe_window(self.base_url, self.model, key, timeout_s=min(5.0, self.settings.timeout_s))
        if isinstance(self._probed, tuple):
            return self._probed
        return None, ""

    @property
    def _context_key(self) -> str:
        return f"{self.base_url} {self.model}"

    def structured(
        self,
        messages: list[dict[str, str]] | PromptBuilder,
        model: type[M],
        *,
        purpose: str,
        cancel: CancelToken | None = None,
        on_delta: Callable[[str], None] | None = None,
        validate: Callable[[M], str | None] | None = None,
    ) -> M:
        """A validated `model` instance. The best structured-output form the endpoint takes, under a length-capped
        schema; fenced or chatty JSON tolerated; one corrective round showing the model its problems (the schema's
        and `validate`'s); LlmError after that. `messages` may be a PromptBuilder: it is rendered to fit the
        endpoint's context window with max_tokens (budget.py), and again smaller after a context-length error."""
        build = messages if callable(messages) else fixed(messages)
        followup: list[dict[str, str]] = []
        self.last_problems = []
        for round_ in range(2):
            try:
                text = self._fitted_answer(build, followup, model, purpose=purpose, cancel=cancel, on_delta=on_delta)
            except LlmError as err:
                if not followup:
                    raise
                first_problem = self.last_problems[-1]
                self.last_problems.append(f"the corrective round could not be asked: {err}")
                raise LlmError(f"the model's {purpose} answer was invalid ({first_problem[:200]}) and the corrective round "
                               f"could not be asked: {err}", answer=self.redact(text)) from None
            try:
                value = model.model_validate(extract_json(text))
                problem = validate(value) if validate else None
                if problem is None:
                    self.last_rounds = round_ + 1
                    return value
                errors = problem
                self.last_problems.append(problem)
            except (NoJson, ValidationError) as exc:
                errors = _short_errors(exc)
                self.last_problems.append(errors)
            if round_ == 0:
                self.sink.emit(Message(level="warning", text=f"LLM {purpose}: invalid answer ({errors[:160]}); asking again"))
                followup = [
                    {"role": "assistant", "content": text[:20000]},
                    {"role": "user", "content": "Your answer was not valid. Problems:\n" + errors[:3000] +
                     "\nAnswer again with one JSON object that follows the schema exactly, nothing else."},
                ]
        raise LlmError(f"the model's {purpose} answer was invalid twice: {errors[:300]}", answer=self.redact(text))

    def _fitted_answer(self, build: PromptBuilder, followup: list[dict[str, str]], model: type[BaseModel], *,
                       purpose: str, cancel: CancelToken | None, on_delta: Callable[[str], None] | None) -> str:
        """The prompt rendered to fit the window (with the corrective round's messages after it), then the answer.
        A context-length error teaches the window (or, when the window was known, that the estimate was short) and
        the prompt is cut further, twice at most."""
        said: list[str] | None = None
        for _ in range(3):
            window, source = self.context_window(cancel)
            extra = estimate_tokens(followup, self.chars_per_token)
            if window is None:
                answer, budget = self.settings.max_tokens, None
            else:
                answer = answer_tokens(window, self.settings.max_tokens)
                if followup:  # the corrective round's answer is about as long as the first: room for twice that
                    answer = min(answer, max(MIN_ANSWER_TOKENS, 2 * estimate_tokens(followup[:1], self.chars_per_token)))
                budget = prompt_budget(window, answer)
                assert budget is not None
                budget -= extra
            try:
                fitted = _build_leaving_room(build, budget, self.chars_per_token, followup)
            except PromptTooLong as err:
                raise LlmError(f"the {purpose} prompt does not fit the endpoint's {window}-token context window "
                               f"({source}): {err}; set PAPER2RUN_LLM_CONTEXT if the window is larger") from None
            if budget is not None:  # the answer gets what the prompt leaves, up to max_tokens
                answer = max(64, min(self.settings.max_tokens,
                                     window - fitted.tokens - extra - 64 if window else answer))
            if fitted.cuts and fitted.cuts != said:
                said = list(fitted.cuts)
                self.sink.emit(Message(level="info", text=(
                    f"the {purpose} prompt was cut to fit the endpoint's {window}-token context window ({source}; "
                    f"about {fitted.tokens} tokens, {answer} left for the answer): {'; '.join(fitted.cuts)}")))
            try:
                return self._complete_json(fitted.messages + followup, model, purpose=purpose, cancel=cancel,
                                           on_delta=on_delta, max_tokens=answer, fitted=fitted, window=window)
            except ContextOverflow as err:
                if err.window and err.window != window:
                    self.contexts.set(self._context_key, err.window)
                    learned = f"its window is {err.window} tokens"
                else:  # the window was right, or unnamed: the estimate was short, count more tokens per character
                    if window is None:
                        guess = max(512, int((fitted.tokens + extra) * 0.75))
                        self.contexts.set(self._context_key, guess)
                        learned = f"it names no window; assuming {guess} tokens"
                    else:
                        self.chars_per_token *= 0.75
                        learned = "the prompt was longer in its tokens than estimated"
                self.sink.emit(Message(level="warning", text=f"LLM {purpose}: the prompt was too long for the "
                                                             f"endpoint ({learned}); cutting it to fit"))
        raise LlmError(f"the {purpose} prompt still exceeded the endpoint's context window after cutting it twice")

    def _complete_json(self, messages: list[dict[str, str]], model: type[BaseModel], *, purpose: str,
                       cancel: CancelToken | None, on_delta: Callable[[str], None] | None,
                       max_tokens: int | None = None, fitted: Fitted | None = None, window: int | None = None) -> str:
        """The answer under the best structured-output form this endpoint takes (see dialects.py)."""
        dialect = self.dialects.get(self.base_url) or "json_schema"
        schema = capped_schema(model)
        while True:
            fmt = response_format(dialect, model.__name__, schema)
            try:
                text = self.complete(messages, purpose=purpose, cancel=cancel, on_delta=on_delta, response_format=fmt,
                                     max_tokens=max_tokens, fitted=fitted, window=window)
            except FormatRefused as err:
                if fmt is None:
                    raise
                lower = next_dialect(dialect)
                self.sink.emit(Message(level="info", text=f"the LLM endpoint refused response_format {dialect} "
                                                          f"({str(err)[:120]}); using {lower} from now on"))
                dialect = lower
                self.dialects.set(self.base_url, dialect)
                continue
            self.dialects.set(self.base_url, dialect)
            return text

    @property
    def dialect(self) -> str:
        """The structured-output form this endpoint is known to take (json_schema until learned otherwise)."""
        return self.dialects.get(self.base_url) or "json_schema"


class _RedactingStream:
    """Streams model text live while keeping secrets out of it: the tail that could be the start of a secret split
    across chunks is held back until the next chunk (or the end) shows what it is."""

    def __init__(self, out: Callable[[str], None], redact: Redactor) -> None:
        self.out = out
        self.redact = redact
        self.hold = max((len(s) for s in redact.secrets), default=1) - 1
        self.pending = ""

    def write(self, text: str) -> None:
        self.pending = self.redact.exact(self.pending + text)
        cut = max(0, len(self.pending) - self.hold)
        if cut:
            self.out(self.pending[:cut])
            self.pending = self.pending[cut:]

    def flush(self) -> None:
        if self.pending:
            self.out(self.redact.exact(self.pending))
            self.pending = ""


def _short_errors(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'root'}: {e['msg']}" for e in exc.errors()[:20])
    return str(exc)


#: What the first round leaves free, when it can, for the corrective round's additions (the model's answer and its
#: problems, 60-150 tokens for a capped plan): without it, a prompt cut to fill a small window leaves the second
#: round no room, and a small model never gets its second chance.
CORRECTIVE_RESERVE = 128


def _build_leaving_room(build: PromptBuilder, budget: int | None, chars_per_token: float,
                        followup: list[dict[str, str]]) -> Fitted:
    """The first round's prompt within `budget` less the corrective round's reserve, or within `budget` when the
    reserve would leave no prompt at all (asking once beats never asking); later rounds within `budget`."""
    if budget is None or followup:
        return build(budget, chars_per_token)
    try:
        return build(budget - CORRECTIVE_RESERVE, chars_per_token)
    except PromptTooLong:
        return build(budget, chars_per_token)
