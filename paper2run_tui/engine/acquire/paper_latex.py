"""LaTeX source as a paper: a .tex file with its \\input/\\include files, or an arXiv source tarball.

Numbering is LaTeX's own: \\section counters (letters after \\appendix, none for \\section*), equation counters
(equation/align without a star, \\nonumber and \\tag respected), table counters from \\caption inside table
environments, algorithm boxes. The result is the same PaperInfo as for PDFs and markdown, with equations and
tables already filled (their numbers come from the source, not from guessing in the text).
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from ..contracts.paper import PaperEquation, PaperInfo, PaperSection, PaperTable
from ..errors import UserError
from ..ports import CancelToken

MAX_TEX_BYTES = 8 * 1024 * 1024
MAX_TARBALL_MEMBERS = 5000
_INPUT = re.compile(r"\\(?:input|include)\s*\{([^}]+)\}")
_COMMENT = re.compile(r"(?<!\\)%.*$")
_HEADING = re.compile(r"\\(section|subsection|subsubsection)(\*?)\s*(?:\[[^\]]*\])?\s*\{")
_ENV = re.compile(r"\\(begin|end)\{(equation\*?|align\*?|eqnarray\*?|gather\*?|multline\*?|table\*?|algorithm\*?)\}")
_URL = re.compile(r"\\url\{(https?://github\.com/[^}\s]+)\}|(https?://github\.com/[\w.-]+/[\w.-]+)")


def _read_balanced(text: str, start: int) -> tuple[str, int]:
    """The {...} argument starting right after the opening brace at `start`; (content, index after '}')."""
    depth, i = 1, start
    while i < len(text) and depth:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        depth += c == "{"
        depth -= c == "}"
        i += 1
    return text[start:i - 1], i


def _strip_comments(text: str) -> str:
    return "\n".join(_COMMENT.sub("", line) for line in text.splitlines())


def _expand(path: Path, root: Path, cancel: CancelToken, seen: set[Path], budget: list[int]) -> str:
    cancel.raise_if_cancelled()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {path.name}: {exc.strerror}", "check the LaTeX source folder") from None
    budget[0] -= len(data)
    if budget[0] < 0:
        raise UserError("the LaTeX source is too big", f"give at most {MAX_TEX_BYTES // 2**20} MB of .tex")
    text = _strip_comments(data.decode("utf-8", errors="replace"))

    def sub(m: re.Match[str]) -> str:
        name = m.group(1).strip()
        child = (path.parent / name)
        if child.suffix != ".tex":
            child = child.with_name(child.name + ".tex")
        child = child.resolve()
        if not child.is_relative_to(root) or child in seen or not child.is_file():
            return ""  # outside the source folder, a cycle, or missing: nothing to inline
        seen.add(child)
        return _expand(child, root, cancel, seen, budget)

    return _INPUT.sub(sub, text)


def _main_tex(folder: Path) -> Path:
    candidates = sorted(folder.rglob("*.tex"))
    mains = [p for p in candidates if "\\documentclass" in p.read_text(errors="replace")[:20000]]
    if not mains:
        raise UserError(f"no main .tex file (with \\documentclass) in {folder}", "give the paper's main .tex file")
    return max(mains, key=lambda p: p.stat().st_size)


def unpack_source(tarball: Path, into: Path) -> Path:
    """An arXiv source tarball unpacked (safely: no absolute paths, no '..', no links) into `into`."""
    try:
        with tarfile.open(tarball) as tar:
            members = tar.getmembers()
            if len(members) > MAX_TARBALL_MEMBERS:
                raise UserError(f"{tarball.name} has {len(members)} files", "give the main .tex file instead")
            into.mkdir(parents=True, exist_ok=True)
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"{tarball.name} is not a readable source tarball ({exc})", "give the .tex file") from None
    return into


def read_latex(path: Path, *, source: str, cancel: CancelToken, cache_dir: Path | None = None) -> PaperInfo:
    """A .tex file (its \\input files read from its folder) or a .tar/.tar.gz/.tgz arXiv source tarball."""
    if path.suffix in (".gz", ".tgz", ".tar"):
        folder = (cache_dir or path.parent) / f"{path.name}.src"
        unpack_source(path, folder)
        path = _main_tex(folder)
    root = path.parent.resolve()
    text = _expand(path.resolve(), root, cancel, {path.resolve()}, [MAX_TEX_BYTES])
    return latex_paper(text, source=source, cancel=cancel)


def _clean(text: str) -> str:
    """LaTeX to plain-ish text a quote can be checked against (maths kept, commands' braces dropped)."""
    text = re.sub(r"\\(?:cite[tp]?|ref|eqref|label|citep|citet)\*?\s*(?:\[[^\]]*\])?\{[^}]*\}", "", text)
    text = re.sub(r"\\(?:textbf|textit|emph|texttt|mathrm|text)\s*\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\\paragraph\s*\{([^{}]*)\}", r"\1.", text)
    text = text.replace("~", " ").replace("\\_", "_").replace("``", '"').replace("''", '"')
    return re.sub(r"[ \t]+", " ", text)


def latex_paper(text: str, *, source: str, cancel: CancelToken) -> PaperInfo:
    body_at = text.find("\\begin{document}")
    body = text[body_at + len("\\begin{document}"):] if body_at >= 0 else text
    title = _first_arg(text, "\\title")
    abstract = ""
    m = re.search(r"\\begin\{abstract\}(.*?)\\end\{abstract\}", body, re.DOTALL)
    if m:
        abstract = _clean(m.group(1)).strip()
    counters = [0, 0, 0]
    appendix = False
    sections: list[PaperSection] = [PaperSection(number="", title="Abstract", text=abstract)] if abstract else []
    equations: list[PaperEquation] = []
    tables: list[PaperTable] = []
    eq_count = table_count = 0
    current = ""
    pos = 0
    pieces: list[str] = []
    events = sorted(
        [(m.start(), "head", m) for m in _HEADING.finditer(body)]
        + [(m.start(), "env", m) for m in _ENV.finditer(body)]
        + [(m.start(), "appendix", m) for m in re.finditer(r"\\appendix\b", body)]
    , key=lambda e: e[0])
    env_start: dict[str, int] = {}
    for n, (at, what, m) in enumerate(events):
        if n % 200 == 0:
            cancel.raise_if_cancelled()
        if what == "appendix":
            appendix, counters = True, [0, 0, 0]
            continue
        if what == "head":
            pieces.append(body[pos:at])
            if sections:
                sections[-1] = sections[-1].model_copy(update={"text": _clean("".join(pieces)).strip()})
            pieces = []
            head, end = _read_balanced(body, m.end())
            level = ("section", "subsection", "subsubsection").index(m.group(1))
            if m.group(2):
                number = ""
            else:
                counters[level] += 1
                counters[level + 1:] = [0] * (2 - level)
                first = chr(64 + counters[0]) if appendix else str(counters[0])
                number = ".".join([first, *map(str, counters[1:level + 1])])
                current = number
            sections.append(PaperSection(number=number, title=_clean(head).strip(), text="", level=level + 1))
            pos = end
            continue
        kind, env = m.group(1), m.group(2)
        if kind == "begin":
            env_start[env] = m.end()
            continue
        inner = body[env_start.pop(env, m.start()):m.start()]
        base = env.rstrip("*")
        if base == "table":
            cap = re.search(r"\\caption\s*\{", inner)
            if cap:
                table_count += 1
                caption, _ = _read_balanced(inner, cap.end())
                tables.append(PaperTable(number=str(table_count), caption=_clean(caption).strip()[:300], section=current))
        elif base != "algorithm":
            rows = re.split(r"\\\\", inner) if base in ("align", "eqnarray", "gather") else [inner]
            for row in rows:
                tag = re.search(r"\\tag\{([^}]+)\}", row)
                if tag:
                    number = tag.group(1)
                elif env.endswith("*") or "\\nonumber" in row or "\\notag" in row or not row.strip():
                    continue
                else:
                    eq_count += 1
                    number = str(eq_count)
                equations.append(PaperEquation(number=number, section=current, text=re.sub(r"\s+", " ", row).strip()[:500]))
    pieces.append(body[pos:])
    if sections:
        sections[-1] = sections[-1].model_copy(update={"text": _clean("".join(pieces)).strip()})
    plain = "\n\n".join(f"{s.number} {s.title}\n{s.text}" for s in sections)
    return PaperInfo(source=source, kind="latex", title=_clean(title).strip(), abstract=abstract, text=plain,
                     sections=sections, equations=equations, tables=tables, code_url=official_code_url(plain))


def _first_arg(text: str, command: str) -> str:
    at = text.find(command + "{")
    if at < 0:
        return ""
    return _read_balanced(text, at + len(command) + 1)[0]


_GITHUB = re.compile(r"(?:https?\s*:\s*//\s*)?(?:www\.)?github\.com/\s*([\w.-]+)/([\w.-]+)", re.I)
_OWN_CODE = re.compile(
    r"\b(?:our|this)\s+(?:[\w-]+\s+){0,2}(?:code|implementation|codebase|repository)\b"
    r"|\bcode\s+(?:for|to)\s+(?:this|our|reproduce)\b"
    r"|\b(?:code|implementation)\b[^.]{0,40}\b(?:is|are)\s+(?:publicly\s+|freely\s+)?(?:available|released|provided)"
    r"|(?:^|[.\n])\s*code\s*:", re.I)
_OTHERS_CODE = re.compile(r"\b(?:we\s+use[ds]?|their|baselines?|authors of)\b", re.I)


#: a URL broken at a line end after a separator ('github.com/lab/opt_for_\npinns', 'github.com/lab/my-\nrepo'): a URL
#: breaks without adding a hyphen, so the pieces join as they are
_URL_BREAK = re.compile(r"(github\.com/[\w./-]*[/_-])[ \t]*\n[ \t]*(?=[\w.-])", re.I)
_TRAILING = ".,;:)]}'\"”’"


def _repository(url: str) -> str:
    """'https://github.com/a/b.git/', 'github.com/a/b).' -> 'https://github.com/a/b'; '' when not a repository."""
    m = _GITHUB.search(url)
    if not m:
        return ""
    repo = m.group(2).rstrip(_TRAILING).removesuffix(".git").rstrip(_TRAILING)
    return f"https://github.com/{m.group(1)}/{repo}" if repo else ""


def official_code_url(text: str, links: tuple[str, ...] | list[str] = ()) -> str:
    """The repository the paper says holds its own code ('Our code is available at github.com/...'), or ''.

    Only in a sentence that claims the code as the paper's: baselines' repositories ('we use their released code
    from ...') and the reference list's links are not it. `links` are the PDF's link targets: text extraction loses
    characters of a URL (underscores drawn as spaces: 'opt for pinns'), the link keeps them, so a link that extends
    the URL read from the text is taken instead.
    """
    text = _URL_BREAK.sub(r"\1", text)
    for m in _GITHUB.finditer(text):
        # the sentence before the URL, across the single line breaks of PDF text
        start = max(text.rfind(". ", 0, m.start()), text.rfind(".\n", 0, m.start()), text.rfind("\n\n", 0, m.start())) + 1
        sentence = text[start:m.start()]
        if _OWN_CODE.search(sentence) and not _OTHERS_CODE.search(sentence):
            url = _repository(m.group(0))
            if not url:
                continue
            for link in links:
                full = _repository(link)
                if full.lower().startswith(url.lower()) and len(full) > len(url):
                    return full
            return url
    return ""
