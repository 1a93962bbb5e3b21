"""Keep secrets out of every file and event: the API key, and anything that looks like a bearer token."""

from __future__ import annotations

import re

_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._\-]{8,}")
_KEYLIKE = re.compile(r"\b(nvapi-|sk-)[A-Za-z0-9_\-]{8,}")


class Redactor:
    def __init__(self, *secrets: str | None) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def exact(self, text: str) -> str:
        """Only the known secrets (safe on partial text: a pattern could cut a key in two and show its tail)."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def __call__(self, text: str) -> str:
        text = self.exact(text)
        text = _BEARER.sub(r"\1***", text)
        return _KEYLIKE.sub(r"\1***", text)
