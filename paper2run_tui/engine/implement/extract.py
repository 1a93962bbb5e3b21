"""Equations, tables and stated hyperparameters from a parsed paper, each with its section and the verbatim quote."""

from __future__ import annotations

import re

from ..contracts import Hyperparameter, PaperEquation, PaperInfo, PaperTable
from .numbers import Number, canonical, normalise, read_numbers

_EQ_TAG = re.compile(r"(?:\\tag\{(\d+)\}|\((\d{1,3})\)\s*$)")
_TABLE = re.compile(r"^\s*Table\s+(\d+)[:.]\s*(.+)$", re.MULTILINE)


def _sentences(text: str) -> list[str]:
    """Sentences, with a numbered equation line or a blank line ending one (an equation has no full stop)."""
    chunks: list[list[str]] = [[]]
    for line in text.splitlines():
        if not line.strip():
            chunks.append([])
            continue
        chunks[-1].append(line)
        if _EQ_TAG.search(line.strip()):
            chunks.append([])
    out: list[str] = []
    for chunk in chunks:
        flat = re.sub(r"\s+", " ", " ".join(chunk)).strip()
        out += [s.strip() for s in re.split(r"(?<=[.;])\s+(?=[A-Z(])", flat) if s.strip()]
    return out


def normalise_number(value: str) -> str:
    v = value.replace("−", "-").replace(" ", "")
    m = re.match(r"^(\d+(?:\.\d+)?)[x×]10\^?(-?\d+)$", v)
    if m:
        return f"{m.group(1)}e{m.group(2)}"
    m = re.match(r"^10\^?(-\d+)$", v) or re.match(r"^10(-\d+)$", v)
    if m:
        return f"1e{m.group(1)}"
    return v


#: concept -> (phrase after which the value comes, phrase before which the value comes). Regexes on normalised text.
CONCEPTS: dict[str, tuple[str | None, str | None]] = {
    "learning_rate": (r"(?:base |initial |peak )?learning[ -]rates?|\blr\b", None),
    "batch_size": (r"(?:mini-?)?batch[ -]?sizes?(?:\s*\(\s*B\s*S\s*\))?", r"(?:examples|samples|images|sequences) per (?:mini-?)?batch"),
    "epochs": (r"(?:number of |training |mini[ -])?epochs", r"(?:training |total )?epochs"),
    "train_steps": (r"(?:encoder |policy )?training steps|training iterations", r"(?:training |gradient descent |gradient |optimization )?(?:steps|iterations)"),
    "warmup_steps": (r"warm-?up(?:[ _\\]*steps)?", None),
    "dropout": (r"dropout(?: rate| probability)?|P_?drop", None),
    "weight_decay": (r"weight[ -]decay(?: coefficient)?", None),
    "momentum": (r"momentum", None),
    "label_smoothing": (r"label smoothing(?: of value)?|\\epsilon_ls|ε_?ls", None),
    "beta1": (r"\\beta_?1\b|β_?1\b|beta_?1\b", None),
    "beta2": (r"\\beta_?2\b|β_?2\b|beta_?2\b", None),
    "epsilon": (r"(?:\\epsilon|ε|epsilon)(?!_?ls)(?=\s*=)", None),
    "discount": (r"discount(?: factor)?", None),
    "grad_norm": (r"grad(?:ient)? norm(?: clipping)?|gradient clipping", None),
    "entropy_coef": (r"entropy coefficient", None),
    "clip_range": (r"clipping factor|clip(?:ping)? (?:range|ratio|parameter)", None),
    "horizon_length": (r"horizon length", None),
    "hidden_size": (r"hidden (?:size|dimension|units)", r"hidden units"),
    "num_layers": (r"(?-i:\bN\s*(?==))|number of layers", r"(?:identical |transformer |encoder |decoder |hidden )?layers"),
    "num_heads": (r"(?-i:(?<![/\\\w])h\s*(?==))|(?:attention )?heads(?= ?[=:])", r"(?:parallel )?(?:attention )?heads"),
    "d_model": (r"d_?model|d_\\text\s*model|d_\\mathrm\s*model", None),
    "d_ff": (r"d_?ff\b|d_\\text\s*ff|d_ff", None),
    "population_size": (r"population size", None),
    "step_size": (r"step size(?: \\gamma| γ)?", None),
    "num_prompts": (r"number of prompt(?: embeddings| tokens)?(?: N_p| N _ p)?", None),
}
_STOP = {"of", "is", "was", "are", "were", "set", "to", "as", "at", "we", "use", "used", "be", "value", "a", "an",
         "the", "fixed", "chosen", "equal", "initial", "initially"}
