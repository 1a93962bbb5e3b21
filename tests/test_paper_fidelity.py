"""Paper fidelity: numbering from the paper (appendices, \\section*, run-in headings, LaTeX source), the shared
number reader, and the stricter citation check. Real papers are measured in benchmarks/bench_paper.py."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from paper2run_tui.engine.acquire.paper import load_paper
from paper2run_tui.engine.acquire.paper_structure import structure_paper
from paper2run_tui.engine.contracts import PaperInfo
from paper2run_tui.engine.implement.citations import CitationChecker
from paper2run_tui.engine.implement.deterministic import config_yaml
from paper2run_tui.engine.implement.extract import concept_values, enrich_paper
from paper2run_tui.engine.implement.numbers import canonical, numbers_in
from paper2run_tui.engine.ports import Cancelled, CancelToken


class _Sink:
    def __init__(self) -> None:
        self.events: list[object] = []

    def emit(self, event: object) -> None:
        self.events.append(event)


@pytest.mark.parametrize(("text", "value"), [
    ("ε = 10−9", 1e-9), ("$\\epsilon=10^{-9}$", 1e-9), ("2×10⁻⁴", 2e-4), ("$2 \\times 10^{-4}$", 2e-4),
    ("100,000 steps", 100000), ("$0 . 2 5$", 0.25), ("1e-4", 1e-4), ("4k steps", 4000), ("−0.5", -0.5),
])
def test_the_number_reader_reads_what_papers_write(text: str, value: float) -> None:
    assert [n.value for n in numbers_in(text)] == [pytest.approx(value)]


def test_values_are_tied_to_their_concept_and_years_are_nobodys() -> None:
    assert concept_values("We trained for 100,000 steps (Vaswani et al., 2017).") == [("train_steps", 100000, "100,000")]
    assert {c: v for c, v, _ in concept_values("Adam with $\\beta_1=0.9$, $\\beta_2=0.98$ and $\\epsilon=10^{-9}$.")} \
        == {"beta1": 0.9, "beta2": 0.98, "epsilon": pytest.approx(1e-9)}
    assert concept_values("a weight decay of $\\lambda = 0.0005$ and width = 100") == [("weight_decay", 0.0005, "0.0005")]
    assert canonical(1e-9) == "1.0e-9" and canonical(100000.0) == "100000" and canonical(0.0005) == "0.0005"


MINERU = """# A Paper About Things

# Abstract

We do things.

# 1. Introduction

Intro text.

# Algorithm 1 Training

1: for t do

# 8: end for

# 2. Method

We use a learning rate of 0.001.

# References

Smith, J. A book. 2019.

# Appendix

# D Extra Results 17

# A. Hyperparameters

<table><tr><td>Learning rate</td><td>1e-4</td></tr><tr><td>Batch size</td><td>512</td></tr></table>

# APPENDIX B: PROOFS

Proof text.

# B.1. Lemma

Lemma text.

# D. Extra Results

