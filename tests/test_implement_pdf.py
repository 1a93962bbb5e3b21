"""Extraction from a real PDF (made here with fpdf2, read back by pypdf): numbered sections, an equation numbered
at the line's end, a table caption and hyperparameters with their sentences."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from paper2run_tui.engine.acquire.paper import load_paper
from paper2run_tui.engine.implement.citations import CitationChecker
from paper2run_tui.engine.implement.extract import enrich_paper
from paper2run_tui.engine.ports import CancelToken, ListSink

LINES = [
    "A Small Convolutional Classifier",
    "Ada Lovelace, Alan Turing",
    "Abstract",
    "We classify tiny images with a small convolutional network.",
    "1 Introduction",
    "Small models are easy to reproduce.",
    "2 Model",
    "2.1 Architecture",
    "The network has 3 layers with a hidden size of 128.",
    "y = softmax(W x + b)   (1)",
    "Table 1: Sizes of the small network.",
    "Each block is a pre-",
    "norm residual block.",
    "3 Training",
    "We use the SGD optimizer with momentum of 0.9.",
    "The learning rate was 0.05 and the weight decay of 0.0005 was applied.",
    "We train for 20 epochs with a batch size of 64.",
]


def _make_pdf(path: Path) -> Path:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    for line in LINES:
        pdf.cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))
    return path


def test_pdf_sections_equations_tables_and_hyperparameters(tmp_path: Path) -> None:
    pdf = _make_pdf(tmp_path / "small_cnn.pdf")
    paper = enrich_paper(load_paper(str(pdf), cache_dir=tmp_path / "cache", sink=ListSink(), cancel=CancelToken()))
    assert [s.number for s in paper.sections if s.number] == ["1", "2", "2.1", "3"]
    assert [(e.number, e.section) for e in paper.equations] == [("1", "2.1")]
    assert [(t.number, t.caption, t.section) for t in paper.tables] == [("1", "Sizes of the small network.", "2.1")]
    hp = {h.name: (h.value, h.section) for h in paper.hyperparameters}
    assert hp == {"num_layers": ("3", "2.1"), "hidden_size": ("128", "2.1"), "optimizer": ("sgd", "3"),
                  "momentum": ("0.9", "3"), "learning_rate": ("0.05", "3"), "weight_decay": ("0.0005", "3"),
                  "epochs": ("20", "3"), "batch_size": ("64", "3")}
    wd = next(h for h in paper.hyperparameters if h.name == "weight_decay")
    assert wd.quote == "The learning rate was 0.05 and the weight decay of 0.0005 was applied."
    checker = CitationChecker(paper)
    good = {"configs/base.yaml": 'weight_decay: 0.0005  # §3 — "the weight decay of 0.0005 was applied"\n'}
    bad = {"configs/base.yaml": 'weight_decay: 0.005  # §3 — "the weight decay of 0.0005 was applied"\n'}
    assert checker.check(good).ok, checker.check(good).markdown()
    assert [v.kind for v in checker.check(bad).violations] == ["value-mismatch"]
    hyphenated = {"src/model.py": '# §2.1 — "Each block is a pre-norm residual block."\n'}
    assert checker.check(hyphenated).ok, checker.check(hyphenated).markdown()
    wrong = {"src/model.py": '# §2.1 — "Each block is a post-norm residual block."\n'}
    assert [v.kind for v in checker.check(wrong).violations] == ["misquote"]
