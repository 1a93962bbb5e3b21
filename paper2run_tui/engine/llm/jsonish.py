"""Get one JSON object out of a model's answer: plain, fenced, or with chat around it."""

from __future__ import annotations

import json
import re

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n(.*?)```", re.DOTALL)


class NoJson(ValueError):
    pass


def extract_json(text: str) -> dict:
    """The last JSON object in fenced blocks, else the first decodable object in the text."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)][::-1]
    candidates.append(text)
    decoder = json.JSONDecoder()
    for candidate in candidates:
        stripped = candidate.strip()
        for start in [i for i, ch in enumerate(stripped) if ch == "{"][:200]:
            try:
                value, _ = decoder.raw_decode(stripped[start:])
            except json.JSONDecodeError:
                continue
            if isinstance(value, dict):
                return value
    raise NoJson("no JSON object found in the answer")
