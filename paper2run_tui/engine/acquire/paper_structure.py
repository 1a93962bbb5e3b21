"""Split a paper's text into title, authors, abstract and numbered sections.

Kept deliberately simple and line-based: markdown headings, and in PDF text the numbered
heading lines papers use ('3 Model Architecture', '3.2.1 Scaled Dot-Product Attention').
Section numbers are the paper's own, so code can cite '§3.2'. The paper-to-code step
extends the result (equations, tables, hyperparameters) from `sections`; this module's
boundary is :func:`structure_paper`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

import yaml

from ..contracts.paper import PaperSection

PaperKind = Literal["pdf", "markdown", "arxiv", "repo-markdown"]

_MD_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_HTML_HEADING = re.compile(r"^\s*<h([1-6])\b[^>]*>(.*?)</h\1>\s*$", re.IGNORECASE)
_SETEXT = re.compile(r"^\s{0,3}(=+|-{2,})\s*$")
_NUMBERED = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3})\.?[ \t]+(?P<title>\S.*)$")
_UNNUMBERED = {
    "abstract",
    "introduction",
    "references",
    "bibliography",
    "acknowledgements",
    "acknowledgments",
    "acknowledgement",
    "appendix",
    "appendices",
    "conclusion",
    "conclusions",
    "related work",
    "supplementary material",
}
_NUMBERED_IN_MOST_PAPERS = {"introduction", "conclusion", "conclusions", "related work"}
_ABSTRACT_INLINE = re.compile(r"^\s*abstract\b\s*[.:\u2014\u2013-]?\s*(?P<rest>.*)$", re.IGNORECASE)
_MAX_TITLE_WORDS = 14
_STAMP = re.compile(r"^(arXiv:\S+|Preprint\b|Published as|Under review|Proceedings of)", re.IGNORECASE)


@dataclass
class PaperStructure:
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    sections: list[PaperSection] = field(default_factory=list)

    def as_tuple(self) -> tuple[str, list[str], str, list[PaperSection]]:
        return self.title, self.authors, self.abstract, self.sections


def structure_paper(text: str, kind: PaperKind) -> tuple[str, list[str], str, list[PaperSection]]:
    """(title, authors, abstract, sections) from the paper's text; markdown or PDF-extracted text."""
    if kind in ("markdown", "repo-markdown"):
        return _structure_markdown(text).as_tuple()
    return _structure_pdf_text(text).as_tuple()


def split_authors(raw: str) -> list[str]:
    """'A. Vaswani, N. Shazeer and N. Parmar' -> three names."""
    parts = re.split(r"\s*(?:,|;|\band\b|&|\n)\s*", raw.strip())
    return [p.strip(" *_") for p in parts if p.strip(" *_") and len(p.strip()) <= 80]


# --- markdown --------------------------------------------------------------------------------------------


def _number_and_title(heading: str) -> tuple[str, str]:
    heading = re.sub(r"[*_`]+", "", heading).strip()
    m = re.match(r"^(?:§\s*)?(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(\S.*)$", heading)
    if m:
        return m.group(1), m.group(2).strip()
    return "", heading


def _markdown_headings(lines: list[str], first: int) -> list[tuple[int, int, int, str]]:
    """(line, body start, level, text) for ATX (#), setext (===/---) and one-line HTML (<h1>) headings."""
    found: list[tuple[int, int, int, str]] = []
    in_fence = False
    for i in range(first, len(lines)):
        line = lines[i]
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        m = _MD_HEADING.match(line)
        if m:
            found.append((i, i + 1, len(m.group(1)), m.group(2)))
            continue
        h = _HTML_HEADING.match(line)
        if h and re.sub(r"<[^>]+>", "", h.group(2)).strip():
            found.append((i, i + 1, int(h.group(1)), re.sub(r"<[^>]+>", "", h.group(2)).strip()))
            continue
        if (
            i + 1 < len(lines)
            and line.strip()
            and _SETEXT.match(lines[i + 1])
            and (i == first or not lines[i - 1].strip())
            and not re.match(r"^\s*([-*+>|]|\d+[.)])\s", line)
        ):
            level = 1 if lines[i + 1].strip().startswith("=") else 2
            found.append((i, i + 2, level, line.strip()))
    return found


def _front_matter(lines: list[str]) -> tuple[int, dict[str, object]]:
    """YAML front matter (--- title: ... ---): where the body starts, and its fields."""
    if not lines or lines[0].strip() != "---":
        return 0, {}
    for j in range(1, min(len(lines), 80)):
        if lines[j].strip() in ("---", "..."):
            try:
                data = yaml.safe_load("\n".join(lines[1:j]))
            except yaml.YAMLError:
                return 0, {}
            return (j + 1, data) if isinstance(data, dict) else (0, {})
    return 0, {}


