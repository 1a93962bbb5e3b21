"""The citation check: every anchor in the generated code must point at something the paper really says.

Deterministic. `§X.Y` must name a section of the parsed paper, `Eq. N` an equation, a quoted phrase next to a
citation must occur in the paper's text, every value in configs/base.yaml must carry a citation or a flag, and a
cited value must match a number in the cited sentence (or section).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from ..contracts import PaperInfo
from .extract import normalise_number

FLAGS = ("[UNSPECIFIED]", "[PARTIALLY_SPECIFIED]", "[ASSUMPTION]", "[FROM_OFFICIAL_CODE]")
_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")
_EQUATION = re.compile(r"\bEq(?:uation)?s?\.?\s*\(?(\d+)\)?")
_QUOTE = re.compile(r"[\"“]([^\"”]{4,200})[\"”]")
_NUMBER = re.compile(r"10\s*\^\s*[-−]\s*\d+|(?<![\w.])[-−]?\d+(?:\.\d+)?(?:[eE][-−]?\d+)?(?:\s*[x×]\s*10\s*\^?\s*[-−]?\d+)?")
_YAML_LEAF = re.compile(r"^(\s*)([A-Za-z_][\w.-]*):\s+([^#\n]+?)\s*(?:#\s*(.*))?$")


class Violation(BaseModel):
    file: str
    line: int
    kind: Literal["unknown-section", "unknown-equation", "misquote", "uncited-config", "value-mismatch"]
    message: str


class CitationReport(BaseModel):
    citations: int = 0
    violations: list[Violation] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def markdown(self) -> str:
        if self.ok:
            return f"All {self.citations} citations were checked against the paper: no problems found.\n"
        rows = "\n".join(f"| `{v.file}`:{v.line} | {v.kind} | {v.message} |" for v in self.violations)
        return (f"{len(self.violations)} of the {self.citations} citation checks failed:\n\n"
                f"| where | problem | detail |\n| --- | --- | --- |\n{rows}\n")


def _norm_text(text: str) -> str:
    text = re.sub(r"-\s*\n\s*", "", text)  # hyphenation at line ends in PDF text
    text = text.replace("−", "-").replace("“", '"').replace("”", '"').replace("’", "'")
    # Hyphens dropped on both sides: "pre-norm" split as "pre-\nnorm" in the PDF and quoted whole still matches.
    return re.sub(r"\s+", " ", text.replace("-", "")).strip().lower()


def _numbers(text: str) -> set[float]:
    out = set()
    for raw in _NUMBER.findall(text):
        try:
            out.add(float(normalise_number(raw)))
        except ValueError:
            continue
    return out


class CitationChecker:
    def __init__(self, paper: PaperInfo) -> None:
        self.paper = paper
        self.sections = {s.number: s for s in paper.sections if s.number}
        self.equations = {e.number for e in paper.equations}
        self.text = _norm_text(paper.text or "\n".join(s.text for s in paper.sections))

    def section_exists(self, number: str) -> bool:
        return number in self.sections or any(n.startswith(number + ".") for n in self.sections)

    def section_text(self, number: str) -> str:
        return "\n".join(s.text for n, s in self.sections.items() if n == number or n.startswith(number + "."))

    def check(self, files: dict[str, str]) -> CitationReport:
        report = CitationReport()
        for path, content in sorted(files.items()):
            if not path.endswith((".py", ".yaml", ".yml", ".md", ".ipynb")) or path.endswith("REPRODUCTION_NOTES.md"):
                continue
            for n, line in enumerate(content.splitlines(), 1):
                self._check_line(path, n, line, report)
            if path.endswith(("configs/base.yaml", "configs/base.yml")):
                self._check_config(path, content, report)
        return report

    def _check_line(self, path: str, n: int, line: str, report: CitationReport) -> None:
        sections = _SECTION.findall(line)
        for number in sections:
            report.citations += 1
            if not self.section_exists(number):
                report.violations.append(Violation(file=path, line=n, kind="unknown-section",
                                                   message=f"§{number} is not a section of the paper"))
        for number in _EQUATION.findall(line):
            report.citations += 1
            if number not in self.equations:
                report.violations.append(Violation(file=path, line=n, kind="unknown-equation",
                                                   message=f"Eq. {number} is not a numbered equation of the paper"))
        if sections or "[PARTIALLY_SPECIFIED]" in line:
            for quote in _QUOTE.findall(line):
                if _norm_text(quote) not in self.text:
                    report.violations.append(Violation(file=path, line=n, kind="misquote",
                                                       message=f'"{quote}" does not occur in the paper'))

    def _check_config(self, path: str, content: str, report: CitationReport) -> None:
        for n, line in enumerate(content.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            m = _YAML_LEAF.match(line)
            if not m:
                continue
            key, value, comment = m.group(2), m.group(3).strip(), m.group(4) or ""
            if value in ("", "|", ">") or value.endswith(":"):
                continue
            cited = _SECTION.findall(comment)
            if not cited and not any(flag in comment for flag in FLAGS):
                report.violations.append(Violation(file=path, line=n, kind="uncited-config",
                                                   message=f"{key}: {value} has neither a citation nor a flag"))
                continue
            if not cited or any(flag in comment for flag in FLAGS):
                continue
            wanted = _numbers(value)
            if not wanted:
                continue
            quotes = _QUOTE.findall(comment)
            source = " ".join(quotes) if quotes else " ".join(self.section_text(c) for c in cited)
            if not (wanted & _numbers(source)):
                where = "the quoted sentence" if quotes else f"§{', §'.join(cited)}"
                report.violations.append(Violation(file=path, line=n, kind="value-mismatch",
                                                   message=f"{key}: {value} does not match any number in {where}"))
