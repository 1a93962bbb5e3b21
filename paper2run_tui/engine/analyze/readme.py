"""The README: which file, `pip install` lines, and the commands in its code blocks."""

from __future__ import annotations

import re

from ..contracts.facts import DataExpectation, Dependency, ReadmeInstall
from .readme_versions import readme_versions
from .walk import Walk

_INSTALL = re.compile(r"^\s*(?:\$\s*)?((?:python3?\s+-m\s+)?pip3?\s+install\s+[^\n`]+|conda\s+install\s+[^\n`]+)", re.MULTILINE)
_FENCE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*\n(.*?)^[ \t]*```", re.DOTALL | re.MULTILINE)
_RUN = re.compile(r"^\s*(?:\$\s*)?((?:python3?|bash|sh)\s+[^\n]+)$", re.MULTILINE)
#: `python train.py` in prose, or a one-line fence such as ```python train.py```.
_INLINE_RUN = re.compile(r"(?<!`)`{1,3}((?:python3?|bash|sh)\s+[^`\n]+?)`{1,3}(?!`)")
_DOWNLOAD = re.compile(r"^\s*(?:\$\s*)?((?:wget|curl)\s+[^\n]*https?://\S+[^\n]*)$", re.MULTILINE)


def find_readme(walk: Walk) -> str | None:
    top = [f for f in walk.files if "/" not in f.rel and f.name.lower().startswith("readme")]
    top.sort(key=lambda f: (not f.name.lower().endswith(".md"), f.name))
    return top[0].rel if top else None


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def readme_facts(walk: Walk, rel: str | None) -> tuple[list[ReadmeInstall], list[tuple[str, int]],
                                                      list[DataExpectation], list[Dependency]]:
    """(install lines, (command, line) from code blocks, download instructions, versions its prose states)."""
    if rel is None:
        return [], [], [], []
    f = next(x for x in walk.files if x.rel == rel)
    text = walk.read(f) or ""
    installs = [ReadmeInstall(command=m.group(1).strip(), source=rel, line=_line(text, m.start()))
                for m in _INSTALL.finditer(text)][:30]
    commands: list[tuple[str, int]] = []
    for block in _FENCE.finditer(text):
        for m in _RUN.finditer(block.group(1)):
            cmd = m.group(1).strip().rstrip("\\").strip()
            if "pip install" not in cmd:
                commands.append((cmd, _line(text, block.start(1) + m.start())))
    fenced = {c for c, _ in commands}
    prose = _FENCE.sub(lambda b: "\n" * b.group(0).count("\n"), text)  # same line numbers, no fenced blocks
    for m in _INLINE_RUN.finditer(prose):
        cmd = m.group(1).strip()
        if cmd not in fenced and "pip install" not in cmd:
            commands.append((cmd, _line(prose, m.start())))
    downloads = [DataExpectation(target=m.group(1).strip(), kind="readme-instruction", source=rel, line=_line(text, m.start()))
                 for m in _DOWNLOAD.finditer(text)][:20]
    return installs, commands[:40], downloads, readme_versions(text, rel)