def _structure_markdown(text: str) -> PaperStructure:
    out = PaperStructure()
    lines = text.splitlines()
    first, meta = _front_matter(lines)
    headings = _markdown_headings(lines, first)
    title_line = first - 1
    if headings and headings[0][2] == 1 and sum(1 for h in headings if h[2] == 1) == 1:
        title_line = headings[0][1] - 1
        out.title = _number_and_title(headings[0][3])[1]
        headings = headings[1:]
    elif headings and headings[0][2] == 1:
        out.title = _number_and_title(headings[0][3])[1]
    meta_title = meta.get("title")
    if isinstance(meta_title, str) and meta_title.strip():
        out.title = meta_title.strip()
    out.authors = _meta_authors(meta) or _markdown_authors(
        lines, title_line, headings[0][0] if headings else len(lines)
    )
    base_level = min((h[2] for h in headings), default=1)
    for n, (_, body_start, level, raw) in enumerate(headings):
        end = headings[n + 1][0] if n + 1 < len(headings) else len(lines)
        number, title = _number_and_title(raw)
        depth = number.count(".") + 1 if number else level - base_level + 1
        body = "\n".join(lines[body_start:end]).strip()
        out.sections.append(PaperSection(number=number, title=title, text=body, level=depth))
    out.abstract = _abstract_from_sections(out.sections)
    meta_abstract = meta.get("abstract")
    if not out.abstract and isinstance(meta_abstract, str):
        out.abstract = meta_abstract.strip()
    if not out.abstract:
        out.abstract = _inline_abstract(lines)
    return out


def _meta_authors(meta: dict[str, object]) -> list[str]:
    raw = meta.get("authors", meta.get("author"))
    if isinstance(raw, str):
        return split_authors(raw)
    if isinstance(raw, list):
        names = [a.get("name") if isinstance(a, dict) else a for a in raw]
        return [str(n).strip() for n in names if isinstance(n, str) and n.strip()]
    return []


def _markdown_authors(lines: list[str], title_line: int, stop: int) -> list[str]:
    for line in lines[title_line + 1 : min(stop, title_line + 12)]:
        m = re.match(
            r"^\s*(?:\*\*|__)?(authors?|by)\b\s*[:]?(?:\*\*|__)?\s*[:]?\s*(.+)$", line, re.IGNORECASE
        )
        if m and m.group(2).strip():
            return split_authors(m.group(2))
    # No "Authors:" label: the line right under the title is the byline when it reads as a list of names.
    for line in lines[title_line + 1 : min(stop, title_line + 6)]:
        if line.strip():
            names = split_authors(re.sub(r"[\d¹²³⁴⁵⁶⁷⁸⁹⁰†‡*^]+", "", line))
            # One capitalised phrase could be a subtitle ("Sequence Models Matter"): a lone name needs an initial.
            plausible = len(names) >= 2 or (len(names) == 1 and re.search(r"\b[A-Z]\.", names[0]))
            return names if plausible and all(_looks_like_a_name(n) for n in names) else []
    return []


_NAME_WORD = re.compile(r"^(?:[A-Z][\w'’.-]*|[A-Z]\.|van|von|de|der|den|da|di|du|la|le|bin|al)$")


def _looks_like_a_name(text: str) -> bool:
    """'Ada Lovelace', 'A. M. Turing', 'Ludwig van Beethoven'; not a sentence or a heading-like phrase."""
    words = text.split()
    return 2 <= len(words) <= 5 and all(_NAME_WORD.match(w) for w in words) and not text.endswith(":")


def _abstract_from_sections(sections: list[PaperSection]) -> str:
    for s in sections:
        if s.title.strip().lower().rstrip(":") == "abstract":
            return s.text
    return ""


def _inline_abstract(lines: list[str]) -> str:
    for i, line in enumerate(lines[:200]):
        m = re.match(
            r"^\s*(?:\*\*|__)?abstract(?:\*\*|__)?\s*[.:\u2014-]\s*(?:\*\*|__)?\s*(?P<rest>.+)$", line, re.I
        )
        if m:
            para = [m.group("rest")]
            for nxt in lines[i + 1 :]:
                if not nxt.strip() or _MD_HEADING.match(nxt):
                    break
                para.append(nxt.strip())
            return " ".join(para).strip()
    return ""


# --- PDF text --------------------------------------------------------------------------------------------


def _parse_number(num: str) -> tuple[int, ...]:
    return tuple(int(x) for x in num.split("."))


def _plausible_next(prev: tuple[int, ...], cand: tuple[int, ...]) -> bool:
    """Section numbers move forward: deeper by one level (x.1), or the next at some level.

    One skipped number is tolerated (a heading text extraction merged into a paragraph).
    """
    if not prev:
        return len(cand) == 1 and cand[0] in (1, 2)
    if len(cand) == len(prev) + 1 and cand[:-1] == prev and cand[-1] in (1, 2):
        return True
    for k in range(1, len(prev) + 1):
        if len(cand) == k and cand[:-1] == prev[: k - 1] and cand[-1] in (prev[k - 1] + 1, prev[k - 1] + 2):
            return True
        if (
            len(cand) == k + 1
            and cand[: k - 1] == prev[: k - 1]
            and cand[k - 1] == prev[k - 1] + 1
            and cand[-1] == 1
        ):
            return True  # '3.2' -> '4.1' when the '4' heading was lost
    return False


