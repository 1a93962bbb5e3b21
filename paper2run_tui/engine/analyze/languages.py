"""Languages by size of recognised source files."""

from __future__ import annotations

from collections import defaultdict

from ..contracts.facts import LanguageShare
from .walk import RepoFile

EXTENSIONS = {
    ".py": "Python", ".pyx": "Cython", ".ipynb": "Jupyter Notebook", ".c": "C", ".h": "C", ".cc": "C++",
    ".cpp": "C++", ".cxx": "C++", ".hpp": "C++", ".cu": "CUDA", ".cuh": "CUDA", ".jl": "Julia", ".r": "R",
    ".js": "JavaScript", ".mjs": "JavaScript", ".ts": "TypeScript", ".tsx": "TypeScript", ".rs": "Rust",
    ".go": "Go", ".java": "Java", ".scala": "Scala", ".kt": "Kotlin", ".m": "MATLAB", ".sh": "Shell",
    ".lua": "Lua", ".f90": "Fortran", ".f": "Fortran", ".cs": "C#", ".rb": "Ruby", ".php": "PHP", ".swift": "Swift",
}
PYTHONIC = {"Python", "Jupyter Notebook", "Cython"}
#: Helpers that rarely decide what a repository is.
MINOR = {"Shell"}


def language_shares(files: list[RepoFile]) -> list[LanguageShare]:
    sizes: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    for f in files:
        lang = EXTENSIONS.get(f.suffix)
        if lang is None:
            continue
        # Notebooks carry outputs and JSON: weigh them at a quarter so they do not swamp code.
        sizes[lang] += f.size // 4 if lang == "Jupyter Notebook" else f.size
        counts[lang] += 1
    total = sum(sizes.values()) or 1
    shares = [LanguageShare(language=k, files=counts[k], bytes=v, share=round(v / total, 4)) for k, v in sizes.items()]
    return sorted(shares, key=lambda s: (-s.bytes, s.language))


def primary_language(shares: list[LanguageShare]) -> str | None:
    major = [s for s in shares if s.language not in MINOR] or shares
    return major[0].language if major else None
