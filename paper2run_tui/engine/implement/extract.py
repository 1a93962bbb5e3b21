"""Equations, tables and stated hyperparameters from a parsed paper, each with its section and the verbatim quote."""

from __future__ import annotations

import html
import math
import re

from ..contracts import Hyperparameter, PaperEquation, PaperInfo, PaperTable
from .numbers import Number, canonical, normalise, read_numbers

_EQ_TAG = re.compile(r"(?:\\tag\{(\d+)\}|\((\d{1,3})\)\s*$)")
_TABLE = re.compile(r"^\s*Table\s+(\d+)[:.]\s*(.+)$", re.MULTILINE)


_ABBREVIATION = re.compile(r"\b(?:et al|e\.g|i\.e|cf|vs|Fig|Figs|Eq|Eqs|Eqn|Eqns|Sec|Secs|App|Apps|Tab|Alg|Ref|Refs|resp|No)\.$")


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
        # a full stop inside inline maths ('$\\mathrm { C M A } . E S$') does not end a sentence
        flat = re.sub(r"\$[^$]{0,400}\$", lambda m: m.group(0).replace(".", "\x00").replace(";", "\x01"), flat)
        mine: list[str] = []
        for part in (s.strip().replace("\x00", ".").replace("\x01", ";")
                     for s in re.split(r"(?<=[.;])\s+(?=[A-Z(])", flat) if s.strip()):
            if mine and _ABBREVIATION.search(mine[-1]):  # 'Mao et al. (2023) trained ...': not a sentence end
                mine[-1] += " " + part
            else:
                mine.append(part)
        out += mine
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
#: Order matters: a number goes to the first concept that claims it, so the specific ones come before the general
#: ones ('learning rate decay' before 'learning rate', 'steps of the sampler' before 'steps').
CONCEPTS: dict[str, tuple[str | None, str | None]] = {
    "lr_decay": (r"learning[ -]rate decay(?: factor)?(?:\s*(?:\\gamma|γ))?", None),
    "warmup_lr": (r"warm-?up learning rate", None),
    "sampling_steps": (r"(?:sampling|denoising|discreti[sz]ation) steps",
                       r"steps (?:of|in|for) (?:the |a |an )?(?:[\w-]+ ){0,4}?(?:sampl\w*|MCMC|MHMCMC|HMC|Euler[\w-]*|"
                       r"discreti[sz]ation|denoising)"),
    "attack_steps": (r"(?:PGD|attack) (?:steps|iterations)", r"(?:steps|iterations) of (?:A?PGD|(?:the )?attack)"),
    "learning_rate": (r"(?:base |initial |peak |default )?learning[ -]rates?|\blr\b", None),
    "batch_size": (r"(?:mini-?)?batch[ -]?sizes?(?:\s*\(\s*B\s*S\s*\))?", r"(?:examples|samples|images|sequences) per (?:mini-?)?batch"),
    "epochs": (r"(?:number of |training |mini[ -])?epochs", r"(?:training |total )?epochs"),
    "train_steps": (r"(?:encoder |policy )?training steps|training iterations", r"(?:training |gradient descent |gradient |optimization )?(?:steps|iterations)"),
    "warmup_steps": (r"warm-?up(?:[ _\\]*steps)?", None),
    "dropout": (r"dropout(?: rate| probability)?|P_?drop", None),
    "weight_decay": (r"weight[ -]decay(?: coefficient)?", None),
    "momentum": (r"momentum", None),
    "label_smoothing": (r"label smoothing(?: of value)?|\\epsilon_ls|ε_?ls", None),
    "beta1": (r"\\beta\s*_?\s*1\b|β_?1\b|beta_?1\b", None),
    "beta2": (r"\\beta\s*_?\s*2\b|β_?2\b|beta_?2\b", None),
    "beta_min": (r"\\beta\s*_\s*m\s*i\s*n\b|β_?min\b", None),
    "beta_max": (r"\\beta\s*_\s*m\s*a\s*x\b|β_?max\b", None),
    "sigma_min": (r"\\sigma\s*_\s*m\s*i\s*n\b|σ_?min\b", None),
    "sigma_max": (r"\\sigma\s*_\s*m\s*a\s*x\b|σ_?max\b", None),
    "epsilon": (r"(?:\\epsilon|ε|epsilon)(?!_?ls)(?=\s*=)", None),
    "discount": (r"discount(?:ing)?(?: factor| rate)?", None),
    "grad_norm": (r"grad(?:ient)? norm(?: clipping)?|gradient clipping|max(?:imum)?\.? ?grad(?:ient)? ?norm", None),
    "entropy_coef": (r"entropy (?:coefficient|coef|cost|bonus)", None),
    "clip_range": (r"clipping factor|clip(?:ping)? (?:range|ratio|parameter|coefficient)", None),
    "gae_lambda": (r"GAE ?(?:λ|\\lambda|lambda)", None),
    "num_envs": (r"(?:number of |num\.? ?)(?:parallel )?env(?:ironment)?s", r"parallel environments"),
    "unroll_length": (r"unroll(?:[ _]length)", None),
    "horizon_length": (r"horizon length", None),
    "intrinsic_reward_coef": (r"(?:coefficient of the intrinsic reward|intrinsic reward coefficient)"
                              r"(?:(?: for [\w -]{1,40}?)?\s*(?:\\alpha|α|\\beta|β))?", None),
    "memory_size": (r"memory size", None),
    "max_length": (r"max(?:imum)? (?:generation |sequence |output |context )?length"
                   r"(?: (?:for|of) (?:a |the )?(?:generated )?(?:solution|output|sequence|generation)s?)?", None),
    "temperature": (r"(?:sampling |softmax )?temperature(?:\s*(?:T|τ|\\tau))?", None),
    "guidance_scale": (r"(?:CFG|guidance) (?:strength|scale|weight)s?(?:\s*(?:\\gamma|γ))?|(?:\\gamma|γ)(?=\s*=)", None),
    "hidden_size": (r"hidden (?:size|dimension(?:ality)?|dim|units)", r"hidden units|(?:neurons|units) (?:each|per layer)"),
    "num_layers": (r"(?-i:\bN\s*(?==))|number of layers", r"(?:identical |transformer |encoder |decoder |hidden )?layers"),
    "num_heads": (r"(?-i:(?<![/\\\w])h\s*(?==))|(?:attention )?heads(?= ?[=:])", r"(?:parallel )?(?:attention )?heads"),
    "d_model": (r"d_?model|d_\\text\s*model|d_\\mathrm\s*model|token dimension|model dimension", None),
    "d_ff": (r"d_?ff\b|d_\\text\s*ff|d_ff", None),
    "population_size": (r"population size", None),
    "step_size": (r"step size(?: \\gamma| γ)?", None),
    "num_prompts": (r"number of prompt(?: embeddings| tokens)?(?: N_p| N _ p)?", None),
}
#: Whole table-row labels of the usual hyperparameter tables (RL codebases name them so): label -> concept.
ROW_LABELS = {
    "gamma": "discount", "discounting": "discount", "lambda": "gae_lambda", "gae lambda": "gae_lambda",
    "entropy": "entropy_coef", "entropy cost": "entropy_coef", "ent coef": "entropy_coef", "epoch": "epochs",
    "epochs": "epochs", "num env": "num_envs", "num envs": "num_envs", "num step": "horizon_length",
    "num steps": "horizon_length", "clip grad norm": "grad_norm", "grad norm clipping": "grad_norm",
    "max grad norm": "grad_norm", "adam eps": "epsilon", "stable eps": "epsilon", "eps": "epsilon",
    "adam beta1": "beta1", "adam beta2": "beta2", "hidden dim": "hidden_size", "ppo eps": "clip_range",
    "clip coef": "clip_range", "unroll length": "unroll_length", "batch size": "batch_size",
    "weight decay": "weight_decay", "adam learning rate": "learning_rate", "learning rate": "learning_rate",
}
#: concept -> the kind of value it takes; a number outside it is not this concept's ('train_steps: 1e-5')
_INTEGER = {"batch_size", "epochs", "train_steps", "warmup_steps", "num_layers", "num_heads", "hidden_size", "d_model",
            "d_ff", "horizon_length", "population_size", "num_envs", "unroll_length", "sampling_steps", "attack_steps",
            "memory_size", "max_length", "num_prompts"}
