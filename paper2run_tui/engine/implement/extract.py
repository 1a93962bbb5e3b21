"""Equations, tables and stated hyperparameters from a parsed paper, each with its section and the verbatim quote."""

from __future__ import annotations

import re

from ..contracts import Hyperparameter, PaperEquation, PaperInfo, PaperTable

_NUM = r"(10\s*\^\s*[-−]\s*\d+|10[-−]\d+(?![\d.])|\d+(?:\.\d+)?(?:\s*[x×]\s*10\s*\^?\s*[-−]?\d+|[eE][-−]?\d+)?)"
#: canonical name -> patterns whose first group is the value. Ordered: specific before general.
_HYPER: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(p, re.IGNORECASE))
    for name, p in [
        ("learning_rate", rf"learning[ -]rate(?:\s+(?:of|was|is|=|:|set to))?\s*(?:η\s*=\s*)?{_NUM}"),
        ("learning_rate", rf"\blr\s*(?:=|of)\s*{_NUM}"),
        ("batch_size", rf"batch(?:es)?(?: size)?(?: of| was| is|=|:)?\s*(?:size\s*)?{_NUM}"),
        ("batch_size", rf"{_NUM}\s+(?:examples|samples|images|sequences|tokens) per (?:batch|mini-?batch)"),
        ("warmup_steps", rf"warm-?up(?:_steps| steps)?\s*(?:=|of|:|for)?\s*{_NUM}"),
        ("dropout", rf"dropout(?: rate| probability)?(?: of| was| is|=|:)?\s*(?:P_?drop\s*=\s*)?{_NUM}"),
        ("weight_decay", rf"weight decay(?: of| was| is|=|:)?\s*{_NUM}"),
        ("label_smoothing", rf"label smoothing(?: of)?(?: value)?(?: ε_?ls)?\s*(?:=|of|:)?\s*{_NUM}"),
        ("beta1", rf"β\s*_?1\s*=\s*{_NUM}"),
        ("beta2", rf"β\s*_?2\s*=\s*{_NUM}"),
        ("beta1", rf"beta_?1\s*=\s*{_NUM}"),
        ("beta2", rf"beta_?2\s*=\s*{_NUM}"),
        ("epsilon", rf"(?:ε|epsilon)\s*=\s*{_NUM}"),
        ("num_layers", rf"(?:N\s*=\s*{_NUM}\s+(?:identical\s+)?layers|{_NUM}\s+(?:identical\s+)?(?:transformer\s+|encoder\s+|decoder\s+|hidden\s+)?layers)"),
        ("num_heads", rf"(?:h\s*=\s*{_NUM}|{_NUM}\s+(?:attention\s+)?heads)"),
        ("d_model", rf"d_?model\s*=\s*{_NUM}"),
        ("d_ff", rf"d_?ff\s*=\s*{_NUM}"),
        ("hidden_size", rf"hidden (?:size|dimension|units)(?: of| was| is|=|:)?\s*{_NUM}"),
        ("epochs", rf"{_NUM}\s+epochs|epochs\s*(?:=|:)\s*{_NUM}"),
        ("train_steps", rf"{_NUM}\s*(?:k\s+)?(?:training\s+)?steps"),
        ("momentum", rf"momentum(?: of| was| is|=|:)?\s*{_NUM}"),
    ]
]
_OPTIMIZERS = re.compile(r"\b(Adam(?:W)?|SGD|RMSProp|Adagrad|Adafactor|LAMB|LARS)\b(?: optimizer)?")
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


def hyperparameters(paper: PaperInfo) -> list[Hyperparameter]:
    found: list[Hyperparameter] = []
    seen: set[tuple[str, str]] = set()
    for section in paper.sections:
        for sentence in _sentences(section.text):
            if len(sentence) > 600:
                continue
            for name, pattern in _HYPER:
                for m in pattern.finditer(sentence):
                    raw = next((g for g in m.groups() if g), None)
                    if raw is None:
                        continue
                    value = normalise_number(raw)
                    if (name, value) in seen:
                        continue
                    seen.add((name, value))
                    found.append(Hyperparameter(name=name, value=value, section=section.number, quote=sentence))
            opt = _OPTIMIZERS.search(sentence)
            if opt and ("optimi" in sentence.lower() or "we use" in sentence.lower() or "trained with" in sentence.lower()):
                value = opt.group(1).lower()
                if ("optimizer", value) not in seen:
                    seen.add(("optimizer", value))
                    found.append(Hyperparameter(name="optimizer", value=value, section=section.number, quote=sentence))
    return found


def _section_lines(paper: PaperInfo) -> list[tuple[str, str]]:
    """(section number, line) pairs. Section texts keep their lines for markdown; PDF section texts may come back
    flattened, so then the raw text's lines are used, each placed in the section whose text contains it."""
    pairs = [(s.number, line) for s in paper.sections for line in s.text.splitlines()]
    if not paper.text or len(pairs) >= len(paper.text.splitlines()) // 2:
        return pairs
    flat = [(s.number, re.sub(r"\s+", " ", s.text)) for s in paper.sections]
    out = []
    for line in paper.text.splitlines():
        key = re.sub(r"\s+", " ", line).strip()
        owner = next((number for number, text in flat if key and key in text), None)
        if owner is not None:
            out.append((owner, line))
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
