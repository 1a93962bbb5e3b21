"""The citation check: every anchor in the generated code must point at something the paper really says.

Deterministic, and strict where the references are loose:
- `§X.Y` must be a section (or appendix) of the paper, `Eq. N` one of its equations;
- a quote next to a citation must occur in the section it cites (not just somewhere in the paper);
- every value in configs/base.yaml carries a citation or a flag, and a cited value must be the value the quoted
  sentence (or table row) gives to that concept, not just any number in it;
- `[UNSPECIFIED]` / `[FROM_OFFICIAL_CODE]` on a value the paper states is wrong, and says where the paper states it;
- a value set in the code (a default argument, a constant) agrees with base.yaml.
Code is read with `ast`/`tokenize` (comments and docstrings only) and notebooks cell by cell, so string literals
and JSON are never taken for quotes. Every violation names its rule, where it is, and the paper text it was
checked against.
"""

from __future__ import annotations

import ast
import io
import json
import re
import tokenize
from typing import Literal

from pydantic import BaseModel, Field

from ..contracts import PaperInfo
from .extract import CONCEPTS, _sentences, _table_rows, concept_values
from .numbers import canonical, numbers_in, parse_value, same_value

FLAGS = ("[UNSPECIFIED]", "[PARTIALLY_SPECIFIED]", "[ASSUMPTION]", "[FROM_OFFICIAL_CODE]")
_DENYING_FLAGS = ("[UNSPECIFIED]", "[FROM_OFFICIAL_CODE]")
_SECTION = re.compile(r"§\s*((?:[A-Z](?![a-z])|\d{1,2})(?:\d{1,2})?(?:\.\d{1,2})*)")
_EQUATION = re.compile(r"\bEq(?:uation)?s?\.?\s*\(?(\d+)\)?")
_QUOTE = re.compile(r"[\"“]([^\"”]{4,300})[\"”]")
_YAML_LEAF = re.compile(r"^(\s*)([A-Za-z_][\w.-]*):\s+([^#\n]+?)\s*(?:#\s*(.*))?$")
_ALIASES = {"lr": "learning_rate", "num_epochs": "epochs", "n_epochs": "epochs", "max_steps": "train_steps",
            "steps": "train_steps", "total_steps": "train_steps", "n_heads": "num_heads", "heads": "num_heads",
            "n_layers": "num_layers", "num_encoder_layers": "num_layers", "num_decoder_layers": "num_layers",
            "gamma": "discount", "eps": "epsilon", "adam_epsilon": "epsilon", "adam_beta1": "beta1",
            "adam_beta2": "beta2", "wd": "weight_decay", "dim_feedforward": "d_ff", "ffn_dim": "d_ff",
            "hidden_dim": "hidden_size", "dropout_rate": "dropout", "p_drop": "dropout", "bs": "batch_size",
            "warmup": "warmup_steps", "max_grad_norm": "grad_norm", "clip_grad_norm": "grad_norm"}

Kind = Literal["unknown-section", "unknown-equation", "misquote", "quote-not-in-section", "uncited-config",
               "value-mismatch", "wrong-concept", "tag-on-stated-value", "values-disagree"]


class Violation(BaseModel):
    file: str
    line: int
    kind: Kind
    message: str
    paper_text: str = Field(default="", description="The paper text the claim was checked against")


class CitationReport(BaseModel):
    citations: int = 0
    violations: list[Violation] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def markdown(self) -> str:
        if self.ok:
            return f"All {self.citations} citations were checked against the paper: no problems found.\n"
        rows = "\n".join(f"| `{v.file}`:{v.line} | {v.kind} | {v.message} | {_cell(v.paper_text)} |"
                         for v in self.violations)
        checks = max(self.citations, len(self.violations))
        return (f"{len(self.violations)} problem(s) in {checks} citation checks:\n\n"
                f"| where | rule | detail | paper text |\n| --- | --- | --- | --- |\n{rows}\n")


def _cell(text: str) -> str:
    return text[:160].replace("|", "\\|").replace("\n", " ")


def _norm_text(text: str) -> str:
    text = re.sub(r"-\s*\n\s*", "", text)  # hyphenation at line ends in PDF text
    text = text.replace("−", "-").replace("“", '"').replace("”", '"').replace("’", "'").replace("'", "'")
    text = text.replace('"', "").replace("'", "")
    # Hyphens dropped on both sides: "pre-norm" split as "pre-\nnorm" in the PDF and quoted whole still matches.
    return re.sub(r"\s+", " ", text.replace("-", "")).strip().lower()


def _outside_quotes(text: str) -> str:
    """The text with its quoted paper spans blanked: an "Eqs. (2, 3)" or "Section 4" inside a verbatim quote is part
    of what the paper says, not a citation the generated code makes."""
    return _QUOTE.sub(" ", text)


def concept_of(key: str) -> str | None:
    k = key.lower().rsplit(".", 1)[-1]
    k = _ALIASES.get(k, k)
    return k if k in CONCEPTS or k == "optimizer" else None


