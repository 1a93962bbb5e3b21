"""Load the paper: a PDF (pypdf), a markdown file, or an arXiv id/URL; or the repo's markdown as fallback.

A paper is optional context for planning, but a bad one given on purpose is still bad
input: encrypted, scanned or broken PDFs and binary "markdown" each get one line saying
what to give instead. The repo-markdown fallback never fails a run: odd bytes become
replacement characters and a warning.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path
from typing import Literal

from ..contracts.events import LogLine
from ..contracts.paper import PaperInfo
from ..errors import UserError
from ..ports import CancelToken, EventSink
from .arxiv import arxiv_id_of, cache_path, cached_source, fetch_arxiv_pdf, fetch_arxiv_source
from .paper_latex import official_code_url
from .paper_structure import split_authors, structure_paper

PDF_SUFFIXES = {".pdf"}
MARKDOWN_SUFFIXES = {".md", ".markdown"}
LATEX_SUFFIXES = {".tex", ".gz", ".tgz", ".tar"}
MAX_PAGES = 400
MAX_MARKDOWN_BYTES = 20 * 1024 * 1024
REPO_MARKDOWN_FILE_CHARS = 200_000
REPO_MARKDOWN_TOTAL_CHARS = 400_000
_MIN_TEXT_CHARS = 40
_FIX_PDF = "check the file is a complete PDF (download it again), or give the paper's markdown"


def load_paper(
    spec: str,
    *,
    cache_dir: Path,
    arxiv_base_url: str = "https://arxiv.org",
    sink: EventSink,
    cancel: CancelToken,
    timeout_s: float = 60,
) -> PaperInfo:
    """--paper as given: a .pdf or .md/.markdown path, an arXiv id, or an arXiv abs/pdf URL."""
    spec = spec.strip()
    if not spec:
        raise UserError("no paper given", "pass --paper with a .pdf, a .md file, or an arXiv id")
    path = Path(spec).expanduser()
    arxiv_id = None if path.is_file() else arxiv_id_of(spec, arxiv_base_url)
    if arxiv_id is not None:
        source = None if cache_path(cache_dir.expanduser(), arxiv_id).is_file() and \
            cached_source(cache_dir, arxiv_id) is None else fetch_arxiv_source(
                arxiv_id, cache_dir=cache_dir, base_url=arxiv_base_url, sink=sink, cancel=cancel, timeout_s=timeout_s)
        if source is not None:
            from .paper_latex import read_latex

            try:
                info = read_latex(source, source=spec, cancel=cancel, cache_dir=cache_dir / "arxiv")
            except UserError as err:
                sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: the source cannot be read ({err}); "
                                                         "using the PDF"))
            else:
                if info.sections:
                    sink.emit(LogLine(source="acquire", text=(
                        f"paper: {len(info.sections)} sections from the LaTeX source of arXiv {arxiv_id}")))
                    return info
                sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: no sections in the source; using the PDF"))
        pdf = fetch_arxiv_pdf(
            arxiv_id,
            cache_dir=cache_dir,
            base_url=arxiv_base_url,
            sink=sink,
            cancel=cancel,
            timeout_s=timeout_s,
        )
        return read_pdf(pdf, source=spec, kind="arxiv", sink=sink, cancel=cancel)
    if re.match(r"^[a-z][a-z0-9+.-]*://", spec, re.IGNORECASE):
        raise UserError(
            f"only arXiv links can be downloaded, not {spec}",
            "give an arXiv id or URL, or download the PDF and pass its path",
        )
    suffix = path.suffix.lower()
    if suffix not in PDF_SUFFIXES | MARKDOWN_SUFFIXES | LATEX_SUFFIXES:
        raise UserError(
            f"not a paper format: {spec}",
            "give a .pdf, a .md/.markdown file, a .tex file or source tarball, an arXiv id (1706.03762) or an arXiv URL",
        )
    if not path.exists():
        raise UserError(f"no such paper file: {spec}", "check the path")
    if not path.is_file():
        raise UserError(f"{spec} is a folder, not a paper file", "give the paper's .pdf or .md file")
    if suffix in PDF_SUFFIXES:
        return read_pdf(path, source=spec, kind="pdf", sink=sink, cancel=cancel)
    if suffix in LATEX_SUFFIXES:
        from .paper_latex import read_latex

        info = read_latex(path, source=spec, cancel=cancel, cache_dir=cache_dir)
        sink.emit(LogLine(source="acquire", text=f"paper: {len(info.sections)} sections from the LaTeX of {spec}"))
        return info
    return read_markdown(path, source=spec, sink=sink, cancel=cancel)


# --- PDF ---------------------------------------------------------------------------------------------------


def read_pdf(
    path: Path, *, source: str, kind: Literal["pdf", "arxiv"], sink: EventSink, cancel: CancelToken
) -> PaperInfo:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    warnings: list[str] = []
    try:
        reader = PdfReader(str(path), strict=False)
        encrypted = reader.is_encrypted
    except Exception as exc:  # noqa: BLE001 - pypdf raises many types on damaged files
        raise UserError(f"{source} is not a readable PDF ({_brief(exc)})", _FIX_PDF) from None
    if encrypted:
        try:
            opened = bool(reader.decrypt(""))
        except DependencyError:
            raise UserError(
                f"{source} is AES-encrypted and no AES library is installed",
                "install `cryptography` (pip install 'pypdf[crypto]'), or give a decrypted copy or the markdown",
            ) from None
        except Exception:  # noqa: BLE001 - unsupported or damaged encryption: same answer as a password
            opened = False
        if not opened:
            raise UserError(
                f"{source} is encrypted (password-protected)", "give a decrypted copy or the markdown"
            )
        warnings.append(f"{source} is encrypted with an empty password; read it anyway")
    try:
        pages = list(reader.pages)
    except Exception as exc:  # noqa: BLE001
        raise UserError(f"{source} is not a readable PDF ({_brief(exc)})", _FIX_PDF) from None
    if not pages:
        raise UserError(f"{source} has no pages", _FIX_PDF)
    if len(pages) > MAX_PAGES:
        warnings.append(f"{source} has {len(pages)} pages; only the first {MAX_PAGES} were read")
    texts: list[str] = []
    links: list[str] = []
    failed: list[int] = []
    for number, page in enumerate(pages[:MAX_PAGES], start=1):
        cancel.raise_if_cancelled()
        try:
            texts.append(page.extract_text() or "")
        except Exception:  # noqa: BLE001 - one bad page must not lose the paper
            failed.append(number)
            texts.append("")
        links += _page_links(page)
        if number % 25 == 0:
            sink.emit(LogLine(source="acquire", text=f"paper: read {number} of {len(pages)} pages"))
    if failed:
        warnings.append(f"text could not be extracted from page(s) {', '.join(map(str, failed[:10]))}")
    text = "\n\n".join(t.strip("\n") for t in texts).strip()
    if len(re.sub(r"\s+", "", text)) < _MIN_TEXT_CHARS:
        raise UserError(
            f"{source} has no extractable text (an image-only or scanned PDF)",
            "run OCR on it first (e.g. `ocrmypdf in.pdf out.pdf`) or give a markdown version",
        )
    meta_title, meta_authors = _pdf_metadata(reader)
    title, authors, abstract, sections = structure_paper(text, kind, cancel)
    sink.emit(
        LogLine(source="acquire", text=f"paper: {len(pages)} pages, {len(sections)} sections from {source}")
    )
    return PaperInfo(
        source=source,
        kind=kind,
        title=meta_title or title,
        authors=meta_authors or authors,
        abstract=abstract,
        text=text,
        sections=sections,
        code_url=official_code_url(text, links),
        pages=len(pages),
        warnings=warnings,
    )


def _page_links(page: object) -> list[str]:
    """The URI targets of a page's link annotations (the full URL, where the text may have lost characters)."""
    out: list[str] = []
    try:
        for annot in page.get("/Annots") or []:  # type: ignore[attr-defined]
            action = annot.get_object().get("/A")
            uri = action.get_object().get("/URI") if action is not None else None
            if isinstance(uri, (str, bytes)):
                out.append(uri.decode("latin-1") if isinstance(uri, bytes) else str(uri))
    except Exception:  # noqa: BLE001 - a damaged annotation must not lose the paper
        return out
    return out