_UNIT = {"dropout", "momentum", "beta1", "beta2", "discount", "label_smoothing", "weight_decay", "entropy_coef",
         "lr_decay", "gae_lambda", "clip_range"}
_STOP = {"of", "is", "was", "are", "were", "set", "to", "as", "at", "we", "use", "used", "be", "value", "a", "an",
         "the", "fixed", "chosen", "equal", "initial", "initially"}
_GAP_TOKEN = re.compile(r"\\[a-zA-Z]+|[A-Za-zα-ωΑ-Ω]+|[^\s:=(),$\\{}_]")


def _gap_ok(gap: str) -> bool:
    """Between a concept and its value only glue ('of', 'is set to', '=') and at most two symbols ('λ', 'B S')."""
    gap = re.sub(r"\([^()]{0,80}\)", " ", gap)  # 'peak LR (attained at 7% of the steps) of 1e-5'
    if "(" in gap or ")" in gap or re.search(r"[/*×+^]|[.;]\s", gap):
        return False  # across a parenthesis or a sentence end, or an expression's value ('d_k = d_model/h = 64')  # the concept inside a parenthesis and the value outside it, or the other way round
    tokens = _GAP_TOKEN.findall(gap)
    symbols = [t for t in tokens if t.lower() not in _STOP]
    return len(tokens) <= 6 and len(symbols) <= 2 and all(len(t) <= 2 or t.startswith("\\") for t in symbols)

