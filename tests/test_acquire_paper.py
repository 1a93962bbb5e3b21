"""Papers: PDFs made by fpdf2, markdown, arXiv downloads from a real local HTTP server, the repo-markdown fallback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod

from paper2run_tui.engine.acquire.arxiv import arxiv_id_of, cache_path
from paper2run_tui.engine.acquire.paper import load_paper, paper_from_repo_markdown
from paper2run_tui.engine.acquire.paper_structure import split_authors, structure_paper
from paper2run_tui.engine.contracts.events import LogLine
from paper2run_tui.engine.contracts.paper import PaperSection
from paper2run_tui.engine.errors import UserError
from paper2run_tui.engine.ports import Cancelled, CancelToken, ListSink

PAPER_LINES = [
    "Attention Is All You Need",
    "Ashish Vaswani, Noam Shazeer, Niki Parmar",
    "",
    "Abstract",
    "The dominant sequence transduction models are based on complex recurrent networks.",
    "We propose a new simple network architecture, the Transformer.",
    "",
    "1 Introduction",
    "Recurrent neural networks have been firmly established as state of the art.",
    "2 layers were used in the baseline, as in prior work.",
    "2 Background",
    "The goal of reducing sequential computation also forms the foundation.",
    "3 Model Architecture",
    "Most competitive neural sequence transduction models have an encoder-decoder structure.",
    "3.1 Encoder and Decoder Stacks",
    "The encoder is composed of a stack of N = 6 identical layers.",
    "6 512 2048 8 0.1",
    "3.2 Attention",
    "An attention function maps a query and a set of key-value pairs to an output.",
    "3.2.1 Scaled Dot-Product Attention",
    "We call our particular attention Scaled Dot-Product Attention.",
    "4 Why Self-Attention",
    "We compare various aspects of self-attention layers to recurrent layers.",
    "References",
    "1. A. Graves. Generating sequences with recurrent neural networks.",
]

EXPECTED_PDF_SECTIONS = [
    ("", "Abstract", 1),
    ("1", "Introduction", 1),
    ("2", "Background", 1),
    ("3", "Model Architecture", 1),
    ("3.1", "Encoder and Decoder Stacks", 2),
    ("3.2", "Attention", 2),
    ("3.2.1", "Scaled Dot-Product Attention", 3),
    ("4", "Why Self-Attention", 1),
    ("", "References", 1),
]


def make_pdf(
    path: Path,
    lines: list[str],
    *,
    title: str | None = None,
    author: str | None = None,
    user_password: str | None = None,
    pages: int = 1,
    method: EncryptionMethod = EncryptionMethod.RC4,
) -> Path:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    if title:
        pdf.set_title(title)
    if author:
        pdf.set_author(author)
    if user_password is not None:
        pdf.set_encryption(
            owner_password="owner-secret", user_password=user_password, encryption_method=method
        )
    per_page = max(1, -(-len(lines) // pages))
    for start in range(0, len(lines), per_page):
        pdf.add_page()
        for line in lines[start : start + per_page]:
            pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def image_only_pdf(path: Path, tmp: Path) -> Path:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (600, 200), "white")
    ImageDraw.Draw(img).text((20, 80), "3 Model Architecture (scanned)", fill="black")
    png = tmp / "scan.png"
    img.save(png)
    pdf = FPDF()
    pdf.add_page()
    pdf.image(str(png), x=10, y=10, w=180)
    pdf.output(str(path))
    return path


def load(spec: str, tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    sink = ListSink()
    info = load_paper(spec, cache_dir=tmp_path / "cache", sink=sink, cancel=CancelToken(), **kw)  # type: ignore[arg-type]
    return info, sink


# --- PDF -------------------------------------------------------------------------------------------------


def test_pdf_pages_metadata_and_numbered_sections(tmp_path: Path) -> None:
    pdf = make_pdf(
        tmp_path / "attention.pdf",
        PAPER_LINES,
        title="Attention Is All You Need",
        author="Ashish Vaswani, Noam Shazeer and Niki Parmar",
        pages=2,
    )
    info, sink = load(str(pdf), tmp_path)
    assert info.kind == "pdf"
    assert info.source == str(pdf)
    assert info.pages == 2
    assert info.title == "Attention Is All You Need"
    assert info.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    assert info.abstract == (
        "The dominant sequence transduction models are based on complex recurrent networks. "
        "We propose a new simple network architecture, the Transformer."
    )
    assert [(s.number, s.title, s.level) for s in info.sections] == EXPECTED_PDF_SECTIONS
    attention = next(s for s in info.sections if s.number == "3.2.1")
    assert attention.text == "We call our particular attention Scaled Dot-Product Attention."
    stacks = next(s for s in info.sections if s.number == "3.1")
    assert "6 512 2048 8 0.1" in stacks.text, "a table row is body text, not a heading"
    intro = next(s for s in info.sections if s.number == "1")
    assert "2 layers were used in the baseline" in intro.text, (
        "a sentence starting with a number is not a heading"
    )
    assert "Scaled Dot-Product Attention" in info.text
    assert info.warnings == []
    assert any(
        isinstance(e, LogLine) and e.text.startswith("paper: 2 pages, 9 sections") for e in sink.events
    )


def test_pdf_without_metadata_takes_the_title_from_the_first_line(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "p.pdf", ["arXiv:1706.03762v7 [cs.CL] 2 Aug 2023", *PAPER_LINES])
    info, _ = load(str(pdf), tmp_path)
    assert info.title == "Attention Is All You Need"
    assert info.authors == []


def test_encrypted_pdf_with_a_password_is_refused(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "locked.pdf", PAPER_LINES, user_password="s3cret")
    with pytest.raises(UserError) as info:
        load(str(pdf), tmp_path)
    assert (
        str(info.value) == f"{pdf} is encrypted (password-protected) — give a decrypted copy or the markdown"
    )


def test_encrypted_pdf_with_empty_password_is_read(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "owner-only.pdf", PAPER_LINES, user_password="")
    info, _ = load(str(pdf), tmp_path)
    assert [s.number for s in info.sections if s.number] == ["1", "2", "3", "3.1", "3.2", "3.2.1", "4"]
    assert info.warnings == [f"{pdf} is encrypted with an empty password; read it anyway"]


def test_aes_encrypted_pdfs(tmp_path: Path) -> None:
    """Publisher PDFs are often AES-encrypted with an empty user password (needs `cryptography`)."""
    readable = make_pdf(
        tmp_path / "aes-open.pdf", PAPER_LINES, user_password="", method=EncryptionMethod.AES_128
    )
    info, _ = load(str(readable), tmp_path)
    assert [s.number for s in info.sections if s.number] == ["1", "2", "3", "3.1", "3.2", "3.2.1", "4"]
    locked = make_pdf(
        tmp_path / "aes-locked.pdf", PAPER_LINES, user_password="pw", method=EncryptionMethod.AES_256
    )
    with pytest.raises(UserError, match=r"is encrypted \(password-protected\) — give a decrypted copy"):
        load(str(locked), tmp_path)


def test_image_only_pdf_suggests_ocr(tmp_path: Path) -> None:
    pdf = image_only_pdf(tmp_path / "scan.pdf", tmp_path)
    with pytest.raises(UserError) as info:
        load(str(pdf), tmp_path)
    assert str(info.value).startswith(f"{pdf} has no extractable text (an image-only or scanned PDF)")
    assert "OCR" in info.value.fix and "markdown" in info.value.fix


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a pdf at all",
        b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog",
        b"<html><body>Not found</body></html>",
    ],
)
def test_broken_pdf(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(content)
    with pytest.raises(UserError) as info:
        load(str(bad), tmp_path)
    assert str(info.value).startswith(f"{bad} ")
    assert "not a readable PDF" in str(info.value) or "has no pages" in str(info.value)
    assert "complete PDF" in info.value.fix


def test_truncated_real_pdf(tmp_path: Path) -> None:
    good = make_pdf(tmp_path / "good.pdf", PAPER_LINES)
    cut = tmp_path / "cut.pdf"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(UserError, match="complete PDF"):
        load(str(cut), tmp_path)


# --- markdown --------------------------------------------------------------------------------------------

PAPER_MD = """\
# Attention Is All You Need

