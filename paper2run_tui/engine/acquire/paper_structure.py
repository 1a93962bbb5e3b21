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


def structure_paper(
    text: str, kind: PaperKind, cancel: object | None = None
) -> tuple[str, list[str], str, list[PaperSection]]:
    """(title, authors, abstract, sections) from the paper's text; markdown or PDF-extracted text.

    One pass over the lines (linear in the paper's size); `cancel` (a CancelToken) is polled as it goes.
    """
    if kind in ("markdown", "repo-markdown"):
        return _structure_markdown(text, cancel).as_tuple()
    return _structure_pdf_text(text, cancel).as_tuple()


def split_authors(raw: str) -> list[str]:
    """'A. Vaswani, N. Shazeer and N. Parmar' -> three names."""
    parts = re.split(r"\s*(?:,|;|\band\b|&|\n)\s*", raw.strip())
    return [p.strip(" *_") for p in parts if p.strip(" *_") and len(p.strip()) <= 80]


# --- markdown --------------------------------------------------------------------------------------------


_APPENDIX_WORD = re.compile(
    r"^(?:appendix|appendices|supplementary(?: material)?)\s+(?P<num>[A-Z](?:\.\d{1,2}){0,3})\b\s*[.:\u2014\u2013-]?\s*(?P<title>.*)$",
    re.IGNORECASE,
)
_SECTION_NUMBER = re.compile(r"^(?:§\s*)?(?P<num>\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+(?P<title>\S.*)$")
_LETTER_NUMBER = re.compile(
    r"^(?P<num>[A-Z](?:\d{1,2}(?:\.\d{1,2}){0,3}|(?:\.\d{1,2}){1,3}))\.?\s+(?P<title>\S.*)$"
)
_LETTER_DOT = re.compile(r"^(?P<num>[A-H])\.\s+(?P<title>[A-Z][a-z].*)$")  # 'A. Proofs' (not 'A. Smith et al.')
_LETTER_ALONE = re.compile(r"^(?P<num>[A-Z])(?:\.\s*|\s+)(?P<title>[A-Z0-9\"'(].*)$")


def _number_and_title(heading: str, *, appendix_zone: bool = False) -> tuple[str, str]:
    """The paper's own number of a heading: '3.2', 'B.1', 'A' ('Appendix A: Proofs', 'A. Hyperparameters').

    A bare letter ('A Simple Method') is an appendix number only in the appendix zone (after the references or
    an 'Appendix' heading); 'B.1' and 'Appendix B' are unambiguous anywhere.
    """
    heading = re.sub(r"[*_`]+", "", heading).strip()
    m = _APPENDIX_WORD.match(heading)
    if m:
        title = m.group("title").strip(" .:") or f"Appendix {m.group('num')}"
        return m.group("num").upper(), title
    m = _SECTION_NUMBER.match(heading) or _LETTER_NUMBER.match(heading) or _LETTER_DOT.match(heading)
    if m:
        return m.group("num"), m.group("title").strip()
    if appendix_zone:
        m = _LETTER_ALONE.match(heading)
        if m:
            return m.group("num"), _strip_page_number(m.group("title").strip())
    return "", heading


_LATEX_HEADING = re.compile(r"^\s*\\((?:sub){0,2})section\*?\{(.+)\}\s*$")


