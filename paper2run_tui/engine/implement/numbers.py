"""The number reader shared by extraction and the citation check.

Papers write one value many ways: `10−9`, `10^{-9}`, `$1 0 ^ { - 9 }$` (MinerU spaces out maths), `2×10⁻⁴`,
`2 \\times 10^{-4}`, `1e-4`, `100,000`, `3.5%`, `4k`. Reading them all in one place means the value the extractor
wrote and the value the checker compares are the same float. Years, reference-list numbers and the like are the
callers' business (they know the context); this module only reads.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")
_MINUS = "−–‐‑"  # unicode minus and dashes used as minus in extracted text


def _squash_math(text: str) -> str:
    """MinerU's `$0 . 2 5$` -> `0.25`; `\\times` -> `×`; `^{-4}` -> `^-4`; unicode minus -> '-'.

    Digits separated by single spaces are joined only inside `$...$` (prose "2 3" stays two numbers).
    """
    def inline(m: re.Match[str]) -> str:
        body = m.group(1)
        body = re.sub(r"(?<=[\d.])\s+(?=[\d.])", "", body)
        body = re.sub(r"(?<=\d)\s*([eE])\s*([-−+])\s*(?=\d)", r"\1\2", body)  # '$5 e - 6$' -> 5e-6
        body = re.sub(r"\\(?:times|cdot)", "×", body)
        body = re.sub(r"\\mathrm\s*\{\s*([^}]*)\}", r"\1", body)
        body = re.sub(r"\^\s*\{\s*([^}]*)\}", lambda g: "^" + g.group(1).replace(" ", ""), body)
        body = re.sub(r"\\[,;!: ]", "", body)
        body = body.replace("{", "").replace("}", "")
        body = re.sub(r"\\%", "%", body)
        return " " + body.strip() + " "

    text = re.sub(r"\$\$?([^$]{0,400})\$\$?", inline, text)
    text = re.sub(r"(?<=\d), (?=000\b)", ",", text)  # PDF/MinerU '6, 000' -> 6,000 (a list never repeats 000)
    text = re.sub(r"\\(?:times|cdot)", "×", text)
    text = re.sub(r"\^\s*\{\s*([-−+]?\s*\d+)\s*\}", lambda g: "^" + g.group(1).replace(" ", ""), text)
    for ch in _MINUS:
        text = text.replace(ch, "-")
    return text.translate(_SUPERSCRIPT)


_NUM_RE = re.compile(
    r"""
    (?<![\w.])
    (?P<sign>-)?
    (?:
        (?P<mant>\d+(?:\.\d+)?)\s*[x×\*]\s*10\s*\^?\s*(?P<exp1>[-+]?\d+)      # 2×10^-4, 2 x 10-4
      | 10\s*\^\s*(?P<exp2>[-+]?\d+)                                         # 10^-9
      | 10(?P<exp3>-\d{1,2})(?![\d.])                                         # 10-9 (superscript lost)
      | (?P<sci>\d+(?:\.\d+)?[eE][-+]?\d+)                                     # 1e-4
      | (?P<plain>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)            # 100,000  0.98  .5
    )
    (?P<suffix>\s*%|[kKM](?![a-zA-Z]))?
    """,
    re.VERBOSE,
)


@dataclass(frozen=True)
class Number:
    value: float
    raw: str
    start: int
    end: int
    percent: bool = False


def read_numbers(text: str) -> list[Number]:
    """Every number in `text` (positions refer to the normalised text: see :func:`normalise`)."""
    out: list[Number] = []
    for m in _NUM_RE.finditer(text):
        try:
            if m.group("mant") is not None:
                value = float(m.group("mant")) * 10 ** int(m.group("exp1"))
            elif m.group("exp2") is not None:
                value = 10.0 ** int(m.group("exp2"))
            elif m.group("exp3") is not None:
                value = 10.0 ** int(m.group("exp3"))
            elif m.group("sci") is not None:
                value = float(m.group("sci"))
            else:
                value = float(m.group("plain").replace(",", ""))
        except (ValueError, OverflowError):
            continue
        if not math.isfinite(value):
            continue  # '1e999' in a table of debris is not a setting
        suffix = (m.group("suffix") or "").strip()
        if suffix in ("k", "K"):
            value *= 1e3
        elif suffix == "M":
            value *= 1e6
        if m.group("sign"):
            value = -value
        out.append(Number(value=value, raw=m.group(0).strip(), start=m.start(), end=m.end(), percent=suffix == "%"))
    return out


def normalise(text: str) -> str:
    """The text numbers are read from: maths squashed, minus signs unified, superscripts flattened."""
    return _squash_math(text)


def numbers_in(text: str) -> list[Number]:
    return read_numbers(normalise(text))


def parse_value(raw: str) -> float | None:
    """One value as written in a config (`1.0e-9`, `100000`, `4k`, `10%` -> 0.1 is NOT done: 10.0)."""
    found = numbers_in(str(raw).strip())
    if len(found) != 1:
        return None
    return found[0].value


def same_value(a: float, b: float) -> bool:
    """Equal up to float noise (1e-9 vs 1.0e-09; 0.1 vs 0.10000001); a percentage never equals its fraction."""
    if a == b:
        return True
    return abs(a - b) <= 1e-9 * max(abs(a), abs(b))


def canonical(value: float) -> str:
    """A short canonical spelling for YAML: 100000, 0.98, 1e-09 -> 1.0e-9."""
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    if abs(value) < 1e-4 or abs(value) >= 1e6:
        mant, exp = f"{value:.6e}".split("e")
        mant = mant.rstrip("0").rstrip(".")
        if "." not in mant:
            mant += ".0"
        return f"{mant}e{int(exp)}"
    return repr(round(value, 12))
