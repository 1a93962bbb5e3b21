"""Which module the import-package rung imports: one with code in it. Importing a package whose __init__.py holds
only a docstring (or a namespace package without one) succeeds in any image and proves nothing; a submodule with
code in it imports the package's dependencies. Read, never run."""

from __future__ import annotations

import ast
import re
from collections.abc import Set as AbstractSet

from .code_scan import STDLIB
from .walk import RepoFile, Walk

#: Statements that make a module body trivial: its docstring, `pass`, `from __future__`, dunder constants.
_DUNDER = ("__version__", "__all__", "__author__", "__email__", "__license__", "__copyright__", "__docformat__")
_SKIP = ("__init__.py", "__main__.py", "setup.py", "conftest.py")
_IMPORTS = re.compile(r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+import[ \t]+[^\n]+|import[ \t]+[^\n]+)$", re.MULTILINE)
#: How many candidate files are parsed per package, at most.
_MAX_PARSED = 60


def has_code(text: str) -> bool:
    """Whether a module does anything when imported: any statement besides a docstring, `pass`, `from __future__`
    or dunder constants. Unparsable code (Python 2) counts as code: it cannot be told apart."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return True
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Pass) or (isinstance(node, ast.ImportFrom) and node.module == "__future__"):
            continue
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if all(isinstance(t, ast.Name) and t.id in _DUNDER for t in targets):
                continue
        return True
    return False


def _score(text: str, package: str) -> tuple[int, int, int]:
    """(third-party imports, top-level definitions, size): the module that proves the most when it imports."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return (0, 0, len(text))
    third = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            third |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            third.add(node.module.split(".")[0])
    defs = sum(isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for n in tree.body)
    return (len(third - STDLIB - {package}), defs, len(text))


def import_target(walk: Walk, package: str, scripts: AbstractSet[str] = frozenset()) -> tuple[str, str] | None:
    """(module to import, why) for a top-level package: the package itself when its __init__.py has code, else
    the submodule with code that imports the most third-party modules; None when nothing in it has code."""
    files = {f.rel: f for f in walk.files}
    base = f"src/{package}" if f"src/{package}/__init__.py" in files or (
        f"{package}/__init__.py" not in files and any(r.startswith(f"src/{package}/") for r in files)) else package
    init = files.get(f"{base}/__init__.py")
    text = walk.read(init) if init is not None else None
    if text is not None and has_code(text):
        return package, f"importing {package} proves its dependencies are installed"
    said = f"{base}/__init__.py has no code" if init is not None else f"{base} has no __init__.py"
    modules = _modules_under(walk, base)[:_MAX_PARSED]
    texts = {f.rel: walk.read(f) for f in modules}
    # Import lines of the package and of the root scripts: a module the code imports is the library's core
    # (detr's util.misc), one nothing imports is a utility at its edge (util.plot_utils).
    roots = [f for f in walk.files if "/" not in f.rel and f.suffix == ".py"][:_MAX_PARSED]
    lines = [m.group(0) for text in [*texts.values(), *(walk.read(f) for f in roots)] if text
             for m in _IMPORTS.finditer(text)]
    best: tuple[tuple[int, int, int, int, int], str] | None = None
    for f in modules:
        body = texts.get(f.rel)
        if f.rel in scripts or body is None or not has_code(body):  # a package's script is not what users import
            continue
        dotted = package + "." + f.rel[len(base) + 1:-3].replace("/", ".")
        if not all(part.isidentifier() for part in dotted.split(".")):
            continue
        word = re.compile(rf"\b{re.escape(f.name[:-3])}\b")
        imported = sum(1 for line in lines if word.search(line))
        # the package's own modules before its subpackages', then the most imported, then the most telling
        score = (-dotted.count("."), imported, *_score(body, package))
        if best is None or score > best[0]:
            best = (score, dotted)
    if best is None:
        return None
    return best[1], f"{said}; importing {best[1]} proves the package's dependencies are installed"


def _modules_under(walk: Walk, base: str) -> list[RepoFile]:
    """The package's modules, shallowest first: its own, then its subpackages' (tests and scripts left out)."""
    found = [f for f in walk.files if f.rel.startswith(base + "/") and f.suffix == ".py" and f.name not in _SKIP
             and not f.name.startswith("test") and f.rel.count("/") - base.count("/") <= 2
             and "/tests/" not in f.rel[len(base):]]
    return sorted(found, key=lambda f: (f.rel.count("/"), f.rel))