def _markdown_headings(lines: list[str], first: int, cancel: object | None = None) -> list[tuple[int, int, int, str]]:
    """(line, body start, level, text) for ATX (#), setext (===/---), one-line HTML (<h1>) and Mathpix
    (`\\section*{1. Introduction}`) headings."""
    found: list[tuple[int, int, int, str]] = []
    in_fence = False
    for i in range(first, len(lines)):
        if cancel is not None and i % 2000 == 0:
            cancel.raise_if_cancelled()  # type: ignore[attr-defined]
        line = lines[i]
        lx = _LATEX_HEADING.match(line)
        if lx and not in_fence:
            found.append((i, i + 1, len(lx.group(1)) // 3 + 1, lx.group(2)))
            continue
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


_KNOWN_UNNUMBERED = _UNNUMBERED | {
    "impact statement", "broader impact", "broader impacts", "limitations", "ethics statement",
    "reproducibility statement", "acknowledgment", "supplementary materials", "author contributions",
}
_ALGORITHM = re.compile(r"^(?:Algorithm|ALGORITHM)\s+(\d+)\b[.:]?\s*(.*)$")
_RUN_IN = re.compile(r"^(?P<num>\d{1,2}(?:\.\d{1,2}){0,3})\.\s+(?P<title>[A-Z][^.$]{1,90}?)\.\s+(?=\S)")
_SENTENCE_START = re.compile(r"^(?:We|This|The|In|As|Our|It|These|For|To)\s")


@dataclass
class _Heading:
    line: int
    body_start: int
    level: int
    raw: str
    number: str = ""
    title: str = ""
    run_in: str = ""  # the rest of the paragraph of a run-in heading ('1. Introduction. Probabilistic ...')
    keep: bool = True


def _run_in_headings(lines: list[str], first: int, cancel: object | None) -> list[_Heading]:
    """'1. Introduction. Probabilistic modeling ...' paragraphs (SIAM/AMS style), in forward order only."""
    out: list[_Heading] = []
    prev: tuple[int, ...] = ()
    for i in range(first, len(lines)):
        if cancel is not None and i % 2000 == 0:
            cancel.raise_if_cancelled()  # type: ignore[attr-defined]
        if i > first and lines[i - 1].strip():
            continue
        m = _RUN_IN.match(lines[i])
        if not m:
            continue
        num = _parse_number(m.group("num"))
        if not _plausible_next(prev, num):
            continue
        prev = num
        h = _Heading(i, i + 1, num.__len__(), m.group(0), m.group("num"), m.group("title").strip())
        h.run_in = lines[i][m.end():]
        out.append(h)
    return out


def _structure_markdown(text: str, cancel: object | None = None) -> PaperStructure:
    out = PaperStructure()
    lines = text.splitlines()
    first, meta = _front_matter(lines)
    raw_headings = _markdown_headings(lines, first, cancel)
    title_line = first - 1
    if raw_headings and raw_headings[0][2] == 1 and sum(1 for h in raw_headings if h[2] == 1) == 1:
        title_line = raw_headings[0][1] - 1
        out.title = _number_and_title(raw_headings[0][3])[1]
        raw_headings = raw_headings[1:]
    elif raw_headings and raw_headings[0][2] == 1:
        out.title = _number_and_title(raw_headings[0][3])[1]
    meta_title = meta.get("title")
    if isinstance(meta_title, str) and meta_title.strip():
        out.title = meta_title.strip()
    out.authors = _meta_authors(meta) or _markdown_authors(
        lines, title_line, raw_headings[0][0] if raw_headings else len(lines)
    )
    headings = _number_headings([_Heading(*h) for h in raw_headings])
    if sum(1 for h in headings if h.number and h.number[0].isdigit()) < 3:
        run_in = _run_in_headings(lines, max(first, title_line + 1), cancel)
        if len(run_in) >= 3:
            headings = sorted(headings + run_in, key=lambda h: h.line)
            headings = _number_headings(headings)
    _fold_headings(headings, lines)
    kept = [h for h in headings if h.keep]
    base_level = min((h.level for h in kept), default=1)
    for n, h in enumerate(kept):
        end = kept[n + 1].line if n + 1 < len(kept) else len(lines)
        body_lines = ([h.run_in] if h.run_in else []) + lines[h.body_start:end]
        if h.title.lower().startswith("abstract") and h.number == "":
            pass
        depth = h.number.count(".") + 1 if h.number else h.level - base_level + 1
        out.sections.append(PaperSection(number=h.number, title=h.title, text="\n".join(body_lines).strip(),
                                         level=depth))
    out.abstract = _abstract_from_sections(out.sections)
    meta_abstract = meta.get("abstract")
    if not out.abstract and isinstance(meta_abstract, str):
        out.abstract = meta_abstract.strip()
    if not out.abstract:
        out.abstract = _inline_abstract(lines)
    return out


def _number_headings(headings: list[_Heading]) -> list[_Heading]:
    """Number each heading as the paper does; letters count as appendix numbers once past the references."""
    zone = False
    for h in headings:
        if h.run_in:
            continue
        number, title = _number_and_title(h.raw, appendix_zone=zone)
        h.number, h.title, h.keep = number, title, True
        low = title.lower().strip(" .:")
        if low in ("references", "bibliography", "appendix", "appendices") or low.startswith(
                ("supplementary", "appendix")) or (number[:1].isalpha()):
            zone = True
    return headings


def _fold_headings(headings: list[_Heading], lines: list[str]) -> None:
    """Headings that are not sections of a numbered paper become text of the section they sit in.

    Algorithm boxes ('Algorithm 1 ...'), converter debris ('8: end for', '$f_1$ optimization stage:'), sentences
    promoted to headings, and the shorter of two headings with the same number (a table of contents line).
    """
    numbered = sum(1 for h in headings if h.number)
    for h in headings:
        if _ALGORITHM.match(re.sub(r"[*_`#]+", "", h.raw).strip()):
            h.keep = False
            continue
        low = h.title.lower().strip(" .:")
        if h.number:
            if h.title.endswith(".") and len(h.title.split()) > 4 and _SENTENCE_START.match(h.title):
                h.keep = False
            continue
        debris = not h.title[:1].isalpha() or h.title[:1].islower() or "$" in h.title or h.title.endswith((":", "."))
        if numbered >= 3 and debris and low not in _KNOWN_UNNUMBERED:
            h.keep = False
    kept = [h for h in headings if h.keep]
    by_number: dict[str, list[int]] = {}
    for n, h in enumerate(kept):
        if h.number:
            by_number.setdefault(h.number, []).append(n)
    for idxs in by_number.values():
        if len(idxs) < 2:
            continue

        def size(n: int) -> int:
            end = kept[n + 1].line if n + 1 < len(kept) else len(lines)
            return sum(len(x) for x in lines[kept[n].body_start:end]) + len(kept[n].run_in)

        def toc_line(n: int) -> bool:  # 'D Supplementary Descriptions ... 17': a table-of-contents entry
            return bool(re.search(r"(?:\.\s*){2,}\d+$|\s\d{1,3}$", kept[n].raw.strip()))

        best = max(idxs, key=lambda n: (not toc_line(n), size(n)))
        for n in idxs:
            if n != best:
                kept[n].keep = False


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
    if not (title[0].isupper() or title[0] in "\"'(" or "\u0370" <= title[0] <= "\u03ff"):
        return False  # a capital, a quote, or a Greek letter ('F.5. κ Grows with the Number of Points')
    if title.endswith((".", ",", ";", ":")) and not title.endswith("etc."):
        return False
    if re.match(r"\([^()]*\d{4}[a-z]?\)", title):
        return False  # '(Hendrycks & Dietterich, 2019)': a citation's line, not a title
    if "_" in title or "@" in title or "http" in title.lower():
        return False  # identifiers, e-mail addresses, links: not headings
    letters = sum(c.isalpha() for c in title)
    digits = sum(c.isdigit() for c in title)
    # a table row has a comparison sign or several percentages; 'Results with 50% Label Noise' is a heading
    return letters >= 3 and digits <= letters // 3 and not re.search(r"[=<>±×]|\d\s*%.*\d\s*%|^\d+\s*%", title)


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


def _appendix_head(line: str, prev: tuple[int, ...]) -> tuple[str, str, tuple[int, ...]] | None:
    """An appendix heading line of PDF text ('A Proofs', 'B.1 Setup', 'Appendix C: More results') in sequence."""
    m = _APPENDIX_WORD.match(line) or _LETTER_NUMBER.match(line) or _LETTER_ALONE.match(line)
    if not m:
        return None
    title = _strip_page_number((m.group("title") or "").strip(" .:")) or f"Appendix {m.group('num')}"
    if not _looks_like_heading_title(title) and not _APPENDIX_WORD.match(line):
        return None
    num = m.group("num").upper()
    parts = num.split(".")
    head = re.match(r"([A-Z])(\d*)$", parts[0])  # 'B', or 'A1' in papers that number appendices A1, A2.1
    if head is None or not all(x.isdigit() for x in parts[1:]):
        return None
    key = (ord(head.group(1)) - 64, *((int(head.group(2)),) if head.group(2) else ()), *(int(x) for x in parts[1:]))
    if not _plausible_next(prev, key) and not (not prev and key == (1, 1)):
        return None
    return num, title, key


def _structure_pdf_text(text: str, cancel: object | None = None) -> PaperStructure:
    out = PaperStructure()
    lines = [ln.rstrip() for ln in text.splitlines()]
    heads: list[tuple[int, str, str]] = []  # (line index, number, title)
    prev: tuple[int, ...] = ()
    prev_app: tuple[int, ...] = ()
    zone = False
    abstract_at = -1
    for i, raw in enumerate(lines):
        if cancel is not None and i % 2000 == 0:
            cancel.raise_if_cancelled()  # type: ignore[attr-defined]
        line = raw.strip()
        if not line:
            continue
        if zone:
            app = _appendix_head(line, prev_app)
            if app is None and prev_app:
                # 'A. Proofs' after a 'B. Mt3: Meta test-time training ...' taken from the reference list (an
                # author's initial): a first appendix restarts the sequence while what came before has no children
                first = _appendix_head(line, ())
                taken = [h for h in heads if h[1] and h[1][0].isalpha()]
                if first is not None and first[2] == (1,) and len(taken) <= 2 and all("." not in h[1] for h in taken):
                    heads = [h for h in heads if h not in taken]
                    app = first
            if app is not None and not _repeats_nearby(lines, i, app[0]):
                heads.append((i, app[0], app[1]))
                prev_app = app[2]
                continue
        low = line.lower().rstrip(":.")
        if low in ("references", "bibliography", "appendix", "appendices") or low.startswith("supplementary"):
            zone = True
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
