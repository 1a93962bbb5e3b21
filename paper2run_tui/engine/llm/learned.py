"""A small JSON file in the cache folder of what this tool learned about endpoints (their structured-output
dialect, their context window), so the next run does not learn it again at the cost of a refused call.

A missing or damaged file means "not learned"; a store without a folder (tests, no cache) remembers for this
process only; a read-only cache costs one refusal per run, nothing more.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from ..record.atomic import write_json_atomic

V = TypeVar("V")


class LearnedStore(Generic[V]):
    """{key: value} in `cache_dir/file`; `valid` says which values of the file are usable."""

    def __init__(self, cache_dir: Path | None, file: str, valid: Callable[[object], bool]) -> None:
        self.path = cache_dir / file if cache_dir is not None else None
        self._valid = valid
        self._memory: dict[str, V] = {}
        self._lock = threading.Lock()

    def _read(self) -> dict[str, V]:
        if self.path is None:
            return dict(self._memory)
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return dict(self._memory)
        if not isinstance(data, dict):
            return dict(self._memory)
        return {k: v for k, v in data.items() if isinstance(k, str) and self._valid(v)}

    def get(self, key: str) -> V | None:
        with self._lock:
            return self._read().get(key)

    def set(self, key: str, value: V) -> None:
        with self._lock:
            data = self._read()
            if data.get(key) == value:
                return
            data[key] = value
            self._memory = data
            if self.path is not None:
                with contextlib.suppress(OSError):
                    write_json_atomic(self.path, data)
