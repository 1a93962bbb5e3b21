"""arXiv ids and URLs, and cached, cancellable downloads of a paper's e-print source and PDF from a configurable
base URL. The source (LaTeX: sections, equations and tables numbered by LaTeX itself) is tried first; the PDF is
the fallback when the source is not reachable or is not LaTeX (PDF-only submissions).

The base URL is configurable (PAPER2RUN_ARXIV_BASE_URL) so a mirror or a test server can
stand in for arxiv.org; the cache means a paper is downloaded once per machine.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from http.client import HTTPResponse
from pathlib import Path

from ..contracts.events import LogLine
from ..errors import UserError
from ..ports import CancelToken, EventSink
from ..record.atomic import write_bytes_atomic

_NEW = r"\d{4}\.\d{4,5}(?:v\d+)?"
_OLD = r"[a-z]+(?:-[a-z]+)*(?:\.[a-z]{2})?/\d{7}(?:v\d+)?"
_ID = re.compile(rf"^(?:arxiv:\s*)?(?P<id>{_NEW}|{_OLD})$", re.IGNORECASE)
_URL = re.compile(
    rf"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/(?P<id>{_NEW}|{_OLD})(?:\.pdf)?/?(?:[?#].*)?$",
    re.IGNORECASE,
)
MAX_PDF_BYTES = 200 * 1024 * 1024
_CHUNK = 64 * 1024
_FIX_OFFLINE = (
    "check the network (or PAPER2RUN_ARXIV_BASE_URL), or download the PDF and pass its path with --paper"
)


def arxiv_id_of(spec: str, base_url: str = "https://arxiv.org") -> str | None:
    """The arXiv id in '1706.03762', 'arXiv:1706.03762v5', 'hep-th/9901001', or an abs/pdf URL."""
    spec = spec.strip()
    m = _ID.match(spec) or _URL.match(spec)
    if m:
        return m.group("id")
    base = base_url.rstrip("/")
    for kind in ("abs", "pdf", "html"):
        prefix = f"{base}/{kind}/"
        if spec.startswith(prefix):
            rest = spec[len(prefix) :].split("?")[0].split("#")[0].rstrip("/")
            rest = rest[:-4] if rest.endswith(".pdf") else rest
            if _ID.match(rest):
                return rest
    return None


def cache_path(cache_dir: Path, arxiv_id: str) -> Path:
    return cache_dir / "arxiv" / (arxiv_id.replace("/", "_") + ".pdf")


#: The cached e-print source of an id, by the form arXiv sent it in (a gzipped tar, a plain tar, one gzipped .tex).
SOURCE_SUFFIXES = (".tar.gz", ".tar", ".tex")


def cached_source(cache_dir: Path, arxiv_id: str) -> Path | None:
    base = cache_dir.expanduser() / "arxiv" / arxiv_id.replace("/", "_")
    return next((p for p in (base.with_name(base.name + s) for s in SOURCE_SUFFIXES) if p.is_file()), None)


def _source_form(data: bytes) -> tuple[str, bytes] | None:
    """(suffix, bytes to keep) for an e-print: a gzipped tar stays as it is, one gzipped .tex file is unpacked;
    None for anything else (a PDF, an HTML page)."""
    if data.startswith(b"\x1f\x8b"):
        try:
            inner = gzip.decompress(data)
        except (OSError, EOFError):
            return None
        if _is_tar(inner):
            return ".tar.gz", data
        text = inner[:4000].decode("utf-8", errors="replace")
        return (".tex", inner) if re.search(r"\\(?:documentclass|begin\{document\}|section)", text) else None
    if _is_tar(data):
        return ".tar", data
    return None


def _is_tar(data: bytes) -> bool:
    return len(data) > 262 and data[257:262] == b"ustar"


def _cache_folder(folder: Path) -> Path:
    """The paper cache folder, made if missing; a folder that cannot be made is the user's to fix."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"cannot create the paper cache {folder}: {exc.strerror}", "set PAPER2RUN_CACHE_DIR to a writable folder"
        ) from exc
    return folder