def comment_lines(path: str, content: str) -> list[tuple[int, str]]:
    """(line, text) a claim can live in: comments and docstrings of .py, cells of .ipynb, all lines otherwise."""
    if path.endswith(".py"):
        return _python_comments(content, 0)
    if path.endswith(".ipynb"):
        try:
            nb = json.loads(content)
        except json.JSONDecodeError:
            return [(1, "")]
        out: list[tuple[int, str]] = []
        for index, cell in enumerate(nb.get("cells", []) if isinstance(nb, dict) else []):
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            base = (index + 1) * 1000  # cell N, line k is reported as N*1000+k
            if cell.get("cell_type") == "code":
                out += _python_comments(src, base)
            else:
                out += [(base + k, line) for k, line in enumerate(src.splitlines(), 1)]
        return out
    return list(enumerate(content.splitlines(), 1))


def _python_comments(source: str, base: int) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                out.append((base + tok.start[0], tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [(base + n, line) for n, line in enumerate(source.splitlines(), 1) if "#" in line]
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return out
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc and node.body:
                start = node.body[0].lineno
                out += [(base + start + k, line) for k, line in enumerate(doc.splitlines())]
    return out


class CitationChecker:
    def __init__(self, paper: PaperInfo) -> None:
        self.paper = paper
        self.sections = {s.number: s for s in paper.sections if s.number}
        self.equations = {e.number for e in paper.equations}
        self._children: dict[str, list[str]] = {}
        for number in self.sections:
            parts = number.split(".")
            for k in range(1, len(parts) + 1):
                self._children.setdefault(".".join(parts[:k]), []).append(number)
        self._norm_cache: dict[str, str] = {}
        self._units_cache: dict[str, list[str]] = {}
        whole = paper.text or "\n".join(s.text for s in paper.sections)
        self.text = _norm_text(whole + "\n" + "\n".join(_table_rows(whole)))
        self.stated = self._stated_concepts()

    def _stated_concepts(self) -> dict[str, tuple[str, str]]:
        """concept -> (section, sentence) where the paper states a value for it (from the extraction)."""
        out: dict[str, tuple[str, str]] = {}
        for h in self.paper.hyperparameters:
            out.setdefault(h.name, (h.section, h.quote))
        return out

    def section_exists(self, number: str) -> bool:
        return number in self._children

    def section_text(self, number: str) -> str:
        return "\n".join(self.sections[n].text for n in self._children.get(number, []))

    def _norm_section(self, number: str) -> str:
        if number not in self._norm_cache:
            text = self.section_text(number)
            self._norm_cache[number] = _norm_text(text + "\n" + "\n".join(_table_rows(text)))
        return self._norm_cache[number]

    def _units(self, number: str) -> list[str]:
        """Sentences and table rows of a section: where a cited value must be the named concept's value."""
        if number not in self._units_cache:
            text = self.section_text(number)
            self._units_cache[number] = _sentences(re.sub(r"<table>.*?</table>", " ", text, flags=re.S)) + _table_rows(text)
        return self._units_cache[number]

    def check(self, files: dict[str, str]) -> CitationReport:
        report = CitationReport()
        config: dict[str, tuple[float, str, int]] = {}
        for path, content in sorted(files.items()):
            if not path.endswith((".py", ".yaml", ".yml", ".md", ".ipynb")) or path.endswith("REPRODUCTION_NOTES.md"):
                continue
            for n, line in comment_lines(path, content):
                self._check_line(path, n, line, report)
            if path.endswith(("configs/base.yaml", "configs/base.yml")):
                config = self._check_config(path, content, report)
        if config:
            for path, content in sorted(files.items()):
                if path.endswith(".py"):
                    self._check_code_values(path, content, config, report)
        return report

    def _check_line(self, path: str, n: int, line: str, report: CitationReport) -> None:
        claims = _outside_quotes(line)
        sections = _SECTION.findall(claims)
        for number in sections:
            report.citations += 1
            if not self.section_exists(number):
                report.violations.append(Violation(file=path, line=n, kind="unknown-section",
                                                   message=f"§{number} is not a section of the paper"))
        for number in _EQUATION.findall(claims):
            report.citations += 1
            if number not in self.equations:
                report.violations.append(Violation(
                    file=path, line=n, kind="unknown-equation", message=f"Eq. {number} is not a numbered equation "
                    f"of the paper (it has {', '.join(sorted(self.equations, key=_eq_key)) or 'none'})"))
        if not (sections or "[PARTIALLY_SPECIFIED]" in line):
            return
        known = [s for s in sections if self.section_exists(s)]
        for quote in _QUOTE.findall(line):
            q = _norm_text(quote)
            if not q:
                continue
            if q not in self.text:
                report.violations.append(Violation(file=path, line=n, kind="misquote",
                                                   message=f'"{quote}" does not occur in the paper'))
            elif known and not any(q in self._norm_section(s) for s in known):
                where = next((num for num in self.sections if q in self._norm_section(num)), "?")
                report.violations.append(Violation(
                    file=path, line=n, kind="quote-not-in-section",
                    message=f'"{quote}" is not in §{", §".join(known)}; the paper has it in §{where}',
                    paper_text=self.section_text(known[0])[:300]))

    def _check_config(self, path: str, content: str, report: CitationReport) -> dict[str, tuple[float, str, int]]:
        values: dict[str, tuple[float, str, int]] = {}
        for n, line in enumerate(content.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            m = _YAML_LEAF.match(line)
            if not m:
                continue
            key, value, comment = m.group(2), m.group(3).strip().strip("'\""), m.group(4) or ""
            if value in ("", "|", ">") or value.endswith(":"):
                continue
            concept = concept_of(key)
            number = parse_value(value)
            if number is not None:
                values[key] = (number, concept or key, n)
            cited = _SECTION.findall(_outside_quotes(comment))
            flags = [f for f in FLAGS if f in comment]
            if not cited and not flags:
                report.violations.append(Violation(file=path, line=n, kind="uncited-config",
                                                   message=f"{key}: {value} has neither a citation nor a flag"))
                continue
            denying = [f for f in flags if f in _DENYING_FLAGS]
            if denying and concept in self.stated:
                where, sentence = self.stated[concept]
                report.violations.append(Violation(
                    file=path, line=n, kind="tag-on-stated-value",
                    message=f"{key} is tagged {denying[0]} but the paper states it in §{where or '?'}",
                    paper_text=sentence[:300]))
                continue
            if not cited or flags:
                continue
            known = [c for c in cited if self.section_exists(c)]
            if known:
                self._check_value(path, n, key, value, concept, number, comment, known, report)
        return values

    def _check_value(self, path: str, n: int, key: str, value: str, concept: str | None, number: float | None,
                     comment: str, cited: list[str], report: CitationReport) -> None:
        quotes = _QUOTE.findall(comment)
        if concept == "optimizer":
            units = quotes or [u for c in cited for u in self._units(c)]
            if not any(re.search(rf"\b{re.escape(value)}\b", u, re.I) for u in units):
                report.violations.append(Violation(
                    file=path, line=n, kind="value-mismatch",
                    message=f"{key}: {value} is not named in {'the quote' if quotes else '§' + ', §'.join(cited)}",
                    paper_text=(quotes[0] if quotes else self.section_text(cited[0]))[:300]))
            return
        if number is None:
            return
        units = quotes if quotes else [u for c in cited for u in self._units(c)]
        tied = [(c, v) for u in units for c, v, _ in concept_values(u)]
        if concept is not None and any(c == concept and same_value(v, number) for c, v in tied):
            return
        if concept is None and any(same_value(x.value, number) for u in units for x in numbers_in(u)):
            return
        where = "the quoted sentence" if quotes else f"§{', §'.join(cited)}"
        text = (quotes[0] if quotes else self.section_text(cited[0]))[:300]
        own = [v for c, v in tied if c == concept]
        others = [c for c, v in tied if same_value(v, number) and c != concept]
        if others:
            report.violations.append(Violation(
                file=path, line=n, kind="wrong-concept", paper_text=text,
                message=f"{key}: {value} is the paper's {others[0]} in {where}, not its {concept or key}"))
        elif concept is not None and not own and any(same_value(x.value, number) for u in units for x in numbers_in(u)):
            return  # the number is in the sentence and no concept of ours claims it: a concept we cannot name
        else:
            stated = f" (it states {', '.join(sorted({canonical(v) for v in own}))})" if own else ""
            report.violations.append(Violation(
                file=path, line=n, kind="value-mismatch", paper_text=text,
                message=f"{key}: {value} is not the value {where} gives{stated}"))

    def _check_code_values(self, path: str, content: str, config: dict[str, tuple[float, str, int]],
                           report: CitationReport) -> None:
        """A default argument or constant named like a config key must have the config's value."""
        try:
            tree = ast.parse(content)
        except SyntaxError:
            return
        by_concept = {concept: (key, value) for key, (value, concept, _) in config.items()}
        pairs: list[tuple[str, ast.expr, int]] = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args.args[len(node.args.args) - len(node.args.defaults):]
                pairs += [(a.arg, d, d.lineno) for a, d in zip(args, node.args.defaults, strict=False)]
                pairs += [(a.arg, d, d.lineno) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults,
                                                                 strict=False) if d is not None]
            elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                pairs.append((node.targets[0].id, node.value, node.lineno))
        for name, expr, line in pairs:
            if not (isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float))) or isinstance(expr.value, bool):
                continue
            concept = concept_of(name) or name
            if concept in by_concept:
                key, value = by_concept[concept]
                if not same_value(float(expr.value), value):
                    report.violations.append(Violation(
                        file=path, line=line, kind="values-disagree",
                        message=f"{name} = {expr.value} here, but configs/base.yaml has {key}: {canonical(value)}"))


def _eq_key(number: str) -> tuple[int, str]:
    return (int(number), "") if number.isdigit() else (10**6, number)