_OPTIMIZERS = re.compile(r"\b(AdamW|Adam|SGD|RMSProp|Adagrad|Adafactor|LAMB|LARS|L-?BFGS)\b", re.I)
_OPT_CONTEXT = re.compile(r"optimi[sz]er|\b(?:we|is|are|was|were)\s+(?:use|used|train|trained|employ|employed|adopt|adopted|optimi[sz]ed)\b", re.I)
_CAPTION = re.compile(r"^\s*(?:(?:Figure|Fig\.|Table)\s*[A-Z]?\.?\d+\s*[.:]|\([a-h]\)\s)")
_IMAGE = re.compile(r"^\s*(?:!\[[^\]]*\]\([^)]*\)\s*)+")  # MinerU puts the figure's image before its caption
_VARIED = re.compile(r"\b(?:vary|varies|varied|varying|ablations?|ablate|sensitivity|grid|tune|tuned|tuning|sweep|swept|"
                     r"(?:random|hyperparameter|parameter) search|search(?:ed)? (?:over|on|in|among))\b", re.I)
#: sections whose values are other people's: the reference list, related work, the baselines' details
_OTHERS_SECTION = re.compile(r"\b(?:references|bibliography|acknowledge?ments?|related works?|baselines?|"
                             r"author contributions|impact statement)\b", re.I)
#: a sentence citing other work and not speaking of the authors' own: its values are the cited work's
_CITES = re.compile(r"et al\.|\(\s*[A-Z][\w-]+(?:\s*(?:&|and)\s*[A-Z][\w-]+)?,\s*\d{4}[a-z]?\s*\)|\[\d+(?:\s*,\s*\d+)*\]")
#: a citation in parentheses names a tool or a source ('AdamW (Loshchilov & Hutter, 2018) was used'), not the subject
_PAREN_CITE = re.compile(r"\((?:[^()]*?\d{4}[a-z]?)\)|\[\d+(?:\s*,\s*\d+)*\]")
#: a paragraph that opens on a cited method's name ('TENT (Wang et al., 2021). We ...', 'PackNet. Proposed by ...')
_CITED_LEAD = re.compile(r"^(?:(?:\*\*)?(?:[^\s.()]+\s*){1,4}\((?:[^()]*?et al\.?[^()]*?|[^()]*?\d{4}[a-z]?)\)\s*[.:]|[\w-]+\.\s+(?:Proposed|Introduced|Presented) by\b)")
#: a sentence reporting results at some setting ('Here we show the results for temperature = 0.2')
_REPORTING = re.compile(r"\b(?:results? (?:for|on|at|with|of)\b|we (?:show|report|plot|present) the results|"
                        r"(?:show|report|present|plot)s? (?:their|its|the|our) performances?\b)", re.I)
