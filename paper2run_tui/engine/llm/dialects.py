"""Which form of structured output an endpoint takes, learned once per base URL and remembered on disk.

OpenAI-compatible servers disagree: OpenAI and vLLM take `{"type": "json_schema", ...}`, llama.cpp's server answers
that with HTTP 500 and takes `{"type": "json_object", "schema": ...}`, others take only `{"type": "json_object"}`
or nothing. The client starts with the best form, and when the endpoint refuses a form (a 4xx/5xx whose message
names the format) it steps down once, at once, with no backoff, and remembers the step for the next run.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from pathlib import Path
from typing import Any, Literal

from ..record.atomic import write_json_atomic

Dialect = Literal["json_schema", "json_object_schema", "json_object", "text"]
#: Best first. "text" = no response_format; the JSON is extracted from the answer.
DIALECTS: tuple[Dialect, ...] = ("json_schema", "json_object_schema", "json_object", "text")

_NAMES_FORMAT = re.compile(r"response_format|json_schema|json_object|structured output|grammar|guided", re.IGNORECASE)


def names_the_format(message: str) -> bool:
    """Does an error message say the request's response_format is what the endpoint refused?"""
    return bool(_NAMES_FORMAT.search(message))


def next_dialect(dialect: Dialect) -> Dialect:
    return DIALECTS[min(DIALECTS.index(dialect) + 1, len(DIALECTS) - 1)]


def response_format(dialect: Dialect, name: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if dialect == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    if dialect == "json_object_schema":
        return {"type": "json_object", "schema": schema}
    if dialect == "json_object":
        return {"type": "json_object"}
    return None


class DialectStore:
    """`llm-dialects.json` in the cache folder: {base URL: dialect}. A missing or damaged file means "not learned
    yet"; a store without a folder (tests, no cache) remembers for this process only."""

    FILE = "llm-dialects.json"

    def __init__(self, cache_dir: Path | None) -> None:
        self.path = cache_dir / self.FILE if cache_dir is not None else None
        self._memory: dict[str, Dialect] = {}
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Dialect]:
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and v in DIALECTS}

    def get(self, base_url: str) -> Dialect | None:
        with self._lock:
            return self._read().get(base_url)

    def set(self, base_url: str, dialect: Dialect) -> None:
        with self._lock:
            data = self._read()
            if data.get(base_url) == dialect:
                return
            data[base_url] = dialect
            self._memory = data
            if self.path is not None:
                with contextlib.suppress(OSError):  # a read-only cache costs one refusal per run, nothing more
                    write_json_atomic(self.path, data)