**Authors:** Ashish Vaswani, Noam Shazeer, Niki Parmar

## Abstract

We propose the Transformer.

## 1 Introduction

RNNs are slow.

```python
# not a heading
x = 1
```

## 3 Model Architecture

Encoder-decoder.

### 3.2 Attention

Queries, keys, values.

#### 3.2.1. Scaled Dot-Product Attention

Softmax of QK^T over sqrt(d_k).

## Notes

Unnumbered.
"""


def test_markdown_paper(tmp_path: Path) -> None:
    md = tmp_path / "paper.md"
    md.write_text(PAPER_MD, encoding="utf-8")
    info, _ = load(str(md), tmp_path)
    assert info.kind == "markdown"
    assert info.title == "Attention Is All You Need"
    assert info.authors == ["Ashish Vaswani", "Noam Shazeer", "Niki Parmar"]
    assert info.abstract == "We propose the Transformer."
    assert [(s.number, s.title, s.level) for s in info.sections] == [
        ("", "Abstract", 1),
        ("1", "Introduction", 1),
        ("3", "Model Architecture", 1),
        ("3.2", "Attention", 2),
        ("3.2.1", "Scaled Dot-Product Attention", 3),
        ("", "Notes", 1),
    ]
    intro = info.sections[1]
    assert intro.text.startswith("RNNs are slow.")
    assert "# not a heading" in intro.text
    assert info.sections[4].text == "Softmax of QK^T over sqrt(d_k)."
    assert info.pages is None
    assert info.warnings == []
    assert info.text == PAPER_MD


def test_markdown_suffix_is_case_insensitive_and_markdown_extension_works(tmp_path: Path) -> None:
    md = tmp_path / "Paper.MARKDOWN"
    md.write_text("# T\n\n## 2 Method\n\nx\n", encoding="utf-8")
    info, _ = load(str(md), tmp_path)
    assert info.title == "T"
    assert info.sections == [PaperSection(number="2", title="Method", text="x", level=1)]


def test_non_utf8_markdown_falls_back_to_latin1_with_a_warning(tmp_path: Path) -> None:
    md = tmp_path / "paper.md"
    md.write_bytes("# Résumé of the método\n\n## 1 Intro\n\ncafé\n".encode("latin-1"))
    info, _ = load(str(md), tmp_path)
    assert info.title == "Résumé of the método"
    assert info.sections[0].text == "café"
    assert info.warnings == [f"{md} is not UTF-8; read it as Latin-1 (some characters may be wrong)"]


def test_binary_markdown_is_refused(tmp_path: Path) -> None:
    md = tmp_path / "paper.md"
    md.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    with pytest.raises(UserError) as info:
        load(str(md), tmp_path)
    assert (
        str(info.value) == f"{md} is binary, not markdown text — give the paper as a .pdf or a UTF-8 .md file"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("missing.pdf", "no such paper file: missing.pdf — check the path"),
        ("notes.docx", "not a paper format: notes.docx"),
        ("https://example.org/paper.pdf", "only arXiv links can be downloaded"),
        ("", "no paper given"),
        ("12345", "not a paper format: 12345"),
    ],
)
def test_bad_paper_specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: str, message: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError) as info:
        load(spec, tmp_path)
    assert str(info.value).startswith(message)
    assert info.value.fix


def test_an_existing_file_with_an_unknown_extension_and_a_folder(tmp_path: Path) -> None:
    txt = tmp_path / "paper.txt"
    txt.write_text("text")
    with pytest.raises(
        UserError, match=r"not a paper format: .*paper.txt — give a .pdf, a .md/.markdown file"
    ):
        load(str(txt), tmp_path)
    folder = tmp_path / "paper.pdf"
    folder.mkdir()
    with pytest.raises(UserError, match="is a folder, not a paper file"):
        load(str(folder), tmp_path)


# --- arXiv -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("1706.03762", "1706.03762"),
        ("1706.03762v2", "1706.03762v2"),
        ("arXiv:1706.03762v5", "1706.03762v5"),
        ("2101.00001", "2101.00001"),
        ("hep-th/9901001", "hep-th/9901001"),
        ("math.AG/0601001v2", "math.AG/0601001v2"),
        ("cond-mat/0207270", "cond-mat/0207270"),
        ("https://arxiv.org/abs/1706.03762", "1706.03762"),
        ("https://arxiv.org/abs/1706.03762v7", "1706.03762v7"),
        ("https://arxiv.org/pdf/1706.03762", "1706.03762"),
        ("https://arxiv.org/pdf/1706.03762v7.pdf", "1706.03762v7"),
        ("http://export.arxiv.org/abs/hep-th/9901001", "hep-th/9901001"),
        ("https://www.arxiv.org/abs/1706.03762/", "1706.03762"),
        ("https://arxiv.org/html/2401.00001v1", "2401.00001v1"),
        ("https://arxiv.org/abs/1706.03762?context=cs", "1706.03762"),
        ("1706.037", None),
        ("0704.0001", "0704.0001"),
        ("17060.3762", None),
        ("paper.pdf", None),
        ("https://example.org/abs/1706.03762", None),
    ],
)
def test_arxiv_ids(spec: str, expected: str | None) -> None:
    assert arxiv_id_of(spec) == expected


class _ArxivStub:
    """A real HTTP server on 127.0.0.1 serving /pdf/<id> from a dict, counting requests."""

    def __init__(self, files: dict[str, tuple[int, bytes, str]]) -> None:
        self.files = files
        self.requests: list[str] = []
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                stub.requests.append(self.path)
                status, body, ctype = stub.files.get(self.path, (404, b"<html>not found</html>", "text/html"))
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def arxiv_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_ArxivStub]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    pdf = make_pdf(
        tmp_path / "served.pdf", PAPER_LINES, title="Attention Is All You Need", author="A. Vaswani"
    )
    body = pdf.read_bytes()
    stub = _ArxivStub(
        {
            "/pdf/1706.03762": (200, body, "application/pdf"),
            "/pdf/1706.03762v2": (200, body, "application/pdf"),
            "/pdf/hep-th/9901001": (200, body, "application/pdf"),
            "/pdf/2101.00002": (200, b"<html>captcha</html>", "text/html"),
            "/pdf/2101.00003": (503, b"busy", "text/plain"),
        }
    )
    yield stub
    stub.close()


def test_arxiv_download_is_cached(arxiv_server: _ArxivStub, tmp_path: Path) -> None:
    first, sink = load("1706.03762", tmp_path, arxiv_base_url=arxiv_server.base_url)
    assert arxiv_server.requests == ["/e-print/1706.03762", "/pdf/1706.03762"]  # no source here: the PDF
    assert first.kind == "arxiv"
    assert first.source == "1706.03762"
    assert first.title == "Attention Is All You Need"
    assert first.authors == ["A. Vaswani"]
    assert [(s.number, s.title, s.level) for s in first.sections] == EXPECTED_PDF_SECTIONS
    cached = cache_path(tmp_path / "cache", "1706.03762")
    assert cached.read_bytes()[:5] == b"%PDF-"
    texts = [e.text for e in sink.events if isinstance(e, LogLine)]
    assert texts[:3] == [f"arXiv 1706.03762: downloading the source {arxiv_server.base_url}/e-print/1706.03762",
                         "arXiv 1706.03762: no source (HTTP 404); using the PDF",
                         f"arXiv 1706.03762: downloading {arxiv_server.base_url}/pdf/1706.03762"]
    assert any(t.startswith("arXiv 1706.03762: 100% of") for t in texts)
    assert any(t.startswith("arXiv 1706.03762: saved") for t in texts)

    second, sink2 = load(
        f"{arxiv_server.base_url}/abs/1706.03762", tmp_path, arxiv_base_url=arxiv_server.base_url
    )
    assert arxiv_server.requests == ["/e-print/1706.03762", "/pdf/1706.03762"], "the second load downloads nothing"
    assert second.sections == first.sections
    assert [e.text for e in sink2.events if isinstance(e, LogLine)][0] == (
        f"arXiv 1706.03762: using the cached PDF {cached}"
    )
    assert sorted(p.name for p in cached.parent.iterdir()) == ["1706.03762.pdf"], "no temp files left behind"


def test_arxiv_versioned_and_old_style_ids(arxiv_server: _ArxivStub, tmp_path: Path) -> None:
    v2, _ = load("arXiv:1706.03762v2", tmp_path, arxiv_base_url=arxiv_server.base_url + "/")
    old, _ = load("hep-th/9901001", tmp_path, arxiv_base_url=arxiv_server.base_url)
    assert arxiv_server.requests == ["/e-print/1706.03762v2", "/pdf/1706.03762v2", "/e-print/hep-th/9901001",
                                     "/pdf/hep-th/9901001"]
    assert v2.kind == old.kind == "arxiv"
    assert (tmp_path / "cache" / "arxiv" / "hep-th_9901001.pdf").is_file()


def test_arxiv_404(arxiv_server: _ArxivStub, tmp_path: Path) -> None:
    with pytest.raises(UserError) as info:
        load("2101.00001", tmp_path, arxiv_base_url=arxiv_server.base_url)
    assert str(info.value).startswith(
        f"arXiv has no paper 2101.00001 ({arxiv_server.base_url}/pdf/2101.00001: HTTP 404)"
    )
    assert "check the id" in info.value.fix
    assert not (tmp_path / "cache" / "arxiv" / "2101.00001.pdf").exists()


def test_arxiv_html_instead_of_pdf_and_server_error(arxiv_server: _ArxivStub, tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"did not return a PDF \(Content-Type text/html\)"):
        load("2101.00002", tmp_path, arxiv_base_url=arxiv_server.base_url)
    with pytest.raises(UserError, match=r"downloading arXiv 2101.00003 failed: HTTP 503"):
        load("2101.00003", tmp_path, arxiv_base_url=arxiv_server.base_url)
    assert sorted(p.name for p in (tmp_path / "cache" / "arxiv").iterdir()) == []


def test_arxiv_unreachable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    with pytest.raises(UserError) as info:
        load("1706.03762", tmp_path, arxiv_base_url="http://127.0.0.1:9", timeout_s=5)
    assert str(info.value).startswith("cannot reach http://127.0.0.1:9 to download arXiv 1706.03762")
    assert "--paper" in info.value.fix


def test_arxiv_download_honours_cancel(arxiv_server: _ArxivStub, tmp_path: Path) -> None:
    cancel = CancelToken()
    cancel.cancel("stop")
    with pytest.raises(Cancelled):
        load_paper(
            "1706.03762",
            cache_dir=tmp_path / "cache",
            arxiv_base_url=arxiv_server.base_url,
            sink=ListSink(),
            cancel=cancel,
        )
    assert not cache_path(tmp_path / "cache", "1706.03762").exists()


# --- repo markdown fallback ------------------------------------------------------------------------------


def test_repo_markdown_fallback(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text(
        "# micrograd\n\nA tiny autograd engine.\n\n## Example usage\n\n```\npip install micrograd\n```\n"
    )
    (tmp_path / "docs" / "training.md").write_text("## Training\n\nRun `python train.py`.\n")
    (tmp_path / "docs" / "notes.txt").write_text("not markdown")
    info = paper_from_repo_markdown(tmp_path)
    assert info is not None
    assert info.kind == "repo-markdown"
    assert info.source == "README.md, docs/training.md"
    assert info.title == "micrograd"
    assert [(s.number, s.title) for s in info.sections] == [("", "Example usage"), ("", "Training")]
    assert info.sections[0].text.startswith("```\npip install micrograd\n```")
    assert info.text.startswith("<!-- README.md -->\n# micrograd")
    assert "<!-- docs/training.md -->" in info.text
    assert "not markdown" not in info.text
    assert info.warnings == []


def test_repo_markdown_follows_links_inside_the_repo_only(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "guide.md").write_text("# Guide\n")
    (tmp_path / "outside.md").write_text("# Secret\n")
    (repo / "README.md").symlink_to("docs/guide.md")
    (repo / "docs" / "leak.md").symlink_to(tmp_path / "outside.md")
    info = paper_from_repo_markdown(repo)
    assert info is not None
    assert info.source == "README.md, docs/guide.md"
    assert "Secret" not in info.text


def test_repo_markdown_none_when_there_is_no_readme(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("print(1)\n")
    assert paper_from_repo_markdown(tmp_path) is None


def test_repo_plain_readme_is_used_when_no_markdown(tmp_path: Path) -> None:
    (tmp_path / "README").write_text("Demo tool\n")
    info = paper_from_repo_markdown(tmp_path)
    assert info is not None and info.source == "README" and "Demo tool" in info.text


def test_repo_markdown_non_utf8_and_binary_never_crash(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_bytes("# Café\n\nnaïve\n".encode("latin-1"))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "diagram.md").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00ok text\x00\xff")
    info = paper_from_repo_markdown(tmp_path)
    assert info is not None
    assert info.warnings == [
        "README.md is not valid UTF-8; undecodable bytes were replaced",
        "docs/diagram.md looks binary, not text; read with replacement characters",
    ]
    assert info.title == "Caf\ufffd"
    assert "\x00" not in info.text
    assert "ok text" in info.text


def test_repo_markdown_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("# Big\n\n" + ("é" * 300_000) + "\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    for i in range(3):
        (tmp_path / "docs" / f"part{i}.md").write_text("x" * 250_000)
    info = paper_from_repo_markdown(tmp_path)
    assert info is not None
    assert len(info.text) < 420_000
    assert info.source == "README.md, docs/part0.md"
    assert info.warnings == [
        "README.md was cut to 200000 characters",
        "docs/part0.md was cut to 200000 characters",
        "docs/part1.md and later files were left out (the repository markdown is capped at 400000 characters)",
    ]
    assert "\ufffd" not in info.text, "a cut inside a multi-byte character is not an encoding error"


# --- the structure splitter alone ------------------------------------------------------------------------


def test_structure_pdf_text_tolerates_a_lost_heading_and_ignores_out_of_order_numbers() -> None:
    text = "\n".join(
        [
            "A Paper",
            "1 Introduction",
            "intro",
            "2 Method",
            "method",
            "7 Experimental Results Look Great",  # out of sequence: body text
            "2.2 Training Details",  # 2.1 was lost in extraction; still a heading
            "details",
            "3 Results",
            "12 Monkeys",
        ]
    )
    title, authors, abstract, sections = structure_paper(text, "pdf")
    assert title == "A Paper"
    assert authors == []
    assert abstract == ""
    assert [(s.number, s.title) for s in sections] == [
        ("1", "Introduction"),
        ("2", "Method"),
        ("2.2", "Training Details"),
        ("3", "Results"),
    ]
    assert sections[1].text == "method 7 Experimental Results Look Great"
    assert sections[3].text == "12 Monkeys"


def test_structure_pdf_text_skips_a_table_of_contents_and_table_rows() -> None:
    text = "\n".join(
        [
            "A Thesis",
            "Contents",
            "1 Introduction . . . . . 3",
            "2 Method . . . . . 7",
            "1 Introduction",
            "We start.",
            "2 Method",
            "4 CARD32 OFFSET",
            "4 CARD32 COUNT",
            "3 Results",
            "5 Users reached via https://example.org",
            "4 Training With user_id Tokens",
            "more results",
            "4 Discussion",
            "done",
        ]
    )
    title, _, _, sections = structure_paper(text, "pdf")
    assert title == "A Thesis"
    assert [(s.number, s.title) for s in sections] == [
        ("1", "Introduction"),
        ("2", "Method"),
        ("3", "Results"),
        ("4", "Discussion"),
    ]
    assert sections[1].text == "4 CARD32 OFFSET 4 CARD32 COUNT"


def test_structure_inline_abstract_and_hyphenation() -> None:
    text = "Title Here\nAbstract—We intro-\nduce things.\n1 Introduction\nBody."
    title, _, abstract, sections = structure_paper(text, "pdf")
    assert title == "Title Here"
    assert abstract == "We introduce things."
    assert [s.title for s in sections] == ["Abstract", "Introduction"]


def test_markdown_setext_html_headings_and_front_matter() -> None:
    text = "\n".join(
        [
            "---",
            "title: 'Deep Residual Learning'",
            "authors:",
            "  - name: Kaiming He",
            "  - Xiangyu Zhang",
            "abstract: Deeper networks are harder to train.",
            "---",
            '<h1 align="center">ResNet <img src="logo.png"/></h1>',
            "",
            "Installation",
            "------------",
            "pip install resnet",
            "",
            "- a list item",
            "---",
            "",
            "3.1 Residual Learning",
            "=====================",
            "body",
            "```",
            "Not a heading",
            "=============",
            "```",
        ]
    )
    title, authors, abstract, sections = structure_paper(text, "markdown")
    assert title == "Deep Residual Learning"
    assert authors == ["Kaiming He", "Xiangyu Zhang"]
    assert abstract == "Deeper networks are harder to train."
    assert [(s.number, s.title, s.level) for s in sections] == [
        ("", "ResNet", 1),
        ("", "Installation", 2),
        ("3.1", "Residual Learning", 2),
    ]
    assert sections[1].text == "pip install resnet\n\n- a list item\n---"
    assert sections[2].text == "body\n```\nNot a heading\n=============\n```"


def test_readme_title_from_setext_or_html_heading() -> None:
    assert structure_paper("micrograd\n=========\n\nA tiny engine.\n", "repo-markdown")[0] == "micrograd"
    html = '<h1 align="center">nanoGPT</h1>\n\n## Install\n\npip install torch\n'
    title, _, _, sections = structure_paper(html, "repo-markdown")
    assert title == "nanoGPT"
    assert [(s.title, s.text) for s in sections] == [("Install", "pip install torch")]


def test_split_authors() -> None:
    assert split_authors("A. Vaswani, N. Shazeer and N. Parmar; L. Jones & J. Uszkoreit") == [
        "A. Vaswani",
        "N. Shazeer",
        "N. Parmar",
        "L. Jones",
        "J. Uszkoreit",
    ]


def test_a_markdown_byline_without_a_label_gives_the_authors() -> None:
    """The line under the title, when it reads as names (superscript affiliations dropped); not a subtitle."""
    byline = "# Tiny\n\nAda Lovelace¹, Alan M. Turing², and Grace Hopper*\n\n## Abstract\nWe copy.\n"
    assert structure_paper(byline, "markdown")[1] == ["Ada Lovelace", "Alan M. Turing", "Grace Hopper"]
    subtitle = "# Tiny\n\nSequence Models Matter\n\n## Abstract\nWe copy.\n"
    assert structure_paper(subtitle, "markdown")[1] == []
    sentence = "# Tiny\n\nWe present a tiny model, and it copies.\n\n## Abstract\nWe copy.\n"
    assert structure_paper(sentence, "markdown")[1] == []


# --- arXiv e-print source ---------------------------------------------------------------------------------------

SOURCE_TEX = r"""\documentclass{article}
\title{Attention Is All You Need}
\begin{document}
\maketitle
\section{Introduction}
Recurrent models are slow.
\section{Model Architecture}
\input{model}
\appendix
\section{Hyperparameters}
We used a learning rate of 0.0003 throughout.
\end{document}
"""
SOURCE_MODEL = r"""\subsection{Attention}
The attention is
\begin{equation}
\mathrm{Attention}(Q, K, V) = \mathrm{softmax}(QK^T / \sqrt{d_k}) V \label{eq:att}
\end{equation}
We use $d_{model} = 512$ in all layers.
"""


def _tarball(files: dict[str, str]) -> bytes:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def eprint_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_ArxivStub]:
    import gzip

    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    pdf = make_pdf(tmp_path / "served.pdf", PAPER_LINES, title="Attention Is All You Need", author="A. Vaswani")
    stub = _ArxivStub({
        "/e-print/1706.03762": (200, _tarball({"ms.tex": SOURCE_TEX, "model.tex": SOURCE_MODEL}), "application/x-eprint-tar"),
        "/e-print/2401.00005": (200, gzip.compress(SOURCE_TEX.replace(r"\input{model}", SOURCE_MODEL).encode()),
                                "application/x-eprint"),
        "/e-print/2401.00006": (200, pdf.read_bytes(), "application/pdf"),  # a PDF-only submission
        "/pdf/2401.00006": (200, pdf.read_bytes(), "application/pdf"),
        "/e-print/2401.00007": (200, b"\x1f\x8b not really gzip", "application/x-eprint"),
        "/pdf/2401.00007": (200, pdf.read_bytes(), "application/pdf"),
    })
    yield stub
    stub.close()


def test_an_arxiv_id_reads_the_e_print_source_and_caches_it(eprint_server: _ArxivStub, tmp_path: Path) -> None:
    info, sink = load("1706.03762", tmp_path, arxiv_base_url=eprint_server.base_url)
    assert eprint_server.requests == ["/e-print/1706.03762"]  # the LaTeX source is enough: no PDF fetched
    assert info.kind == "latex" and info.source == "1706.03762"
    assert [(s.number, s.title) for s in info.sections if s.number] == [
        ("1", "Introduction"), ("2", "Model Architecture"), ("2.1", "Attention"), ("A", "Hyperparameters")]
    assert "d_{model} = 512" in next(s.text for s in info.sections if s.number == "2.1")
    cached = tmp_path / "cache" / "arxiv" / "1706.03762.tar.gz"
    assert cached.read_bytes()[:2] == b"\x1f\x8b"
    texts = [e.text for e in sink.events if isinstance(e, LogLine)]
    assert texts[0] == f"arXiv 1706.03762: downloading the source {eprint_server.base_url}/e-print/1706.03762"
    again, sink2 = load(f"{eprint_server.base_url}/abs/1706.03762", tmp_path, arxiv_base_url=eprint_server.base_url)
    assert eprint_server.requests == ["/e-print/1706.03762"], "the second load downloads nothing"
    assert again.sections == info.sections
    assert [e.text for e in sink2.events if isinstance(e, LogLine)][0] == (
        f"arXiv 1706.03762: using the cached source {cached}")
    assert not [p for p in cached.parent.iterdir() if p.name.startswith(".download-")], "no temp files left behind"


def test_a_single_gzipped_tex_e_print_is_read(eprint_server: _ArxivStub, tmp_path: Path) -> None:
    info, _ = load("2401.00005", tmp_path, arxiv_base_url=eprint_server.base_url)
    assert info.kind == "latex" and (tmp_path / "cache" / "arxiv" / "2401.00005.tex").is_file()
    assert [s.number for s in info.sections if s.number] == ["1", "2", "2.1", "A"]


@pytest.mark.parametrize("arxiv_id", ["2401.00006", "2401.00007"], ids=["pdf-only", "broken-gzip"])
def test_an_e_print_that_is_not_latex_falls_back_to_the_pdf(eprint_server: _ArxivStub, tmp_path: Path,
                                                            arxiv_id: str) -> None:
    info, sink = load(arxiv_id, tmp_path, arxiv_base_url=eprint_server.base_url)
    assert eprint_server.requests == [f"/e-print/{arxiv_id}", f"/pdf/{arxiv_id}"]
    assert info.kind == "arxiv" and info.title == "Attention Is All You Need"
    assert f"arXiv {arxiv_id}: the e-print is not LaTeX source; using the PDF" in [
        e.text for e in sink.events if isinstance(e, LogLine)]
    assert not list((tmp_path / "cache" / "arxiv").glob(f"{arxiv_id}.t*"))  # nothing cached as its source


# --- the official code URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "url"), [
    ("Our code is available at https://github.com/tiny-lab/grad_\nflow_nets.", "https://github.com/tiny-lab/grad_flow_nets"),
    ("Our code is available at https://github.com/tiny-lab/deep-\nsets.", "https://github.com/tiny-lab/deep-sets"),
    ("Our code is available at https://github.com/tiny-lab/\nwidgets (MIT licence).", "https://github.com/tiny-lab/widgets"),
    ("We release our code\n(https://github.com/tiny-lab/widgets.git).", "https://github.com/tiny-lab/widgets"),
    ("The code for our\nexperiments is at\nhttps://github.com/tiny-lab/widgets;", "https://github.com/tiny-lab/widgets"),
    ("The code of our study is released at github.com/tiny-lab/widgets.\nNext we describe it.",
     "https://github.com/tiny-lab/widgets"),
    ("We use their released code from https://github.com/other/baseline.", ""),
])
def test_official_code_url_survives_line_breaks_and_punctuation(text: str, url: str) -> None:
    from paper2run_tui.engine.acquire.paper_latex import official_code_url

    assert official_code_url(text) == url


def test_a_pdf_link_keeps_the_characters_its_text_lost(tmp_path: Path) -> None:
    """PDF text draws the URL's underscores as spaces ('opt for tiny'); the link annotation has the whole URL."""
    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for line in PAPER_LINES[:9] + ["The code for our experiments is available at"]:
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 7, "https://github.com/tiny-lab/opt for tiny.", link="https://github.com/tiny-lab/opt_for_tiny",
             new_x="LMARGIN", new_y="NEXT")
    for line in PAPER_LINES[9:]:
        pdf.cell(0, 7, line, new_x="LMARGIN", new_y="NEXT")
    path = tmp_path / "linked.pdf"
    pdf.output(str(path))
    info, _ = load(str(path), tmp_path)
    assert info.code_url == "https://github.com/tiny-lab/opt_for_tiny"
