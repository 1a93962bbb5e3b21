"""Python-version hints outside the manifests: .python-version, runtime.txt, tox.ini, CI workflows, README."""

from __future__ import annotations

import re

import yaml

from ..contracts.facts import PythonHint
from .walk import Walk

_VERSION = re.compile(r"^\s*(?:python-?)?(3\.\d{1,2}|2\.7)(?:\.\d+)?\s*$")
_TOX_ENV = re.compile(r"\bpy3(\d{1,2})\b")
_README = re.compile(r"\b[Pp]ython\s*(?:version\s*)?(>=|==|>|~=)?\s*(3\.\d{1,2}|2\.7)\b"
                     r"(\+|\s+(?:or|and)\s+(?:later|higher|newer|above|up)\b)?")


def python_hints(walk: Walk, readme_rel: str | None) -> list[PythonHint]:
    hints: list[PythonHint] = []
    for f in walk.files:
        if f.rel.count("/") > 3:
            continue
        name = f.name.lower()
        if name in (".python-version", "runtime.txt") and f.rel.count("/") == 0:
            text = walk.read(f) or ""
            for line in text.splitlines()[:3]:
                m = _VERSION.match(line)
                if m:
                    kind = "python-version-file" if name == ".python-version" else "runtime.txt"
                    hints.append(PythonHint(spec=m.group(1), kind=kind, source=f.rel))  # type: ignore[arg-type]
                    break
        elif name == "tox.ini" and f.rel.count("/") == 0:
            text = walk.read(f) or ""
            m = re.search(r"^envlist\s*=\s*(.+(?:\n[ \t]+.+)*)", text, re.MULTILINE)
            if m:
                for minor in sorted({int(x) for x in _TOX_ENV.findall(m.group(1))}):
                    hints.append(PythonHint(spec=f"3.{minor}", kind="tox", source=f.rel))
        elif f.rel.startswith(".github/workflows/") and f.suffix in (".yml", ".yaml"):
            hints += _workflow(walk.read(f) or "", f.rel)
    if readme_rel:
        readme = next((x for x in walk.files if x.rel == readme_rel), None)
        readme_text = (walk.read(readme) if readme else None) or ""
        for m in _README.finditer(readme_text):
            # "Python 3.6+" and "Python 3.6 or later" are lower bounds; a bare "Python 3.7" is what was tested.
            spec = f"{m.group(1) or ('>=' if m.group(3) else '')}{m.group(2)}"
            if not any(h.spec == spec and h.kind == "readme" for h in hints):
                hints.append(PythonHint(spec=spec, kind="readme", source=readme_rel, line=readme_text.count("\n", 0, m.start()) + 1))
    return hints


def _workflow(text: str, rel: str) -> list[PythonHint]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    found: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("python-version", "python_version", "python"):
                    items = value if isinstance(value, list) else [value]
                    found.extend(str(v) for v in items if re.match(r"^3\.\d+$|^2\.7$", str(v)))
                visit(value)
        elif isinstance(node, list):
            for item in node:
                visit(item)

    visit(data)
    return [PythonHint(spec=v, kind="ci", source=rel) for v in dict.fromkeys(found)]