_THEY = re.compile(r"^\s*(?:They|Their)\b")
_OWN = re.compile(r"\b(?:we|our|ours|us)\b", re.I)
#: a step count that is a point in time ('at around 20M steps', 'evaluated every 25M steps'), not a setting
_TIME_POINT = re.compile(r"(?:\bat|\bafter|\bevery|\bwithin|\bbefore|\buntil|\bfirst|\blast)(?:\s+(?:around|about|roughly|least|most))?\s*$", re.I)
#: settings of a step count that belong to something else than training (attacks, samplers, evaluation)
_NOT_TRAINING = re.compile(r"attack|\bA?PGD\b|sampl|MCMC|\bHMC\b|evaluat|inference|rollout|per episode", re.I)
#: a parenthetical about another model's setting: 'training the original CLIP model (32 epochs for 400M images)'
_OTHER_MODEL = re.compile(r"\b(?:original|their|baselines?|previous|prior|standard)\b[^()]{0,60}$", re.I)
_WORD_NUMBERS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"])}
_WORD_NUMBERS.update({"thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90})
_WORD_NUMBER = re.compile(r"\b(" + "|".join(sorted(_WORD_NUMBERS, key=len, reverse=True)) +
                          r")(?:[ -](one|two|three|four|five|six|seven|eight|nine))?(?:\s+(hundred|thousand))?\b"
                          r"(?=\s+(?:\w+\s+)?(?:epochs?\b|hidden layers\b|training (?:steps|iterations)\b|iterations\b))", re.I)


def _words_to_digits(text: str) -> str:
    """'two epochs' -> '2 epochs', 'Two hundred epochs' -> '200 epochs' ('one' alone stays a word: 'the one used')."""
    def sub(m: re.Match[str]) -> str:
        value = _WORD_NUMBERS[m.group(1).lower()] + (_WORD_NUMBERS[m.group(2).lower()] if m.group(2) else 0)
        if m.group(3):
            value *= 100 if m.group(3).lower() == "hundred" else 1000
        if m.group(1).lower() in ("one", "zero") and not m.group(3):
            return m.group(0)
        return str(value)
    return _WORD_NUMBER.sub(sub, text)


def _fits(name: str, n: Number) -> bool:
    """The value has the kind its concept takes (a count is a whole number >= 1, a rate is in [0, 1], ...)."""
    v = n.value
    if n.percent:
        return False
    if name in _INTEGER:
        return v >= 1 and v == int(v)
    if name in _UNIT:
        return 0 <= v <= 1
    if name in ("learning_rate", "warmup_lr"):
        return 0 < v <= 10
    if name == "epsilon":
        return 0 < v < 1
    return True


def _row_label(sentence: str) -> tuple[str, str] | None:
    """'adam_learning_rate: 0.0001' -> ('adam learning rate', '0.0001') for a table row of one label and one value."""
    m = re.match(r"^\s*([A-Za-z][\w .()/'-]{0,60}?)\s*:\s*(\S+)\s*$", sentence)
    if not m:
        return None
    label = re.sub(r"(?<=[a-z])(?=[A-Z])|_", " ", m.group(1))
    label = re.sub(r"\s*\([^)]*\)", "", label).strip().lower()
    return re.sub(r"\s+", " ", label), m.group(2)
_REFERENCES = {"references", "bibliography", "references.", "acknowledgements", "acknowledgments", "acknowledgement",
               "acknowledgment"}


#: a symbol-only concept ('N = 6', 'h = 8') counts only in a sentence that names what the symbol is
_SYMBOL_NEEDS = {"num_layers": re.compile(r"layer", re.I), "num_heads": re.compile(r"head", re.I),
                 "guidance_scale": re.compile(r"guidance|\bCFG\b", re.I)}


def _exponent(n: Number, text: str) -> bool:
    """'^{-0.5}', 'x_1': exponents and subscripts are not settings."""
    return bool(re.search(r"[\^_]\s*\{?\s*$", text[max(0, n.start - 3):n.start]))


def _is_year(n: Number, text: str) -> bool:
    """'(Kingma & Ba, 2015)', 'in 2017': a year, not a setting ('d_ff = 2048', '2000 steps' are settings)."""
    if not (math.isfinite(n.value) and n.value == int(n.value) and 1950 <= n.value <= 2030 and n.raw.isdigit()):
        return False
    return bool(re.search(r"(?:et al\.?,?|\bin|\(|[A-Z][a-z]+,|&\s*\w+,)\s*$", text[max(0, n.start - 20):n.start]))


def _compiled() -> list[tuple[str, re.Pattern[str] | None, re.Pattern[str] | None]]:
    return [(name, re.compile(a, re.I) if a else None, re.compile(rf"^\s*(?:{b})\b", re.I) if b else None)
            for name, (a, b) in CONCEPTS.items()]


_CONCEPTS = _compiled()


def concept_values(sentence: str) -> list[tuple[str, float, str]]:
    """(concept, value, raw) for each value tied to a concept in one sentence or table row.

    A value belongs to the concept written right before it ('learning rate of 0.001', 'β1 = 0.9') or right after
    it ('100 epochs', 'two epochs'); a list after a concept is a sweep and nobody's ('temperatures 0.2, 0.6, 0.8'), and
    'β1 and β2 set to 0.9 and 0.95 respectively' pairs them in order. Years, exponents, ranges ('1, ..., 5'),
    values of the wrong kind for the concept, and numbers far from any concept are nobody's.
    """
    row = _row_label(sentence)
    if row is not None and row[0] in ROW_LABELS:
        found = read_numbers(normalise(row[1]))
        if len(found) == 1 and _fits(ROW_LABELS[row[0]], found[0]):
            return [(ROW_LABELS[row[0]], found[0].value, found[0].raw)]
    if row is not None:
        sentence = re.sub(r"(?<=[a-z])(?=[A-Z])|_", " ", sentence.split(":", 1)[0]) + ":" + sentence.split(":", 1)[1]
    text = _words_to_digits(normalise(_URL.sub(" ", sentence)))
    numbers = [n for n in read_numbers(text) if not _is_year(n, text) and not _exponent(n, text)
               and not _fraction_or_estimate(n, text)]
    numbers = _without_runs(numbers, text)
    split = text.find(":") if row is not None else _cells_split(text)
    if split >= 0:
        zipped = _zip_row(text, numbers, split, single=row is None)
        if zipped:
            return zipped
    ranged = _ranges(numbers, text)
    out: list[tuple[str, float, str]] = []
    taken: set[int] = set()
    for name, value in _adam_betas(text, numbers):
        out.append((name, value.value, value.raw))
        taken.add(value.start)
    respectively = _respectively(text, numbers)
    for name, value, start in respectively:
        out.append((name, value.value, value.raw))
        taken.add(start)
    for name, after, before in _CONCEPTS:
        needs = _SYMBOL_NEEDS.get(name)
        if needs is not None and not needs.search(text):
            continue
        if after is not None:
            matches = list(after.finditer(text))
            valued = [m for m in matches if re.match(r"\s*[=:]?\s*-?\.?\d", text[m.end():])]
            if len(valued) >= 3 and len({text[m.end():m.end() + 12] for m in valued}) >= 3:
                continue  # 'γ=0 γ=1 γ=1.5' in one sentence: a figure's labels or a sweep, not one setting
            for m in matches:
                for i, n in enumerate(numbers):
                    if n.start >= m.end() and n.start - m.end() <= 60 and _gap_ok(text[m.end():n.start]):
                        listed = _list_after(numbers, i, text)
                        if listed and all(numbers[k].value == n.value for k in listed):
                            taken |= {numbers[k].start for k in listed}  # 'a hidden size of 128, 128, and 128'
                            listed = []
                        if listed:  # 'temperatures 0.2, 0.6, 0.8', 'γ = 1, 1.25': a sweep, not one setting
                            taken |= {n.start, *(numbers[k].start for k in listed)}
                        elif n.start not in taken and n.start not in ranged and _fits(name, n) and _own(name, n, text):
                            out.append((name, n.value, n.raw))
                            taken.add(n.start)
                        break
        if before is not None:
            for n in numbers:
                if n.start in taken or n.start in ranged or not _fits(name, n) or not _own(name, n, text):
                    continue
                if before.match(text[n.end:n.end + 60]) and not re.search(r"[A-Za-z}]\s*=\s*$", text[:n.start]):
                    out.append((name, n.value, n.raw))
                    taken.add(n.start)
    return out


_URL = re.compile(r"https?://\S+|\b[\w-]+(?:\.[\w-]+)+/\S*")


def _without_runs(numbers: list[Number], text: str) -> list[Number]:
    """Drop runs of three or more numbers separated by spaces only: axis ticks and table cells of flattened PDF text
    ('100 200 300 400 Iterations'), never a setting."""
    out: list[Number] = []
    i = 0
    while i < len(numbers):
        j = i
        while j + 1 < len(numbers) and not text[numbers[j].end:numbers[j + 1].start].strip():
            j += 1
        if j - i + 1 < 3:
            out += numbers[i:j + 1]
        i = j + 1
    return out


_FOOTNOTE = re.compile(r"\s+(?:are|is|were|was)\b")  # 'Various CFG strengths 2 are tested': a footnote mark


def _fraction_or_estimate(n: Number, text: str) -> bool:
    """'4/255', '1 / β_L', '≈ 100': a fraction's parts and estimates are not settings."""
    return bool(re.match(r"\s*/|-[A-Za-z]", text[n.end:]) or _FOOTNOTE.match(text[n.end:]) and
                re.search(r"[a-z]s\s*$", text[max(0, n.start - 3):n.start]) or re.search(r"/\s*$", text[max(0, n.start - 3):n.start])
                or re.search(r"(?:≈|\\approx|\\sim|~)\s*$", text[max(0, n.start - 10):n.start]))


#: the value cell of a table row flattened as 'label: value': a few short tokens ('0.5 0.99', 'ReLU 256')
_CELL_TOKEN = r"(?:[-+]?[\d.,]+(?:e-?\d+)?%?|[A-Za-z][\w-]{0,9})"
_VALUE_CELL = re.compile(rf"^\s*{_CELL_TOKEN}(?:\s+{_CELL_TOKEN})*\s*$")


def _cells_split(text: str) -> int:
    """Where the value cell starts in a flattened table row ('A: B: 0.5 0.99' -> the last colon), or -1 when the text
    does not have that shape (a sentence)."""
    colon = text.rfind(": ")
    if colon <= 0 or len(text) - colon > 60 or not _VALUE_CELL.match(text[colon + 1:]):
        return -1
    return colon if len(_VALUE_CELL.match(text[colon + 1:]).group(0).split()) <= 6 else -1  # type: ignore[union-attr]


_ADAM_PAIR = re.compile(r"\badamw?\s*\(\s*([\d.]+)\s*,\s*([\d.]+)\s*\)", re.I)


def _adam_betas(text: str, numbers: list[Number]) -> list[tuple[str, Number]]:
    """'Adam (0.9, 0.999)': the pair after Adam's name is its (β1, β2)."""
    out: list[tuple[str, Number]] = []
    for m in _ADAM_PAIR.finditer(text):
        pair = [n for n in numbers if m.start(1) <= n.start < m.end(2)]
        if len(pair) == 2 and all(0 < n.value < 1 for n in pair):
            out += [("beta1", pair[0]), ("beta2", pair[1])]
    return out


def _zip_row(text: str, numbers: list[Number], colon: int, single: bool = False) -> list[tuple[str, float, str]]:
    """A table row whose label cell names k concepts and whose value cell holds k numbers (MinerU merges cells:
    'MAX. GRADIENT NORM DISCOUNT RATE (γ): 0.5 0.99'): the values in the labels' order. With `single`, one concept
    and one number also pair ('HIDDEN DIMENSION (d_model): ReLU 256')."""
    label = text[:colon]
    mentions: list[tuple[int, int, str]] = []
    for name, after, _before in _CONCEPTS:
        for m in (after.finditer(label) if after is not None else ()):
            if all(m.end() <= a or m.start() >= b for a, b, _ in mentions):
                mentions.append((m.start(), m.end(), name))
    mentions.sort()
    # 'HIDDEN DIMENSION (d_model)': a concept in parentheses right after another is its symbol, not a second label
    mentions = [m for k, m in enumerate(mentions) if not (k and re.fullmatch(
        r"\s*\(\s*", label[mentions[k - 1][1]:m[0]]) and ")" in label[m[1]:m[1] + 3])]
    values = [n for n in numbers if n.start > colon]
    if len(mentions) < (1 if single else 2) or len(mentions) != len(values):
        return []
    mentions.sort()
    pairs = list(zip([nm for _, _, nm in mentions], values, strict=True))
    if not all(_fits(nm, n) for nm, n in pairs):
        return []
    return [(nm, n.value, n.raw) for nm, n in pairs]


def _own(name: str, n: Number, text: str) -> bool:
    """Whether a number is this setting of the work itself, judged from its surroundings."""
    before = text[max(0, n.start - 40):n.start]
    if name in ("train_steps", "epochs") and _TIME_POINT.search(before):
        return False  # 'diverges at around 20M steps'
    if name == "train_steps" and _NOT_TRAINING.search(text):
        return False  # '100 iterations' of an attack or a sampler
    opened = text.rfind("(", 0, n.start)
    # '... the original CLIP model (32 epochs for 400M images)': another model's setting
    return not (opened > text.rfind(")", 0, n.start) and _OTHER_MODEL.search(text[max(0, opened - 60):opened]))


def _ranges(numbers: list[Number], text: str) -> set[int]:
    """Starts of numbers that bound a range or an ellipsis ('n = 1, ..., 5', '1e-5 to 1e-3', '[1e-5, 1.]')."""
    out: set[int] = set()
    for a, b in zip(numbers, numbers[1:], strict=False):
        between = text[a.end:b.start]
        if re.fullmatch(r"\s*,?\s*(?:\.\.\.|…|\\ldots|\\cdots|\\dots)\s*,?\s*|\s*(?:to|-|–)\s*", between):
            out |= {a.start, b.start}
        elif re.fullmatch(r"\s*,\s*", between) and re.search(r"[\[{]\s*$", text[max(0, a.start - 3):a.start]):
            out |= {a.start, b.start}  # an interval or a set in brackets
    return out


def _list_after(numbers: list[Number], i: int, text: str) -> list[int]:
    """Indexes of the numbers listed right after numbers[i] ('0.2, 0.6, 0.8', '1 and 3')."""
    out = []
    k = i
    while k + 1 < len(numbers) and re.fullmatch(r"\s*(?:,|,?\s*and|,?\s*or)\s*", text[numbers[k].end:numbers[k + 1].start]):
        k += 1
        out.append(k)
    return out


def _respectively(text: str, numbers: list[Number]) -> list[tuple[str, Number, int]]:
    """'β1 and β2 set to 0.9 and 0.95 respectively' -> [(beta1, 0.9), (beta2, 0.95)]."""
    at = text.find("respectively")
    if at < 0:
        return []
    values = [n for n in numbers if n.end <= at]
    if len(values) < 2:
        return []
    # the run of listed values that ends right before 'respectively'
    run = [values[-1]]
    for a in reversed(values[:-1]):
        if re.fullmatch(r"\s*(?:,|,?\s*and)\s*", text[a.end:run[0].start]):
            run.insert(0, a)
        else:
            break
    if len(run) < 2:
        return []
    mentions: list[tuple[int, str]] = []
    for name, after, _before in _CONCEPTS:
        for m in (after.finditer(text[:run[0].start]) if after is not None else ()):
            if run[0].start - m.start() <= 160 and all(abs(m.start() - p) > 2 for p, _ in mentions):
                mentions.append((m.start(), name))
    mentions.sort()
    names = [nm for _, nm in mentions][-len(run):]
    if len(names) != len(run) or len(set(names)) != len(names):
        return []
    return [(nm, n, n.start) for nm, n in zip(names, run, strict=True) if _fits(nm, n)]


_GREEK = {"alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "lambda": "λ",
          "mu": "μ", "rho": "ρ", "sigma": "σ", "tau": "τ", "omega": "ω"}
#: 'where b, α and γ denote batch size, initial learning rate and learning rate decay, respectively'
_SYMBOL_DEFS = re.compile(r"\b(?:where|with)\s+(.{1,160}?)\s+(?:denote|denotes|represent|represents|stand for)\s+"
                          r"(.{1,200}?),?\s+respectively", re.I | re.S)


def _symbol(text: str) -> str:
    """'$^ { b }$' -> 'b', '$\\alpha$' -> 'α': a symbol as a table header writes it."""
    bare = re.sub(r"[\s${}^_]", "", text).replace("\\", "")
    return _GREEK.get(bare.lower(), bare)


def _symbols_defined(caption: str) -> dict[str, str]:
    """symbol -> the name a caption gives it ('where b and α denote batch size and learning rate, respectively')."""
    out: dict[str, str] = {}
    for m in _SYMBOL_DEFS.finditer(caption):
        symbols = [_symbol(x) for x in re.split(r",|\band\b", m.group(1)) if x.strip()]
        names = [x.strip() for x in re.split(r",|\band\b", m.group(2)) if x.strip()]
        if len(symbols) == len(names) and all(0 < len(x) <= 3 for x in symbols):
            out.update(zip(symbols, names, strict=True))
    return out


def _column_rows(rows: list[list[str]], caption: str) -> list[str]:
    """A table with one setting per column and one dataset or model per row (its headers symbols the caption
    defines, 'b', 'α'): 'batch size: 256' for each value a column holds."""
    defined = _symbols_defined(caption)
    if not defined:
        return []
    out: list[str] = []
    for k, header in enumerate(rows):
        columns = {j: defined[_symbol(c)] for j, c in enumerate(header) if _symbol(c) in defined}
        if not columns:
            continue
        for row in rows[k + 1:]:
            if len(row) != len(header):
                continue
            for j, name in columns.items():
                if len(read_numbers(normalise(row[j]))) == 1 and f"{name}: {row[j]}" not in out:
                    out.append(f"{name}: {row[j]}")
        break
    return out


def _table_rows(text: str) -> list[str]:
    """Rows of HTML (<tr><td>..) and pipe tables as 'label: value' strings; other text is left to _sentences."""
    rows: list[str] = []
    last = 0
    for table in re.finditer(r"<table>.*?</table>", text, re.S | re.I):
        grid = [[html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S | re.I)]
                for tr in re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S | re.I)]
        rows += _column_rows(grid, text[max(last, table.start() - 600):table.start()])
        last = table.end()
    for tr in re.findall(r"<tr>(.*?)</tr>", text, re.S | re.I):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                 for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", tr, re.S | re.I)]
        if len(cells) >= 2:
            rows.append(": ".join(cells))
            labels, values = cells[-2].split(), cells[-1].split()
            if len(cells) == 2 and 1 < len(labels) == len(values) and all(re.fullmatch(r"[\w-]+", x) for x in labels):
                rows += [f"{a}: {b}" for a, b in zip(labels, values, strict=True)]  # 'adam_beta1 adam_beta2 | 0.9 0.999'
    for line in text.splitlines():
        if line.strip().startswith("|") and not re.match(r"^\s*\|[\s:|-]+\|?\s*$", line):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2:
                rows.append(": ".join(cells))
    return rows