def _pdf_metadata(reader: object) -> tuple[str, list[str]]:
    try:
        meta = reader.metadata  # type: ignore[attr-defined]
        title = str(meta.title or "").strip() if meta else ""
        author = str(meta.author or "").strip() if meta else ""
    except Exception:  # noqa: BLE001 - metadata is a bonus
        return "", []
    if re.search(r"^(untitled|microsoft word - )|\.(pdf|dvi|tex|docx?)$", title, re.IGNORECASE):
        title = ""
    return title, split_authors(author) if author else []


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]}" if text else type(exc).__name__


# --- markdown ---------------------------------------------------------------------------------------------


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return True
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13, 27))
    return bool(head) and control / len(head) > 0.1


def _decode_text(data: bytes, name: str, warnings: list[str]) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        warnings.append(f"{name} is not UTF-8; read it as Latin-1 (some characters may be wrong)")
        return data.decode("latin-1")


def read_markdown(path: Path, *, source: str, sink: EventSink, cancel: CancelToken | None = None) -> PaperInfo:
    try:
        size = path.stat().st_size
        if size > MAX_MARKDOWN_BYTES:
            raise UserError(
                f"{source} is {size // 2**20} MB, too big for a paper's markdown", "give the paper as a PDF"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise UserError(f"cannot read {source}: {exc.strerror}", "check the file's permissions") from None
    if _looks_binary(data) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(
            f"{source} is binary, not markdown text", "give the paper as a .pdf or a UTF-8 .md file"
        )
    warnings: list[str] = []
    text = _decode_text(data, source, warnings)
    if not text.strip():
        raise UserError(f"{source} is empty", "give the paper's text")
    title, authors, abstract, sections = structure_paper(text, "markdown", cancel)
    sink.emit(LogLine(source="acquire", text=f"paper: {len(sections)} sections from {source}"))
    return PaperInfo(
        source=source,
        kind="markdown",
        title=title,
        authors=authors,
        abstract=abstract,
        text=text,
        sections=sections,
        warnings=warnings,
        code_url=official_code_url(text),
    )


# --- the repository's markdown as the fallback paper ----------------------------------------------------


def repo_markdown_files(repo_dir: Path) -> list[Path]:
    """README*.md at the top (any README* if there is no markdown one), then docs/*.md, sorted."""
    root = repo_dir.resolve()

    def files(folder: Path, pattern: str) -> list[Path]:
        try:
            found = (p for p in folder.glob(pattern) if p.is_file() and p.resolve().is_relative_to(root))
            return sorted(found, key=lambda p: p.name.lower())
        except OSError:
            return []

    readmes = [p for p in files(repo_dir, "*") if p.name.lower().startswith("readme")]
    markdown = [p for p in readmes if p.suffix.lower() in MARKDOWN_SUFFIXES]
    chosen = markdown or readmes[:1]
    docs = repo_dir / "docs"
    extra = [p for p in files(docs, "*") if p.suffix.lower() in MARKDOWN_SUFFIXES] if docs.is_dir() else []
    return chosen + extra


def paper_from_repo_markdown(repo_dir: Path) -> PaperInfo | None:
    """No paper given: the README and docs/*.md stand in for it (bounded), or None if there are none."""
    paths = repo_markdown_files(repo_dir)
    if not paths:
        return None
    warnings: list[str] = []
    parts: list[str] = []
    used: list[str] = []
    budget = REPO_MARKDOWN_TOTAL_CHARS
    for path in paths:
        rel = path.relative_to(repo_dir).as_posix()
        if budget <= 0:
            warnings.append(
                f"{rel} and later files were left out (the repository markdown is capped at {REPO_MARKDOWN_TOTAL_CHARS} characters)"
            )
            break
        try:
            with path.open("rb") as fh:
                data = fh.read(REPO_MARKDOWN_FILE_CHARS * 4 + 1)
        except OSError as exc:
            warnings.append(f"{rel} could not be read ({exc.strerror}); skipped")
            continue
        truncated = len(data) > REPO_MARKDOWN_FILE_CHARS * 4
        text = _decode_lenient(data[: REPO_MARKDOWN_FILE_CHARS * 4], rel, warnings, truncated=truncated)
        limit = min(REPO_MARKDOWN_FILE_CHARS, budget)
        if len(text) > limit:
            text = text[:limit]
            warnings.append(f"{rel} was cut to {limit} characters")
        if not text.strip():
            continue
        budget -= len(text)
        used.append(rel)
        parts.append(f"<!-- {rel} -->\n{text.strip()}")
    if not parts:
        return None
    text = "\n\n".join(parts)
    title, authors, abstract, sections = structure_paper(text, "repo-markdown")
    return PaperInfo(
        source=", ".join(used),
        kind="repo-markdown",
        title=title,
        authors=authors,
        abstract=abstract,
        text=text,
        sections=sections,
        warnings=warnings,
    )


def _decode_lenient(data: bytes, name: str, warnings: list[str], *, truncated: bool = False) -> str:
    """Never fails: binary bytes and bad encodings become replacement characters, with a warning."""
    if _looks_binary(data) and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        warnings.append(f"{name} looks binary, not text; read with replacement characters")
        text = data.decode("utf-8", errors="replace").replace("\x00", "")
        return "".join(c for c in text if c >= " " or c in "\n\t")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        # a cut at the read limit may split a character: let the incremental decoder hold it back
        return codecs.getincrementaldecoder("utf-8-sig")().decode(data, final=not truncated)
    except UnicodeDecodeError:
        warnings.append(f"{name} is not valid UTF-8; undecodable bytes were replaced")
        return data.decode("utf-8", errors="replace")
