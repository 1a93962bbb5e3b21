"""Which form of structured output an endpoint takes, learned once per base URL and remembered on disk.

OpenAI-compatible servers disagree: OpenAI and vLLM take `{"type": "json_schema", ...}`, llama.cpp's server answers
that with HTTP 500 and takes `{"type": "json_object", "schema": ...}`, others take only `{"type": "json_object"}`
or nothing. The client starts with the best form, and when the endpoint refuses a form (a 4xx/5xx whose message
names the format) it steps down once, at once, with no backoff, and remembers the step for the next run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from .learned import LearnedStore

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


class DialectStore(LearnedStore[Dialect]):
    """`llm-dialects.json` in the cache folder: {base URL: dialect}."""

    FILE = "llm-dialects.json"

    def __init__(self, cache_dir: Path | None) -> None:
        super().__init__(cache_dir, self.FILE, lambda value: value in DIALECTS)