def _kept_table_rows(text: str) -> list[str]:
    """Table rows, without the tables whose caption says they are an ablation or a sweep."""
    rows: list[str] = []
    last = 0
    for m in re.finditer(r"<table>.*?</table>", text, flags=re.S | re.I):
        caption = text[max(last, m.start() - 600):m.start()]
        last = m.end()
        if not _VARIED.search(caption):
            rows += _table_rows(caption + m.group(0))
    return rows + _table_rows(re.sub(r"<table>.*?</table>", " ", text, flags=re.S | re.I))


def hyperparameters(paper: PaperInfo) -> list[Hyperparameter]:
    found: list[Hyperparameter] = []
    seen: set[tuple[str, str]] = set()
    for section in paper.sections:
        if section.title.lower().strip(" .:") in _REFERENCES or _OTHERS_SECTION.search(section.title):
            continue
        if _VARIED.search(section.title):
            continue  # 'B.3 Ablation of Training Hyperparameters': the settings tried, not the ones used
        body = re.sub(r"<table>.*?</table>", " ", section.text, flags=re.S | re.I)
        units: list[str] = []
        for paragraph in re.split(r"\n\s*\n", body):
            lead = _IMAGE.sub("", paragraph.strip())
            if _CAPTION.match(lead) or _CITED_LEAD.match(re.sub(r"\$[^$]{0,200}\$", "X", lead)):
                continue  # a whole caption (results, other runs), a paragraph about a cited method (a baseline)
            units += _sentences(paragraph)
        rows = _kept_table_rows(section.text)
        for sentence in units + rows:
            if len(sentence) > 800 or _CAPTION.match(_IMAGE.sub("", sentence)) or sentence.count("&") >= 3 \
                    or _VARIED.search(sentence) or _REPORTING.search(sentence):
                continue  # captions (also inside a PDF's flattened text), tabulars, ablations, reported results
            if (_CITES.search(_PAREN_CITE.sub(" ", sentence)) or _THEY.match(sentence)) and not _OWN.search(sentence):
                continue  # 'In Mao et al. (2023), the model has been trained for 10 epochs': the cited work's
            for name, value, _raw in concept_values(sentence):
                if name == "step_size" and _OPTIMIZERS.search(sentence):
                    name = "learning_rate"  # 'using Adam with step size 0.0005': the optimizer's step size
                key = (name, canonical(value))
                if key not in seen:
                    seen.add(key)
                    found.append(Hyperparameter(name=name, value=canonical(value), section=section.number,
                                                quote=sentence))
            where = sentence
            if sentence in rows and ": " in sentence:
                # a table row names its optimizer in the value cell ('OPTIMIZER ADAMW'S β1 AND β2: ADAM (0.9,0.999)')
                where = sentence.rsplit(": ", 1)[1]
            for opt in _OPTIMIZERS.finditer(where):
                if not _OPT_CONTEXT.search(sentence):
                    continue
                optimizer = opt.group(1).lower().replace("-", "")
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