def _looks_like_heading_title(title: str) -> bool:
    title = title.strip()
    words = title.split()
    if not words or len(words) > _MAX_TITLE_WORDS or len(title) > 100:
        return False
    if not (title[0].isupper() or title[0] in "\"'("):
        return False
    if title.endswith((".", ",", ";", ":")) and not title.endswith("etc."):
        return False
    if "_" in title or "@" in title or "http" in title.lower():
        return False  # identifiers, e-mail addresses, links: not headings
    letters = sum(c.isalpha() for c in title)
    digits = sum(c.isdigit() for c in title)
    return letters >= 3 and digits <= letters // 3 and not re.search(r"[=<>±×]|\d\s*%", title)


def _strip_page_number(title: str) -> str:
    """'Introduction . . . . 3' (a table-of-contents line) -> 'Introduction'."""
    return re.sub(r"(?:\s*\.){2,}\s*\d+$|\s+\d+$", "", title).strip()


def _same_title(a: str, b: str) -> bool:
    return _strip_page_number(a).lower() == _strip_page_number(b).lower()


def _repeats_nearby(lines: list[str], i: int, num: str) -> bool:
    """'4 CARD32 OFFSET' next to '4 CARD32 COUNT': rows of a table, not headings."""
    prefix = re.compile(rf"^{re.escape(num)}\.?\s+(?P<rest>\S.*)$")
    before = next((ln.strip() for ln in reversed(lines[max(0, i - 3) : i]) if ln.strip()), "")
    after = next((ln.strip() for ln in lines[i + 1 : i + 4] if ln.strip()), "")
    for neighbour in (before, after):
        m = prefix.match(neighbour)
        rest = m.group("rest") if m else ""
        if rest and not rest[0].islower() and not rest.endswith("."):  # a row, not a sentence
            return True
    return False


def _structure_pdf_text(text: str) -> PaperStructure:
    out = PaperStructure()
    lines = [ln.rstrip() for ln in text.splitlines()]
    heads: list[tuple[int, str, str]] = []  # (line index, number, title)
    prev: tuple[int, ...] = ()
    abstract_at = -1
    for i, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            continue
        low = line.lower().rstrip(":.")
        if abstract_at < 0 and _ABSTRACT_INLINE.match(line) and not heads:
            abstract_at = i
            heads.append((i, "", "Abstract"))
            continue
        if low in _UNNUMBERED and low != "abstract":
            if low in _NUMBERED_IN_MOST_PAPERS and prev:
                continue  # a numbered paper: the bare word on a line is not its heading
            heads.append((i, "", line.rstrip(":.").strip()))
            continue
        m = _NUMBERED.match(line)
        if not m or not _looks_like_heading_title(m.group("title")):
            continue
        num = _parse_number(m.group("num"))
        title = m.group("title").strip()
        numbered = [h for h in heads if h[1]]
        if numbered and num == _parse_number(numbered[0][1]) and _same_title(title, numbered[0][2]):
            # the headings so far were a table of contents: start again from the real first section
            toc_start = numbered[0][0]
            heads = [h for h in heads if h[0] < toc_start]
            heads.append((i, m.group("num"), _strip_page_number(title)))
            prev = num
            continue
        if not _plausible_next(prev, num) or _repeats_nearby(lines, i, m.group("num")):
            continue
        heads.append((i, m.group("num"), title))
        prev = num
    first_head = heads[0][0] if heads else len(lines)
    front = [ln.strip() for ln in lines[:first_head] if ln.strip() and not _STAMP.match(ln.strip())]
    if front:
        out.title = front[0][:300]
    for n, (i, number, title) in enumerate(heads):
        end = heads[n + 1][0] if n + 1 < len(heads) else len(lines)
        body_lines = lines[i + 1 : end]
        if number == "" and title == "Abstract":
            rest = _ABSTRACT_INLINE.match(lines[i].strip())
            if rest and rest.group("rest"):
                body_lines = [rest.group("rest"), *body_lines]
        body = _join_pdf_lines(body_lines)
        level = number.count(".") + 1 if number else 1
        out.sections.append(PaperSection(number=number, title=title, text=body, level=level))
    out.abstract = _abstract_from_sections(out.sections)
    return out


def _join_pdf_lines(lines: list[str]) -> str:
    """Undo PDF line wrapping inside paragraphs (and end-of-line hyphenation); keep blank-line breaks."""
    paras: list[str] = []
    cur = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            if cur:
                paras.append(cur)
                cur = ""
            continue
        if cur.endswith("-") and line[:1].islower():
            cur = cur[:-1] + line
        else:
            cur = f"{cur} {line}" if cur else line
    if cur:
        paras.append(cur)
    return "\n\n".join(paras)
