"""Poetry's version constraints in PEP 440, the only dialect pip reads. A constraint passed to pip as written
(`opencv-python = "^4.8.1.78"`) is an "Invalid requirement" that no repair can fix, so every form is translated
here, where the manifest is read: caret and tilde on any number of parts, wildcards, bare and `=` versions,
space-separated comparisons, and `||` alternatives (the last, newest one is kept)."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^(\d+(?:\.\d+)*)((?:[-_.]?(?:a|b|rc|alpha|beta|pre|post|dev)\.?\d*)*)$", re.IGNORECASE)
_COMPARISON = re.compile(r"^(===|==|!=|<=|>=|~=|<|>)\s*(\S+)$")


def _caret(version: str) -> str | None:
    m = _VERSION.match(version)
    if not m:
        return None
    parts = [int(p) for p in m.group(1).split(".")]
    # The leftmost non-zero part is the one that may not change (^0.0.3 allows 0.0.3 only up to 0.0.4).
    index = next((i for i, p in enumerate(parts) if p != 0), len(parts) - 1)
    upper = [*parts[:index], parts[index] + 1]
    return f">={version},<{'.'.join(map(str, upper))}"


def _tilde(version: str) -> str | None:
    m = _VERSION.match(version)
    if not m:
        return None
    parts = [int(p) for p in m.group(1).split(".")]
    upper = [parts[0] + 1] if len(parts) == 1 else [parts[0], parts[1] + 1]
    return f">={version},<{'.'.join(map(str, upper))}"


def _one(term: str) -> str | None:
    term = term.strip()
    if term in ("", "*"):
        return ""
    if term.startswith("^"):
        return _caret(term[1:].strip())
    if term.startswith("~") and not term.startswith("~="):
        return _tilde(term[1:].strip())
    if term.startswith("=") and not term.startswith("=="):
        term = term[1:].strip()
    if re.match(r"^\d+(\.\d+)*\.\*$", term):
        return f"=={term}"
    if _VERSION.match(term):
        return f"=={term}"
    m = _COMPARISON.match(term)
    if m and (_VERSION.match(m.group(2)) or m.group(2).endswith(".*")):
        return f"{m.group(1)}{m.group(2)}"
    return None


def poetry_to_pep440(constraint: str) -> str | None:
    """The PEP 440 specifier for a Poetry constraint ('' for any version), or None when it is not one."""
    alternatives = [a for a in constraint.split("||") if a.strip()]
    if not alternatives:
        return ""
    # A comma or spaces join the comparisons of one alternative: '>=1.2, <2' and '>=1.2 <2' are the same.
    terms = [t for t in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", alternatives[-1].strip()) if t]
    out = []
    for term in terms:
        spec = _one(term)
        if spec is None:
            return None
        if spec:
            out.append(spec)
    return ",".join(out)