More results, and a long paragraph so this D is the real one, not the table of contents line.
"""


def test_markdown_appendices_are_numbered_as_the_paper_numbers_them() -> None:
    _, _, _, sections = structure_paper(MINERU, "markdown")
    assert [s.number for s in sections if s.number] == ["1", "2", "A", "B", "B.1", "D"]
    intro = next(s for s in sections if s.number == "1")
    assert "1: for t do" in intro.text and "8: end for" in intro.text  # the algorithm box stays in its section
    assert next(s for s in sections if s.number == "B").title == "PROOFS"


def test_mathpix_and_run_in_headings() -> None:
    mathpix = "\\section*{1. Introduction}\nText.\n\\subsection*{1.1. Scope}\nMore.\n\\section*{A. Proofs}\nP.\n"
    assert [s.number for s in structure_paper(mathpix, "markdown")[3] if s.number] == ["1", "1.1", "A"]
    run_in = "# Title\n\n1. Introduction. We study.\n\n2. Method. We do.\n\n2.1. Details. Here.\n\n3. Results. Good.\n"
    sections = structure_paper(run_in, "markdown")[3]
    assert [(s.number, s.title) for s in sections if s.number] == [
        ("1", "Introduction"), ("2", "Method"), ("2.1", "Details"), ("3", "Results")]
    assert sections[-1].text.startswith("Good.")


def test_pdf_text_appendices_after_the_references() -> None:
    text = ("Title\n\n1 Introduction\nText here.\n\n2 Method\nMore text.\n\nReferences\n[1] A. Author. 2020.\n\n"
            "A Proofs of the Theorems\nProof.\n\nA.1 First Lemma\nLemma.\n\nB Hyperparameters\nWe use 3 layers.\n")
    numbers = [s.number for s in structure_paper(text, "pdf")[3] if s.number]
    assert numbers == ["1", "2", "A", "A.1", "B"]


def test_parsing_is_cancellable() -> None:
    big = "\n".join(f"# {i}. Heading {i}\ntext" for i in range(1, 30))
    token = CancelToken()
    token.cancel("stop")
    with pytest.raises(Cancelled):
        structure_paper(big, "markdown", token)


def _latex_tree(root: Path) -> Path:
    (root / "sec").mkdir(parents=True)
    (root / "main.tex").write_text(
        "\\documentclass{article}\\title{A Tiny Model}\\begin{document}\\maketitle\n"
        "\\begin{abstract}We copy sequences.\\end{abstract}\n"
        "\\section{Introduction}Code is available at https://github.com/example/tiny.\n"
        "\\input{sec/model}\n\\section*{Acknowledgements}Thanks.\n\\appendix\n\\section{Hyperparameters}\n"
        "\\begin{table}\\caption{Settings.}\\end{table}We use a learning rate of $3\\times10^{-4}$.\n"
        "\\end{document}\n")
    (root / "sec/model.tex").write_text(
        "\\section{Model}\\subsection{Attention}\n\\begin{equation}a=b\\label{eq:a}\\end{equation}\n"
        "% \\begin{equation} commented out \\end{equation}\n"
        "\\begin{align}x&=y\\nonumber\\\\ z&=w\\end{align}\n\\begin{equation*}q=r\\end{equation*}\n"
        "\\begin{equation}s=t\\tag{S1}\\end{equation}We use $h=4$ heads.\n")
    return root / "main.tex"


def test_latex_source_numbers_sections_appendices_equations_and_tables(tmp_path: Path) -> None:
    paper = enrich_paper(load_paper(str(_latex_tree(tmp_path / "src")), cache_dir=tmp_path / "c", sink=_Sink(),
                                    cancel=CancelToken()))
    assert paper.kind == "latex" and paper.title == "A Tiny Model" and paper.abstract == "We copy sequences."
    assert [s.number or s.title for s in paper.sections] == ["Abstract", "1", "2", "2.1", "Acknowledgements", "A"]
    assert [(e.number, e.section) for e in paper.equations] == [("1", "2.1"), ("2", "2.1"), ("S1", "2.1")]
    assert [(t.number, t.section) for t in paper.tables] == [("1", "A")]
    assert paper.code_url == "https://github.com/example/tiny"
    assert {(h.name, h.value, h.section) for h in paper.hyperparameters} >= {
        ("learning_rate", "0.0003", "A"), ("num_heads", "4", "2.1")}


def test_an_arxiv_source_tarball_is_read_like_its_tex(tmp_path: Path) -> None:
    main = _latex_tree(tmp_path / "src")
    tarball = tmp_path / "2401.00001.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(main.parent, arcname=".")
    paper = load_paper(str(tarball), cache_dir=tmp_path / "cache", sink=_Sink(), cancel=CancelToken())
    assert [s.number for s in paper.sections if s.number] == ["1", "2", "2.1", "A"]


PAPER = PaperInfo(source="t", kind="markdown", title="T", text="", sections=[])


@pytest.fixture
def paper() -> PaperInfo:
    text = ("# T\n\n# 1. Model\n\nWe use $h = 8$ heads with $d_k = 64$ each.\n\n# 2. Training\n\n"
            "We train with SGD and a learning rate of 0.1 for 100,000 steps.\n\n# A. Details\n\n"
            "The batch size is 128.\n")
    _, _, _, sections = structure_paper(text, "markdown")
    info = PaperInfo(source="t", kind="markdown", title="T", text=text, sections=sections)
    return enrich_paper(info)


def _kinds(paper: PaperInfo, files: dict[str, str]) -> list[str]:
    return [v.kind for v in CitationChecker(paper).check(files).violations]


def test_the_checker_rules(paper: PaperInfo) -> None:
    ok = ('batch_size: 128  # §A — "The batch size is 128."\nnum_heads: 8  # §1\n'
          'train_steps: 100000  # §2 — "for 100,000 steps"\noptimizer: sgd  # §2\n')
    assert _kinds(paper, {"configs/base.yaml": ok}) == []
    assert _kinds(paper, {"configs/base.yaml": 'batch_size: 128  # §2 — "The batch size is 128."\n'}) == [
        "quote-not-in-section"]
    d_k = CitationChecker(paper).check({"configs/base.yaml": "num_heads: 64  # §1\n"}).violations  # 64 is d_k
    assert [v.kind for v in d_k] == ["value-mismatch"] and "(it states 8)" in d_k[0].message
    assert _kinds(paper, {"configs/base.yaml": "learning_rate: 100000  # §2\n"}) == ["wrong-concept"]
    assert _kinds(paper, {"configs/base.yaml": "batch_size: 128  # [FROM_OFFICIAL_CODE] paper does not state it\n"}) \
        == ["tag-on-stated-value"]
    assert _kinds(paper, {"configs/base.yaml": "optimizer: adam  # [UNSPECIFIED]\n"}) == ["tag-on-stated-value"]
    assert _kinds(paper, {"configs/base.yaml": "optimizer: adam  # §2\n"}) == ["value-mismatch"]
    violation = CitationChecker(paper).check({"configs/base.yaml": "batch_size: 64  # §A\n"}).violations[0]
    assert violation.kind == "value-mismatch" and "The batch size is 128." in violation.paper_text


def test_code_is_read_as_code_and_values_agree_across_files(paper: PaperInfo) -> None:
    code = ('"""§1 — "We use eight heads"."""\nQUOTE = "§9 — \\"not a claim, a string\\""\n\n\n'
            "def build(num_heads=4):\n    return num_heads  # §1\n")
    nb = {"cells": [{"cell_type": "code", "source": ['s = "§9 — a string literal"  # §1\n']},
                    {"cell_type": "markdown", "source": ["See §7."]}]}
    files = {"src/model.py": code, "configs/base.yaml": "num_heads: 8  # §1\n", "notebooks/w.ipynb": json.dumps(nb)}
    report = CitationChecker(paper).check(files)
    assert sorted((v.kind, v.file, v.line) for v in report.violations) == [
        ("misquote", "src/model.py", 1), ("unknown-section", "notebooks/w.ipynb", 2001),
        ("values-disagree", "src/model.py", 5)]


def test_the_no_llm_config_passes_its_own_check(paper: PaperInfo) -> None:
    config = config_yaml(paper)
    assert CitationChecker(paper).check({"configs/base.yaml": config}).ok, config
    assert "optimizer: sgd" in config and "batch_size: 128" in config


@pytest.mark.parametrize(("sentence", "expected"), [
    # MinerU's spaced maths and a thousands group split by a space
    ("We set the learning rate $\\eta$ as $5 e - 6$ , the batch size as 64, and the number of training steps as "
     "6, 000 for default hyperparameter settings.",
     {("learning_rate", 5e-6), ("batch_size", 64), ("train_steps", 6000)}),
    # 'respectively' pairs the concepts with the values in order
    ("AdamW optimizer was used with momenta coefficients $\\beta _ { 1 }$ and $\\beta _ { 2 }$ set to 0.9 and 0.95 "
     "respectively.", {("beta1", 0.9), ("beta2", 0.95)}),
    # a parenthetical between the concept and its value; 'training steps' inside it takes no value
    ("The training was done with a linear warmup to the peak LR (attained at $7 \\%$ of total training steps) of "
     "1e-5, weight decay (WD) of 1e-4 and an effective batch size of 128.",
     {("learning_rate", 1e-5), ("weight_decay", 1e-4), ("batch_size", 128)}),
    # word numbers; PGD steps are the attack's, not training steps
    ("trained on ImageNet for two epochs using 10 steps of PGD", {("epochs", 2), ("attack_steps", 10)}),
    ("Two hundred epochs are run in total.", {("epochs", 200)}),
    # a list after its concept is a sweep, not one setting
    ("tested on 3 different temperatures 0.2, 0.6, 0.8 with pass@k", set()),
    # a full stop inside inline maths does not end the sentence
    ("We use $\\mathrm { C M A } . E S$ as the update rule, and the population size $K$ of $2 8$ .",
     {("population_size", 28)}),
    # a sampler's steps are not training steps; an ellipsis range is nobody's value
    ("We run 1000 steps of a random direction slice sampling algorithm.", {("sampling_steps", 1000)}),
    ("through $n = 1 , \\ldots , 5$ transformer layers", set()),
    # table rows: snake/Camel labels and the usual RL names
    ("adam_learning_rate: 0.0001", {("learning_rate", 1e-4)}),
    ("Gamma: 0.999", {("discount", 0.999)}),
    # a point in time is not a setting
    ("The BC version starts to diverge at around 20M steps when the agent enters Room 7.", set()),
    # a footnote mark, a symbol's own count, a repeated value, neurons per layer
    ("Various CFG strengths 2 are tested on HumanEval.", set()),
    ("held near a goal position for $K = 3 0$ steps", set()),
    ("an MLP with a hidden size of 128, 128, 128, and 128 in each layer", {("hidden_size", 128)}),
    ("multi-layer perceptrons (4 hidden layers, 256 neurons each)", {("num_layers", 4), ("hidden_size", 256)}),
    # the wrong kind of value for the concept
    ("the number of training steps is 0.5 of the budget", set()),
    # merged table cells: k concepts in the label cell, k values in the value cell, in order; a concept in
    # parentheses right after another is its symbol; Adam's pair is (β1, β2)
    ("SHARED: MAX. GRADIENT NORM DISCOUNT RATE (γ): 0.7 0.95", {("grad_norm", 0.7), ("discount", 0.95)}),
    ("NONLINEARITY HIDDEN DIMENSION (d_model): GELU 384", {("hidden_size", 384)}),
    ("SHARED: OPTIMIZER: AdamW (0.85,0.98)", {("beta1", 0.85), ("beta2", 0.98)}),
    ("BATCH SIZE REPLAY SIZE ACTOR LEARNING RATE: 64 106", set()),  # counts agree, kinds do not: nobody's
])
def test_concept_values_mechanisms(sentence: str, expected: set[tuple[str, float]]) -> None:
    got = {(c, v) for c, v, _ in concept_values(sentence)}
    assert got == {(c, float(v)) for c, v in expected}


def test_extraction_skips_cited_work_and_baseline_sections() -> None:
    text = ("# Paper\n\n## 1 Method\n\nIn Mao et al. (2023), the model has been trained for 10 epochs.\n\n"
            "We train our model for 3 epochs with AdamW (Loshchilov & Hutter, 2018) optimizer. We show their "
            "performances on the benchmark for temperature 0.4 in Table 3.\n\n"
            "## 2 Baselines\n\nThe baseline uses a learning rate of 0.1.\n")
    _, _, _, sections = structure_paper(text, "markdown")[:4]
    paper = enrich_paper(PaperInfo(source="x", kind="markdown", text=text, sections=sections))
    got = {(h.name, h.value) for h in paper.hyperparameters}
    assert got == {("epochs", "3"), ("optimizer", "adamw")}


def test_pdf_appendices_survive_reference_initials_citation_lines_and_greek_titles() -> None:
    from paper2run_tui.engine.acquire.paper_structure import _structure_pdf_text

    text = "\n".join([
        "A Paper", "Abstract", "We study things.", "1. Introduction", "Intro text here.", "2. Method",
        "Method text.", "References", "Sun, Y., Wang, X., and Liu, Z. Test-time training. In ICML, 2020.",
        "B. Mt3: Meta test-time training for self-supervised test-time adaption. In AISTATS, 2022.",
        "Supplementary Materials", "A. Related Work", "Test-time adaptation is old.", "B. More Details",
        "Some details.", "B.1. Datasets", "ImageNet-C (Hendrycks & Dietterich, 2019) has noise.",
        "C (Hendrycks & Dietterich, 2019), ImageNet-R and more.", "B.2. Results with 50% Label Noise",
        "We add noise.", "C. Theory", "C.1. κ Grows with the Number of Points", "It grows."])
    st = _structure_pdf_text(text)
    assert [s.number for s in st.sections if s.number] == ["1", "2", "A", "B", "B.1", "B.2", "C", "C.1"]


def test_references_inside_a_quote_are_the_papers_words_not_citations() -> None:
    """A quoted sentence that itself says "Eqs. (2, 3)" or "Section 9" cites nothing (the robust-clip regression):
    only the anchors outside the quote are checked as citations."""
    text = ("# Q\n\n# 1. Method\n\nWe minimise the two losses of Eqs. (2, 3) with a learning rate of 0.01, "
            "as Section 9 explains.\n\n# 2. Other\n\nNothing here.\n")
    _, _, _, sections = structure_paper(text, "markdown")
    paper = enrich_paper(PaperInfo(source="q", kind="markdown", title="Q", text=text, sections=sections))
    assert not paper.equations
    quoted = ('learning_rate: 0.01  # §1 — "We minimise the two losses of Eqs. (2, 3) with a learning rate of 0.01, '
              'as Section 9 explains."\n')
    assert _kinds(paper, {"configs/base.yaml": quoted}) == []
    comment = '# §1 — "the two losses of Eqs. (2, 3) with a learning rate"\n'
    assert _kinds(paper, {"src/model.py": comment}) == []
    # outside the quote the same anchors are still citations, and checked
    assert _kinds(paper, {"src/model.py": '# §1, Eq. 2 — "the two losses of"\n'}) == ["unknown-equation"]
    assert _kinds(paper, {"src/model.py": '# §9 — "the two losses of"\n'}) == ["unknown-section"]
    # a section sign inside the quote does not become the section the quote is looked up in
    assert _kinds(paper, {"src/model.py": '# §2 — "the two losses of Eqs. (2, 3)"\n'}) == ["quote-not-in-section"]
    assert config_yaml(paper) and CitationChecker(paper).check({"configs/base.yaml": config_yaml(paper)}).ok


def test_table_columns_headed_by_symbols_the_caption_defines() -> None:
    """One setting per column, one dataset per row, the headers symbols ('b', 'α') the caption names."""
    text = ("# P\n\n# 1. Method\n\nWe train a small mask network.\n\n# B. Settings\n\n"
            "Table 4. Settings per dataset (where $^ { b }$ and $\\alpha$ denote batch size and initial learning rate, "
            "respectively)\n\n<table><tr><td></td><td>b</td><td>SCHEDULE</td><td>α</td></tr>"
            "<tr><td>SetOne</td><td>96</td><td>[0,50]</td><td>0.02</td></tr>"
            "<tr><td>SetTwo</td><td>48</td><td>[0,50]</td><td>0.02</td></tr></table>\n\n"
            "<table><tr><td>Optimizer</td><td>SGD</td></tr><tr><td>SGD&#x27;S MOMENTUM</td><td></td></tr></table>\n")
    _, _, _, sections = structure_paper(text, "markdown")
    paper = enrich_paper(PaperInfo(source="p", kind="markdown", title="P", text=text, sections=sections))
    got = {(h.name, h.value, h.section) for h in paper.hyperparameters}
    assert got == {("batch_size", "96", "B"), ("batch_size", "48", "B"), ("learning_rate", "0.02", "B"),
                   ("optimizer", "sgd", "B")}
    assert CitationChecker(paper).check({"configs/base.yaml": config_yaml(paper)}).ok, config_yaml(paper)