_GAP_TOKEN = re.compile(r"\\[a-zA-Z]+|[A-Za-zα-ωΑ-Ω]+|[^\s:=(),$\\{}_]")


def _gap_ok(gap: str) -> bool:
    """Between a concept and its value only glue ('of', 'is set to', '=') and at most two symbols ('λ', 'B S')."""
    tokens = _GAP_TOKEN.findall(gap)
    symbols = [t for t in tokens if t.lower() not in _STOP]
    return len(tokens) <= 6 and len(symbols) <= 2 and all(len(t) <= 2 or t.startswith("\\") for t in symbols)

_OPTIMIZERS = re.compile(r"\b(AdamW|Adam|SGD|RMSProp|Adagrad|Adafactor|LAMB|LARS)\b")
_OPT_CONTEXT = re.compile(r"optimi[sz]er|\b(?:we|is|are|was|were)\s+(?:use|used|train|trained|employ|employed|adopt|adopted|optimi[sz]ed)\b", re.I)
_CAPTION = re.compile(r"^\s*(?:Figure|Fig\.|Table)\s*[A-Z]?\d+\s*[.:]")
_VARIED = re.compile(r"\b(?:vary|varies|varied|varying|ablations?|sensitivity)\b", re.I)
_REFERENCES = {"references", "bibliography", "references.", "acknowledgements", "acknowledgments", "acknowledgement",
               "acknowledgment"}


#: a symbol-only concept ('N = 6', 'h = 8') counts only in a sentence that names what the symbol is
_SYMBOL_NEEDS = {"num_layers": re.compile(r"layer", re.I), "num_heads": re.compile(r"head", re.I)}


def _exponent(n: Number, text: str) -> bool:
    """'^{-0.5}', 'x_1': exponents and subscripts are not settings."""
    return bool(re.search(r"[\^_]\s*\{?\s*$", text[max(0, n.start - 3):n.start]))


def _is_year(n: Number, text: str) -> bool:
    """'(Kingma & Ba, 2015)', 'in 2017': a year, not a setting ('d_ff = 2048', '2000 steps' are settings)."""
    if not (n.value == int(n.value) and 1950 <= n.value <= 2030 and n.raw.isdigit()):
        return False
    return bool(re.search(r"(?:et al\.?,?|\bin|\(|[A-Z][a-z]+,|&\s*\w+,)\s*$", text[max(0, n.start - 20):n.start]))


def _compiled() -> list[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None]]:
    return [(name, re.compile(a, re.I) if a else None, re.compile(rf"^\s*(?:{b})\b", re.I) if b else None)
            for name, (a, b) in CONCEPTS.items()]


_CONCEPTS = _compiled()


def concept_values(sentence: str) -> list[tuple[str, float, str]]:
    """(concept, value, raw) for each value tied to a concept in one sentence or table row.

    A value belongs to the concept written right before it ('learning rate of 0.001', 'β1 = 0.9') or right after
    it ('100 epochs'); years and numbers far from any concept are nobody's.
    """
    text = normalise(sentence)
    numbers = [n for n in read_numbers(text) if not _is_year(n, text) and not _exponent(n, text)]
    out: list[tuple[str, float, str]] = []
    taken: set[int] = set()
    for name, after, before in _CONCEPTS:
        needs = _SYMBOL_NEEDS.get(name)
        if needs is not None and not needs.search(text):
            continue
        if after is not None:
            for m in after.finditer(text):
                for n in numbers:
                    if n.start >= m.end() and n.start - m.end() <= 60 and _gap_ok(text[m.end():n.start]):
                        if n.start not in taken:
                            out.append((name, n.value, n.raw))
                            taken.add(n.start)
                        break
        if before is not None:
            for n in numbers:
                if n.start in taken:
                    continue
                if before.match(text[n.end:n.end + 60]):
                    out.append((name, n.value, n.raw))
                    taken.add(n.start)
    return out