def fetch_arxiv_source(
    arxiv_id: str,
    *,
    cache_dir: Path,
    base_url: str,
    sink: EventSink,
    cancel: CancelToken,
    timeout_s: float = 60,
) -> Path | None:
    """The cached e-print source of `arxiv_id`, downloaded first if needed; None (said in the log) when arXiv has
    none for it, it is not LaTeX, or it cannot be reached: the caller falls back to the PDF."""
    cached = cached_source(cache_dir, arxiv_id)
    if cached is not None:
        sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: using the cached source {cached}"))
        return cached
    folder = _cache_folder(cache_dir.expanduser() / "arxiv")
    url = f"{base_url.rstrip('/')}/e-print/{arxiv_id}"
    sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: downloading the source {url}"))
    request = urllib.request.Request(url, headers={"User-Agent": "paper2run-tui/0.1 (paper download)"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310 - http(s) only, base URL is config
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        why = f"HTTP {exc.code}" if isinstance(exc, urllib.error.HTTPError) else str(getattr(exc, "reason", exc))
        sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: no source ({why}); using the PDF"))
        return None
    with response:
        data = bytearray()
        while True:
            cancel.raise_if_cancelled()
            try:
                chunk = response.read(_CHUNK)
            except (TimeoutError, OSError) as exc:
                sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: the source download stalled ({exc}); "
                                                         "using the PDF"))
                return None
            if not chunk:
                break
            data += chunk
            if len(data) > MAX_PDF_BYTES:
                sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: the source is over "
                                                         f"{MAX_PDF_BYTES // 2**20} MB; using the PDF"))
                return None
    form = _source_form(bytes(data))
    if form is None:
        sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: the e-print is not LaTeX source; using the PDF"))
        return None
    suffix, keep = form
    target = folder / (arxiv_id.replace("/", "_") + suffix)
    write_bytes_atomic(target, keep)
    sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: saved the source ({len(data) / 1e6:.2f} MB) to "
                                             f"{target}"))
    return target


def _is_pdf(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            return fh.read(5) == b"%PDF-"
    except OSError:
        return False


def fetch_arxiv_pdf(
    arxiv_id: str,
    *,
    cache_dir: Path,
    base_url: str,
    sink: EventSink,
    cancel: CancelToken,
    timeout_s: float = 60,
) -> Path:
    """Return the cached PDF for `arxiv_id`, downloading it first if needed (atomically)."""
    target = cache_path(cache_dir.expanduser(), arxiv_id)
    if target.is_file() and _is_pdf(target):
        sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: using the cached PDF {target}"))
        return target
    _cache_folder(target.parent)
    url = f"{base_url.rstrip('/')}/pdf/{arxiv_id}"
    sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: downloading {url}"))
    request = urllib.request.Request(url, headers={"User-Agent": "paper2run-tui/0.1 (paper download)"})
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)  # noqa: S310 - http(s) only, base URL is config
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            raise UserError(
                f"arXiv has no paper {arxiv_id} ({url}: HTTP 404)",
                "check the id (e.g. 1706.03762, 1706.03762v2 or hep-th/9901001)",
            ) from None
        raise UserError(
            f"downloading arXiv {arxiv_id} failed: HTTP {exc.code} from {url}", _FIX_OFFLINE
        ) from None
    except urllib.error.URLError as exc:
        raise UserError(
            f"cannot reach {base_url} to download arXiv {arxiv_id} ({exc.reason})", _FIX_OFFLINE
        ) from None
    except (TimeoutError, OSError) as exc:
        raise UserError(f"downloading arXiv {arxiv_id} from {url} failed ({exc})", _FIX_OFFLINE) from None
    with response:
        return _save(response, target, url, arxiv_id, sink, cancel)


def _save(
    response: HTTPResponse, target: Path, url: str, arxiv_id: str, sink: EventSink, cancel: CancelToken
) -> Path:
    total = int(response.headers.get("Content-Length") or 0)
    ctype = response.headers.get("Content-Type", "")
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-", suffix=".pdf")
    tmp = Path(tmp_name)
    done, next_note, last_note = 0, 0.1, time.monotonic()
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                cancel.raise_if_cancelled()
                try:
                    chunk = response.read(_CHUNK)
                except (TimeoutError, OSError) as exc:
                    raise UserError(
                        f"downloading arXiv {arxiv_id} from {url} stalled ({exc})", _FIX_OFFLINE
                    ) from None
                if not chunk:
                    break
                out.write(chunk)
                done += len(chunk)
                if done > MAX_PDF_BYTES:
                    raise UserError(
                        f"{url} sent more than {MAX_PDF_BYTES // 2**20} MB",
                        "download the PDF yourself and pass its path",
                    )
                now = time.monotonic()
                if total and done / total >= next_note:
                    sink.emit(
                        LogLine(
                            source="acquire",
                            text=f"arXiv {arxiv_id}: {done * 100 // total}% of {total / 1e6:.1f} MB",
                        )
                    )
                    while next_note <= done / total:
                        next_note += 0.1
                elif not total and now - last_note > 1.0:
                    sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: {done / 1e6:.1f} MB"))
                    last_note = now
        if total and done < total:
            raise UserError(
                f"downloading arXiv {arxiv_id}: the connection closed early ({done} of {total} bytes)",
                _FIX_OFFLINE,
            )
        if not _is_pdf(tmp):
            raise UserError(
                f"{url} did not return a PDF (Content-Type {ctype or 'unknown'})",
                "check the arXiv id and PAPER2RUN_ARXIV_BASE_URL, or download the PDF and pass its path",
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    sink.emit(LogLine(source="acquire", text=f"arXiv {arxiv_id}: saved {done / 1e6:.2f} MB to {target}"))
    return target
