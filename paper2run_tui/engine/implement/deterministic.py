"""Without an LLM the extraction still helps: a cited configs/base.yaml and the ambiguity audit. No code is
generated, and the output says so plainly."""

from __future__ import annotations

import re
from collections import defaultdict

from ..contracts import Hyperparameter, PaperInfo
from .extract import concept_values
from .numbers import parse_value, same_value

#: Hyperparameters most papers should state; those missing are listed as [UNSPECIFIED] with common defaults.
EXPECTED: dict[str, tuple[str, str]] = {
    "learning_rate": ("0.001", "1e-4, 3e-4"),
    "batch_size": ("32", "16, 64, 128"),
    "optimizer": ("adam", "sgd, adamw"),
    "epochs": ("10", "depends on the data set"),
    "dropout": ("0.1", "0.0, 0.2"),
    "weight_decay": ("0.0", "1e-4, 0.01"),
    "seed": ("0", "any; report several"),
}


def short_quote(h: Hyperparameter, width: int = 140) -> str:
    """A verbatim substring of the quoted sentence around the value (the citation check looks it up)."""
    sentence = h.quote
    if len(sentence) <= width:
        return sentence
    # the first window, starting on a word, in which the value is still this concept's (what the checker reads)
    value = parse_value(h.value)
    if value is not None:
        for start in [0] + [m.end() for m in re.finditer(r"\s+", sentence)]:
            if start + width // 3 > len(sentence):
                break
            window = sentence[start:start + width].strip()
            if any(c == h.name and same_value(v, value) for c, v, _ in concept_values(window)):
                return window
    at = max(sentence.lower().find(h.value.lower()), 0)
    start = max(0, at - width // 2)
    if start > 0 and not sentence[start - 1].isspace():  # begin on a word, not inside one
        start = sentence.find(" ", start) + 1 or start
    return sentence[start:start + width].strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace('"', "'")


def config_yaml(paper: PaperInfo) -> str:
    lines = [f"# base.yaml — hyperparameters of {paper.title or 'the paper'}",
             "# Each value is cited to the sentence it was read from, or flagged [UNSPECIFIED].", ""]
    grouped: dict[str, list[Hyperparameter]] = defaultdict(list)
    for h in paper.hyperparameters:
        grouped[h.name].append(h)
    for name, values in grouped.items():
        h = values[0]
        quote = short_quote(h).replace('"', "'")
        flag = " [PARTIALLY_SPECIFIED] several values stated" if len({v.value for v in values}) > 1 else ""
        if not h.section:  # stated in an unnumbered part (an unnumbered paper): the quote is the citation
            lines.append(f'{name}: {h.value}  # [PARTIALLY_SPECIFIED] stated in "{quote}"')
            continue
        lines.append(f'{name}: {h.value}  # §{h.section} — "{quote}"{flag}')
    for name, (default, alternatives) in EXPECTED.items():
        if name not in grouped:
            lines.append(f"{name}: {default}  # [UNSPECIFIED] not stated in the paper; alternatives: {alternatives}")
    return "\n".join(lines) + "\n"


def reproduction_notes(paper: PaperInfo, *, generated_code: bool, citation_report: str = "") -> str:
    grouped: dict[str, list[Hyperparameter]] = defaultdict(list)
    for h in paper.hyperparameters:
        grouped[h.name].append(h)
    specified = [(n, v) for n, v in grouped.items() if len({h.value for h in v}) == 1]
    partial = [(n, v) for n, v in grouped.items() if len({h.value for h in v}) > 1]
    out = [f"# Reproduction Notes — {paper.title or paper.source}", ""]
    if not generated_code:
        out += ["**No code was generated**: no LLM endpoint is configured. What follows comes from the paper's text "
                "alone; configure an endpoint (see the README) to generate the implementation.", ""]
    out += ["## Ambiguity Audit", "", "### SPECIFIED (high confidence)", "", "| Choice | Value | Source | Paper says |",
            "|--------|-------|--------|------------|"]
    out += [f"| {n} | {v[0].value} | §{v[0].section} | \"{_cell(short_quote(v[0]))}\" |" for n, v in specified] \
        or ["| — | — | — | — |"]
    out += ["", "### PARTIALLY_SPECIFIED (judgment call made)", "", "| Choice | Values stated | Sources |",
            "|--------|---------------|---------|"]
    out += [f"| {n} | {', '.join(sorted({h.value for h in v}))} | {', '.join(sorted({'§' + h.section for h in v}))} |"
            for n, v in partial] or ["| — | — | — |"]
    out += ["", "### UNSPECIFIED (our defaults)", "", "| Choice | Our Default | Alternatives |",
            "|--------|-------------|--------------|"]
    out += [f"| {n} | {d} | {a} |" for n, (d, a) in EXPECTED.items() if n not in grouped] or ["| — | — | — |"]
    if paper.code_url:
        out += ["", "## Official code", "", f"The paper names its code: {paper.code_url}. To build and run it as "
                f"published: `paper2run-tui run --repo {paper.code_url}`."]
    if paper.equations:
        out += ["", "## Equations found", ""] + [f"- Eq. {e.number} (§{e.section}): `{e.text[:100]}`" for e in paper.equations]
    if citation_report:
        out += ["", "## Citation check", "", citation_report]
    return "\n".join(out) + "\n"


def readme(paper: PaperInfo, *, generated_code: bool, framework: str, mode: str) -> str:
    head = f"# {paper.title or 'Paper implementation'}\n\n"
    if paper.code_url:
        head += f"The paper names its official code: {paper.code_url} (`paper2run-tui run --repo {paper.code_url}`).\n\n"
    if not generated_code:
        return head + ("No code was generated (no LLM endpoint is configured). This folder holds what the paper "
                       "states: `configs/base.yaml` (every hyperparameter cited to its sentence) and "
                       "`REPRODUCTION_NOTES.md` (what is specified, ambiguous or missing).\n")
    return head + (f"A citation-anchored {framework} implementation ({mode} mode) generated by paper2run-tui. Every "
                   "non-trivial choice cites the paper (§X.Y, Eq. N) or is flagged ([UNSPECIFIED], [ASSUMPTION], ...); "
                   "the citations were checked against the paper (see REPRODUCTION_NOTES.md).\n\n"
                   "```sh\npip install -r requirements.txt\npython smoke_shapes.py   # one forward pass on a toy config\n```\n")
