"""Paper fidelity on real papers: parsing, extraction and the citation check against hand-written truth.

Run by hand (not in the suite):
    .venv/bin/python benchmarks/bench_paper.py [--work benchmarks/work/papers] [--out benchmarks/results/paper.md]

Inputs are fetched material (never committed), laid out as WORK/<paper>/mineru.md, WORK/<paper>/paper.pdf and, for
Attention, WORK/attention/tex/ms.tex; see benchmarks/paper_truth/README.md for how to bring them. The truth files
(benchmarks/paper_truth/<paper>.yaml) were written by hand from each paper and its PaperBench rubric.

Per paper and input kind: numbered sections and appendices found against the truth, equations and tables (where
the truth lists them), hyperparameter recall and precision (name and value), whether the no-LLM base.yaml passes
its own check, and the time to parse and extract. Then the checker on correct citations (false-alarm rate) and on
planted errors of 31 kinds (catch rate per kind).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from paper2run_tui.engine.acquire.paper import load_paper  # noqa: E402
from paper2run_tui.engine.contracts import PaperInfo  # noqa: E402
from paper2run_tui.engine.ports import CancelToken  # noqa: E402

try:  # the starting code has no shared number reader: fall back so the first table can be made
    from paper2run_tui.engine.implement.numbers import canonical, parse_value
except ImportError:  # pragma: no cover - measuring the old code
    def parse_value(raw: str) -> float | None:
        try:
            return float(str(raw).replace("−", "-").replace(",", ""))
        except ValueError:
            return None

    def canonical(value: float) -> str:
        return repr(value)

from paper2run_tui.engine.implement.citations import CitationChecker  # noqa: E402
from paper2run_tui.engine.implement.deterministic import config_yaml, short_quote  # noqa: E402
from paper2run_tui.engine.implement.extract import _sentences, enrich_paper  # noqa: E402


class _Sink:
    def emit(self, event: object) -> None:
        pass


def _key(name: str, value: object) -> tuple[str, str]:
    v = parse_value(str(value))
    return name, (canonical(v) if v is not None else str(value).lower())


@dataclass
class Row:
    paper: str
    kind: str
    sections: str = "—"
    appendices: str = "—"
    equations: str = "—"
    tables: str = "—"
    hp_recall: float | None = None
    hp_precision: float | None = None
    hp_counts: str = ""
    self_check: str = "—"
    code_url: str = "—"
    seconds: float = 0.0
    missed: list[str] = field(default_factory=list)


def _ratio(found: set[str], truth: list[str]) -> str:
    if not truth:
        return "—"
    return f"{len(found & set(truth))}/{len(truth)}"


def measure(paper: PaperInfo, truth: dict, kind: str, seconds: float) -> Row:
    row = Row(paper=truth["paper"], kind=kind, seconds=seconds)
    numbers = {s.number for s in paper.sections if s.number}
    row.sections = _ratio({n for n in numbers if n[0].isdigit()}, truth.get("sections", []))
    row.appendices = _ratio({n for n in numbers if n[0].isalpha()}, truth.get("appendices", []))
    row.equations = _ratio({e.number for e in paper.equations}, [str(x) for x in truth.get("equations", [])])
    row.tables = _ratio({t.number for t in paper.tables}, [str(x) for x in truth.get("tables", [])])
    want = {_key(h["name"], h["value"]) for h in truth.get("hyperparameters", [])}
    got = {_key(h.name, h.value) for h in paper.hyperparameters}
    if want:
        row.hp_recall = len(want & got) / len(want)
        row.hp_precision = len(want & got) / len(got) if got else 0.0
        row.hp_counts = f"{len(want & got)}/{len(want)} of truth, {len(got)} extracted"
        row.missed = sorted(f"{n}={v}" for n, v in want - got)
    if "code_url" in truth:
        got_url = getattr(paper, "code_url", "")
        row.code_url = "ok" if got_url == truth["code_url"] else f"got {got_url or 'none'}"
    report = CitationChecker(paper).check({"configs/base.yaml": config_yaml(paper)})
    row.self_check = "pass" if report.ok else f"FAIL ({len(report.violations)})"
    return row


def load(path: Path) -> tuple[PaperInfo, float]:
    start = time.perf_counter()
    paper = enrich_paper(load_paper(str(path), cache_dir=path.parent / ".cache", sink=_Sink(), cancel=CancelToken()))
    return paper, time.perf_counter() - start


# --- the checker: correct citations and planted errors ---------------------------------------------------------


def correct_files(paper: PaperInfo, truth: dict) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """base.yaml lines for the truth values the extraction found (cited to their sentence), and section-quote
    comments in src/model.py; returns the files and the (file, line text) citations in them."""
    want = {_key(h["name"], h["value"]) for h in truth.get("hyperparameters", [])}
    config: list[str] = []
    seen: set[str] = set()
    for h in paper.hyperparameters:
        if _key(h.name, h.value) in want and h.section and h.name not in seen:
            seen.add(h.name)
            config.append(f'{h.name}: {h.value}  # §{h.section} — "{short_quote(h, 100).replace(chr(34), chr(39))}"')
    model: list[str] = ['"""The model."""', ""]
    for s in paper.sections:
        if not s.number:
            continue
        sentences = [x for x in _sentences(s.text) if 40 <= len(x) <= 200 and '"' not in x and "$" not in x]
        if sentences:
            model.append(f'# §{s.number} — "{sentences[0][:90]}"')
    files = {"configs/base.yaml": "\n".join(config) + "\n", "src/model.py": "\n".join(model) + "\n"}
    cites = [("configs/base.yaml", c) for c in config] + [("src/model.py", m) for m in model if m.startswith("#")]
    return files, cites


def _replace_line(files: dict[str, str], path: str, old: str, new: str) -> dict[str, str]:
    out = dict(files)
    out[path] = out[path].replace(old, new, 1)
    return out


def _config_lines(files: dict[str, str]) -> list[str]:
    return [ln for ln in files["configs/base.yaml"].splitlines() if ln.strip()]


def _value_of(line: str) -> tuple[str, str, str]:
    key, rest = line.split(":", 1)
    value, comment = rest.split("#", 1)
    return key.strip(), value.strip(), comment


def _numeric_lines(files: dict[str, str]) -> list[str]:
    return [ln for ln in _config_lines(files) if parse_value(_value_of(ln)[1]) is not None]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("-", "").replace('"', "").replace("'", "")).strip().lower()


def _section_with_subsections(paper: PaperInfo, number: str) -> str:
    return "\n".join(s.text for s in paper.sections if s.number == number or s.number.startswith(number + "."))


def _numbers(text: str) -> list[float]:
    try:
        from paper2run_tui.engine.implement.numbers import numbers_in
    except ImportError:  # the starting code
        return [float(x.replace(",", "")) for x in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text)]
    return [n.value for n in numbers_in(text)]


def _other_section(paper: PaperInfo, avoid: str, quote: str, appendix: bool | None = None) -> str | None:
    """A section (body or appendix) whose text does not hold the quote: citing it is a planted error."""
    q = _norm(quote)
    for s in paper.sections:
        n = s.number
        if not n or n == avoid or n.startswith(avoid + ".") or avoid.startswith(n + "."):
            continue
        if appendix is not None and n[0].isalpha() != appendix:
            continue
        if q not in _norm(_section_with_subsections(paper, n)):
            return n
    return None


def planted(paper: PaperInfo, files: dict[str, str], rng: random.Random) -> dict[str, dict[str, str] | None]:
    """kind -> a file set with one planted error of that kind (None when the paper offers no place for it)."""
    cfg = _config_lines(files)
    num = _numeric_lines(files)
    model = [ln for ln in files["src/model.py"].splitlines() if ln.startswith("# §")]
    out: dict[str, dict[str, str] | None] = {}

    def first(lines: list[str]) -> str | None:
        return lines[0] if lines else None

    line, mline = first(num), first(model)

    def cfg_mut(name: str, fn) -> None:  # noqa: ANN001
        out[name] = None
        for ln in num:
            new = fn(ln)
            if new is not None and new != ln:
                out[name] = _replace_line(files, "configs/base.yaml", ln, new)
                return

    def with_value(ln: str, value: str) -> str:
        key, _, comment = _value_of(ln)
        return f"{key}: {value}  #{comment}"

    sec_of = lambda ln: re.search(r"§(\S+)", ln).group(1)  # noqa: E731
    quote_of = lambda ln: re.search(r'"([^"]+)"', ln).group(1)  # noqa: E731
    val = lambda ln: parse_value(_value_of(ln)[1])  # noqa: E731

    out["section-nonexistent"] = _replace_line(files, "src/model.py", mline, mline.replace(f"§{sec_of(mline)}", "§99", 1)) if mline else None
    out["appendix-nonexistent"] = _replace_line(files, "src/model.py", mline, mline.replace(f"§{sec_of(mline)}", "§Z", 1)) if mline else None
    out["subsection-nonexistent"] = _replace_line(files, "src/model.py", mline, mline.replace(f"§{sec_of(mline)}", f"§{sec_of(mline)}.97", 1)) if mline else None
    out["equation-nonexistent"] = _replace_line(files, "src/model.py", mline, mline.replace(" — ", ", Eq. 999 — ", 1)) if mline else None
    out["config-section-nonexistent"] = _replace_line(files, "configs/base.yaml", line, line.replace(f"§{sec_of(line)}", "§98", 1)) if line else None

    def misquote(ln: str) -> str:
        q = quote_of(ln)
        words = q.split()
        i = max(range(len(words)), key=lambda k: len(words[k]))
        words[i] = "zebra" if words[i].lower() != "zebra" else "giraffe"
        return ln.replace(q, " ".join(words))

    out["misquote-word"] = _replace_line(files, "src/model.py", mline, misquote(mline)) if mline else None
    out["misquote-config"] = _replace_line(files, "configs/base.yaml", line, misquote(line)) if line else None
    out["fabricated-quote"] = _replace_line(files, "src/model.py", mline, mline.replace(quote_of(mline), "we trained the model on the moon for a decade")) if mline else None

    def wrong_section(ln: str, appendix: bool | None) -> str | None:
        other = _other_section(paper, sec_of(ln), quote_of(ln), appendix)
        return ln.replace(f"§{sec_of(ln)}", f"§{other}", 1) if other else None

    for name, path, lines, appx in (("quote-wrong-section", "src/model.py", model, False),
                                    ("quote-wrong-appendix", "src/model.py", model, True),
                                    ("config-quote-wrong-section", "configs/base.yaml", num, None)):
        out[name] = None
        for ln in lines:
            new = wrong_section(ln, appx)
            if new:
                out[name] = _replace_line(files, path, ln, new)
                break

    cfg_mut("value-times-ten", lambda ln: with_value(ln, canonical(val(ln) * 10)))
    cfg_mut("value-exponent-off", lambda ln: with_value(ln, canonical(val(ln) / 10)))
    cfg_mut("value-sign-flip", lambda ln: with_value(ln, canonical(-val(ln))) if val(ln) else None)
    cfg_mut("value-thousands-dropped", lambda ln: with_value(ln, canonical(val(ln) / 1000)) if val(ln) >= 1000 else with_value(ln, canonical(val(ln) + 1)))
    cfg_mut("value-rounded", lambda ln: with_value(ln, canonical(round(val(ln) * 1.37, 3) or 7.0)))
    cfg_mut("value-percent", lambda ln: with_value(ln, canonical(val(ln) * 100)) if val(ln) < 1 else with_value(ln, canonical(val(ln) / 100)))
    cfg_mut("value-as-string", lambda ln: with_value(ln, f"'{canonical(val(ln) * 3)}'"))

    def other_number(ln: str) -> str | None:
        quote, v = quote_of(ln), val(ln)
        sec = _section_with_subsections(paper, sec_of(ln))
        cands = [x for x in _numbers(sec) if x != v and not (1900 <= x <= 2100) and x > 0]
        return with_value(ln, canonical(cands[0])).replace(f'"{quote}"', "") if cands else None

    cfg_mut("value-elsewhere-in-section", other_number)

    def wrong_concept(ln: str) -> str | None:
        key, value, comment = _value_of(ln)
        try:
            from paper2run_tui.engine.implement.extract import concept_values
        except ImportError:  # the starting code has no concept reader: use the current one's idea by hand
            return None
        for c, v, _ in concept_values(quote_of(ln)):
            if c != key and parse_value(value) != v:
                return f"{key}: {canonical(v)}  #{comment}"
        return None

    cfg_mut("value-of-another-concept", wrong_concept)

    def renamed(ln: str) -> str | None:
        key, value, comment = _value_of(ln)
        other = "weight_decay" if key != "weight_decay" else "momentum"
        return f"{other}: {value}  #{comment}"

    cfg_mut("key-renamed-to-another-concept", renamed)
    cfg_mut("uncited", lambda ln: ln.split("#", 1)[0].rstrip())
    cfg_mut("false-unspecified", lambda ln: ln.split("#", 1)[0] + "# [UNSPECIFIED] not stated in the paper")
    cfg_mut("false-from-official-code", lambda ln: ln.split("#", 1)[0] + "# [FROM_OFFICIAL_CODE] paper does not state it")
    cfg_mut("unquoted-wrong-value", lambda ln: f"{_value_of(ln)[0]}: {canonical(val(ln) * 7 + 3)}  # §{sec_of(ln)}")
    out["partially-specified-misquote"] = _replace_line(
        files, "src/model.py", mline, '# [PARTIALLY_SPECIFIED] "the paper leaves the norm position to the reader"') if mline else None

    out["values-swapped"] = None
    if len(num) >= 2:
        a, b = num[0], next((x for x in num[1:] if val(x) != val(num[0])), None)
        if b:
            swapped = _replace_line(files, "configs/base.yaml", a, with_value(a, _value_of(b)[1]))
            out["values-swapped"] = _replace_line(swapped, "configs/base.yaml", b, with_value(b, _value_of(a)[1]))
    opt = next((ln for ln in cfg if ln.startswith("optimizer:")), None)
    out["optimizer-wrong-name"] = _replace_line(files, "configs/base.yaml", opt, opt.replace(f"optimizer: {_value_of(opt)[1]}", "optimizer: lamb" if "lamb" not in opt.lower() else "optimizer: rmsprop", 1)) if opt else None

    def add(path: str, text: str) -> dict[str, str]:
        out_files = dict(files)
        out_files[path] = out_files.get(path, "") + text
        return out_files

    if mline:
        q, s = quote_of(mline), sec_of(mline)
        doc = misquote(mline)
        out["docstring-misquote"] = add("src/layers.py", f'def f():\n    """{doc[2:]} """\n    return 1\n')
        out["docstring-section-nonexistent"] = add("src/layers.py", 'def g():\n    """§77.7 — the gating layer."""\n')
        nb = {"cells": [{"cell_type": "markdown", "source": [misquote(mline)[2:]]},
                        {"cell_type": "code", "source": ["x = 1  # §55 — the encoder\n"]}]}
        nb_md = {"cells": [{"cell_type": "markdown", "source": [misquote(mline)[2:]]}]}
        nb_code = {"cells": [{"cell_type": "code", "source": ["x = 1  # §55 — the encoder\n"]}]}
        del nb
        out["notebook-markdown-misquote"] = add("notebooks/walkthrough.ipynb", json.dumps(nb_md))
        out["notebook-code-comment-nonexistent"] = add("notebooks/walkthrough.ipynb", json.dumps(nb_code))
        refs = next((x for x in paper.sections if x.title.lower().strip(" .") in ("references", "bibliography")), None)
        ref_sentence = None
        if refs:
            ref_sentence = next((x for x in _sentences(refs.text) if 30 <= len(x) <= 120 and '"' not in x), None)
        out["quote-from-references"] = _replace_line(files, "src/model.py", mline, f'# §{s} — "{ref_sentence[:80]}"') if ref_sentence else None
        del q
    else:
        for k in ("docstring-misquote", "docstring-section-nonexistent", "notebook-markdown-misquote",
                  "notebook-code-comment-nonexistent", "quote-from-references"):
            out[k] = None
    if line:
        key, value, _ = _value_of(line)
        wrong = canonical(val(line) * 10 + 1)
        out["code-default-disagrees"] = add("src/train.py", f"def train({key}={wrong}):\n    return {key}\n")
        out["code-constant-disagrees"] = add("src/train.py", f"{key} = {wrong}\n")
    else:
        out["code-default-disagrees"] = out["code-constant-disagrees"] = None
    return out


def bench_checker(papers: list[tuple[PaperInfo, dict]]) -> tuple[str, dict[str, list[int]], int, int]:
    rng = random.Random(0)
    per_kind: dict[str, list[int]] = {}
    false_alarms = citations = 0
    detail: list[str] = []
    for paper, truth in papers:
        files, cites = correct_files(paper, truth)
        checker = CitationChecker(paper)
        base = checker.check(files)
        citations += len(cites)
        false_alarms += len({(v.file, v.line) for v in base.violations})
        for v in base.violations[:5]:
            detail.append(f"- false alarm on {truth['paper']}: {v.file}:{v.line} {v.kind}: {v.message[:160]}")
        before = {(v.file, v.line, v.kind) for v in base.violations}
        for kind, mutated in planted(paper, files, rng).items():
            if mutated is None:
                continue
            found = {(v.file, v.line, v.kind) for v in checker.check(mutated).violations} - before
            stats = per_kind.setdefault(kind, [0, 0])
            stats[1] += 1
            stats[0] += bool(found)
            if not found:
                detail.append(f"- missed {kind} on {truth['paper']}")
    return "\n".join(detail), per_kind, false_alarms, citations


def big_paper_row() -> str:
    """Issue 14's case: a 1 MB markdown paper with 40k headings must parse in linear time."""
    from paper2run_tui.engine.acquire.paper_structure import structure_paper

    parts = []
    for i in range(1, 40001):
        parts.append(f"## {i // 1600 + 1}.{i // 40 % 40 + 1}.{i % 40 + 1} Heading {i}\n\nThe learning rate is 0.001 here.\n")
    text = "# Big\n\n" + "\n".join(parts)
    start = time.perf_counter()
    sections = structure_paper(text, "markdown", CancelToken())[3] if "cancel" in structure_paper.__code__.co_varnames \
        else structure_paper(text, "markdown")[3]
    parse = time.perf_counter() - start
    info = PaperInfo(source="big", kind="markdown", text=text, sections=sections)
    start = time.perf_counter()
    paper = enrich_paper(info)
    extract = time.perf_counter() - start
    start = time.perf_counter()
    CitationChecker(paper).check({"configs/base.yaml": config_yaml(paper)})
    check = time.perf_counter() - start
    return (f"Big paper ({len(text) / 2**20:.1f} MB markdown, 40,000 headings): parse {parse:.2f} s, extract "
            f"{extract:.2f} s, no-LLM config check {check:.2f} s; {len(sections)} sections.")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=ROOT / "benchmarks/work/papers")
    ap.add_argument("--truth", type=Path, default=ROOT / "benchmarks/paper_truth")
    ap.add_argument("--out", type=Path, default=None, help="write the markdown table here as well")
    ap.add_argument("--label", default="", help="what code was measured (e.g. the commit)")
    args = ap.parse_args()
    rows: list[Row] = []
    for_checker: list[tuple[PaperInfo, dict]] = []
    for truth_file in sorted(args.truth.glob("*.yaml")):
        truth = yaml.safe_load(truth_file.read_text())
        folder = args.work / truth["paper"]
        inputs = [("markdown", folder / "mineru.md"), ("pdf", folder / "paper.pdf"), ("latex", folder / "tex/ms.tex")]
        for kind, path in inputs:
            if not path.is_file():
                continue
            try:
                paper, seconds = load(path)
            except Exception as exc:  # noqa: BLE001 - the old code rejects inputs it does not know: a row saying so
                rows.append(Row(paper=truth["paper"], kind=kind, self_check=f"error: {type(exc).__name__}"))
                continue
            rows.append(measure(paper, truth, kind, seconds))
            if kind in ("markdown", "latex"):
                for_checker.append((paper, truth))
    detail, per_kind, false_alarms, citations = bench_checker(for_checker)
    big = big_paper_row()
    lines = [f"# Paper fidelity benchmark{' — ' + args.label if args.label else ''}", "",
             "| paper | input | sections | appendices | equations | tables | hp recall | hp precision | hp counts | "
             "code URL | no-LLM self-check | s |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rec = f"{r.hp_recall:.0%}" if r.hp_recall is not None else "—"
        pre = f"{r.hp_precision:.0%}" if r.hp_precision is not None else "—"
        lines.append(f"| {r.paper} | {r.kind} | {r.sections} | {r.appendices} | {r.equations} | {r.tables} | {rec} | "
                     f"{pre} | {r.hp_counts} | {r.code_url} | {r.self_check} | {r.seconds:.2f} |")
    scored = [r for r in rows if r.hp_recall is not None]
    if scored:
        tp = sum(int(r.hp_counts.split("/")[0]) for r in scored)
        want = sum(int(r.hp_counts.split("/")[1].split()[0]) for r in scored)
        got = sum(int(r.hp_counts.split(", ")[1].split()[0]) for r in scored)
        lines += ["", f"Hyperparameters over all scored rows: recall {tp}/{want} = {tp / want:.0%}, "
                      f"precision {tp}/{got} = {tp / max(got, 1):.0%}."]
    caught = sum(v[0] for v in per_kind.values())
    total = sum(v[1] for v in per_kind.values())
    lines += ["", f"Checker: {len(per_kind)} kinds of planted error, {caught}/{total} caught "
                  f"({caught / max(total, 1):.0%}); false alarms on correct citations: {false_alarms}/{citations} "
                  f"({false_alarms / max(citations, 1):.1%}).", "", "| planted error | caught |", "|---|---|"]
    lines += [f"| {k} | {v[0]}/{v[1]} |" for k, v in sorted(per_kind.items())]
    lines += ["", big]
    missed_hp = [f"- {r.paper} ({r.kind}) missed: {', '.join(r.missed)}" for r in rows if r.missed]
    if missed_hp:
        lines += ["", "Hyperparameters missed:", *missed_hp]
    if detail:
        lines += ["", "Checker misses and false alarms:", detail]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
