"""Prompts sized to the endpoint's context window.

A prompt longer than the window fails in ways that are hard to read: llama.cpp's server answers a streamed request
200 and then ends the stream empty; others answer 400 "maximum context length is N tokens". So every structured call
learns the window (the person's setting PAPER2RUN_LLM_CONTEXT, else what the server says of itself, else what its
context-length error said, remembered per endpoint and model in the cache folder), keeps prompt + max_tokens within
it, and a prompt builder cuts its least useful parts first (the log excerpt's middle, long fact lists, the schema's
descriptions) until it fits. What was cut is said in the run (a message, and the call's record).
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from .learned import LearnedStore

#: Characters per token of the estimate. SmolLM2's tokenizer (llama.cpp's /extras/tokenize/count) gives 3.3-3.6 on
#: our schemas, code and pip logs; 3.0 leaves room for tokenizers that are less frugal with JSON.
CHARS_PER_TOKEN = 3.0
#: The chat template's role markers and separators, per message.
MESSAGE_OVERHEAD = 8
#: Kept free between the prompt and the answer for what the estimate cannot see.
SAFETY_TOKENS = 64
#: The least an answer gets under a small window (a capped diagnosis or plan fits in it).
MIN_ANSWER_TOKENS = 256

_CONTEXT_ERROR = re.compile(r"context[ _-]?(?:length|window|size)|maximum context|n_ctx|too many tokens|"
                            r"prompt is too long|exceeds? (?:the )?(?:available )?context", re.IGNORECASE)
_WINDOW_IN = re.compile(r"maximum context length is (\d+)|context (?:window|length|size) (?:is |of )?(\d+)|"
                        r"n_ctx\W{0,4}(\d+)", re.IGNORECASE)


def is_context_error(message: str) -> bool:
    """Does an endpoint's error say the request was longer than its context window?"""
    return bool(_CONTEXT_ERROR.search(message))


def window_in(message: str) -> int | None:
    """The window a context-length error names ("maximum context length is 2048 tokens"), if it names one."""
    match = _WINDOW_IN.search(message)
    if not match:
        return None
    value = int(next(g for g in match.groups() if g))
    return value if value >= 128 else None


def estimate_tokens(messages: Sequence[dict[str, str]], chars_per_token: float = CHARS_PER_TOKEN) -> int:
    return sum(int(len(m.get("content", "")) / chars_per_token) + MESSAGE_OVERHEAD for m in messages)


def answer_tokens(window: int | None, max_tokens: int) -> int:
    """What an answer may use: max_tokens, or a quarter of a small window (the prompt needs the rest; a capped plan
    or diagnosis is 150-400 tokens)."""
    if window is None:
        return max_tokens
    return max(64, min(max_tokens, max(MIN_ANSWER_TOKENS, window // 4), window // 2))


def prompt_budget(window: int | None, answer: int) -> int | None:
    return None if window is None else max(0, window - answer - SAFETY_TOKENS)


class PromptTooLong(Exception):
    """Even with every optional part cut the prompt exceeds the window: not sent (it could only fail)."""


@dataclass
class Fitted:
    """A prompt as sent: its messages, what was cut to fit, its estimated size."""

    messages: list[dict[str, str]]
    cuts: list[str] = field(default_factory=list)
    tokens: int = 0


#: A prompt that can render itself smaller: budget (tokens, None = unknown window) and chars per token -> Fitted.
PromptBuilder = Callable[[int | None, float], Fitted]


def fit(render: Callable[[dict[str, Any]], list[dict[str, str]]], steps: Sequence[tuple[str, dict[str, Any]]],
        budget: int | None, chars_per_token: float = CHARS_PER_TOKEN) -> Fitted:
    """Render with no cuts; while over `budget`, apply the next step (a label and knob changes, least useful
    first) and render again. PromptTooLong when all steps are spent and it still does not fit."""
    knobs: dict[str, Any] = {}
    messages = render(knobs)
    tokens = estimate_tokens(messages, chars_per_token)
    if budget is None:
        return Fitted(messages, [], tokens)
    cuts: list[str] = []
    for label, change in steps:
        if tokens <= budget:
            break
        knobs.update(change)
        messages = render(knobs)
        tokens = estimate_tokens(messages, chars_per_token)
        cuts.append(label)
    if tokens > budget:
        raise PromptTooLong(f"the prompt needs about {tokens} tokens even with {', '.join(cuts) or 'nothing'} cut, "
                            f"more than the {budget} the context window leaves")
    return Fitted(messages, cuts, tokens)


def fixed(messages: Sequence[dict[str, str]]) -> PromptBuilder:
    """A prompt with nothing to cut (implement's): it fits or it does not."""

    def build(budget: int | None, chars_per_token: float) -> Fitted:
        return fit(lambda _knobs: list(messages), (), budget, chars_per_token)

    return build


class ContextStore(LearnedStore[int]):
    """`llm-context.json` in the cache folder: {"BASE_URL MODEL": window} learned from context-length errors."""

    FILE = "llm-context.json"

    def __init__(self, cache_dir: Path | None) -> None:
        super().__init__(cache_dir, self.FILE, lambda value: isinstance(value, int) and value > 0)


def probe_window(base_url: str, model: str, api_key: str | None, timeout_s: float = 5.0) -> tuple[int, str] | None:
    """What the server says of its own window: llama.cpp's /props (default_generation_settings.n_ctx), or the
    model's entry in /models (max_model_len of vLLM, context_length / n_ctx elsewhere). None when it says nothing."""
    headers = {"Accept": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    parsed = urlparse(base_url)
    root = f"{parsed.scheme}://{parsed.netloc}"
    for url in (f"{root}/props", base_url.rstrip("/") + "/models"):
        data = _get_json(url, headers, timeout_s)
        if data is None:
            continue
        found = _window_of(data, model)
        if found:
            return found, f"the server's {urlparse(url).path}"
    return None


def _get_json(url: str, headers: dict[str, str], timeout_s: float) -> Any:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout_s) as resp:  # noqa: S310 - the configured endpoint
            if resp.status != 200:
                return None
            return json.loads(resp.read(1_000_000))
    except (OSError, ValueError):
        return None


_WINDOW_KEYS = ("n_ctx", "max_model_len", "context_length", "max_context_length", "context_window")


def _window_of(data: Any, model: str) -> int | None:
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    if isinstance(settings, dict) and isinstance(settings.get("n_ctx"), int):
        return settings["n_ctx"]
    if isinstance(data.get("n_ctx"), int):
        return data["n_ctx"]
    entries = data.get("data")
    if not isinstance(entries, list):
        return None
    mine = [e for e in entries if isinstance(e, dict) and e.get("id") == model] or (
        entries if len(entries) == 1 else [])
    for entry in mine:
        meta = entry.get("meta")
        for where in (entry, meta if isinstance(meta, dict) else {}):
            for key in _WINDOW_KEYS:
                value = where.get(key)
                if isinstance(value, int) and value > 0:
                    return value
    return None