def _table_rows(text: str) -> list[str]:
    """Rows of HTML (<tr><td>..) and pipe tables as 'label: value' strings; other text is left to _sentences."""
    rows: list[str] = []
    for tr in re.findall(r"<tr>(.*?)</tr>", text, re.S | re.I):
        cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S | re.I)]
        if len(cells) >= 2:
            rows.append(": ".join(cells))
    for line in text.splitlines():
        if line.strip().startswith("|") and not re.match(r"^\s*\|[\s:|-]+\|?\s*$", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2:
                rows.append(": ".join(cells))
    return rows


def hyperparameters(paper: PaperInfo) -> list[Hyperparameter]:
    found: list[Hyperparameter] = []
    seen: set[tuple[str, str]] = set()
    for section in paper.sections:
        if section.title.lower().strip(" .:") in _REFERENCES:
            continue
        body = re.sub(r"<table>.*?</table>", " ", section.text, flags=re.S | re.I)
        for sentence in _sentences(body) + _table_rows(section.text):
            if len(sentence) > 800 or _CAPTION.match(sentence) or sentence.count("&") >= 3 or _VARIED.search(sentence):
                continue  # captions hold axis ticks and results, tabulars results, ablations other settings
            for name, value, _raw in concept_values(sentence):
                if name == "step_size" and _OPTIMIZERS.search(sentence):
                    name = "learning_rate"  # 'using Adam with step size 0.0005': the optimizer's step size
                key = (name, canonical(value))
                if key not in seen:
                    seen.add(key)
                    found.append(Hyperparameter(name=name, value=canonical(value), section=section.number,
                                                quote=sentence))
            for opt in _OPTIMIZERS.finditer(sentence):
                if not _OPT_CONTEXT.search(sentence):
                    continue
                optimizer = opt.group(1).lower()
                if ("optimizer", optimizer) not in seen:
                    seen.add(("optimizer", optimizer))
                    found.append(Hyperparameter(name="optimizer", value=optimizer, section=section.number,
                                                quote=sentence))
    return found


def _section_lines(paper: PaperInfo) -> list[tuple[str, str]]:
    """(section number, line) pairs. Section texts keep their lines for markdown; PDF section texts may come back
    flattened, so then the raw text's lines are used, each placed in the section whose text contains it."""
    pairs = [(s.number, line) for s in paper.sections for line in s.text.splitlines()]
    if not paper.text or len(pairs) >= len(paper.text.splitlines()) // 2:
        return pairs
    flat = [(s.number, re.sub(r"\s+", " ", s.text)) for s in paper.sections]
    out = []
    at = 0  # sections come in the order of the text: look in the current one and the next few, never all of them
    for line in paper.text.splitlines():
        key = re.sub(r"\s+", " ", line).strip()
        if not key:
            continue
        for k in range(at, min(at + 4, len(flat))):
            if key in flat[k][1]:
                at = k
                out.append((flat[k][0], line))
                break
    return out


def equations(paper: PaperInfo) -> list[PaperEquation]:
    out: list[PaperEquation] = []
    seen: set[str] = set()
    for section, line in _section_lines(paper):
        m = _EQ_TAG.search(line.strip())
        if not m:
            continue
        number = m.group(1) or m.group(2)
        body = line.strip()
        # A numbered equation line has maths in it, not just a parenthesised number in prose.
        if m.group(2) and not re.search(r"[=∑∏√^_\\]|\bsoftmax\b|\bmax\b", body):
            continue
        if number not in seen:
            seen.add(number)
            out.append(PaperEquation(number=number, section=section, text=body[:500]))
    return out


def tables(paper: PaperInfo) -> list[PaperTable]:
    out: list[PaperTable] = []
    for section, line in _section_lines(paper):
        m = _TABLE.match(line)
        if m and all(t.number != m.group(1) for t in out):
            out.append(PaperTable(number=m.group(1), caption=m.group(2).strip()[:300], section=section))
    return out


def enrich_paper(info: PaperInfo) -> PaperInfo:
    """Fill equations, tables and hyperparameters (kept if already present)."""
    return info.model_copy(update={
        "equations": info.equations or equations(info),
        "tables": info.tables or tables(info),
        "hyperparameters": info.hyperparameters or hyperparameters(info),
    })
