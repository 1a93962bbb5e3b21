"""Toy-run candidates: an entry point run for real, on the CPU, with nothing the repository does not hold.

The top rung of the smoke ladder. It is only offered when the analysis can see that the run needs no data from
outside: a README command whose script (`python x.py`) or module (`python -m pkg`) and file arguments all exist in
the checkout, or a demo/example script whose arguments all have defaults. Scripts that download data or weights are never offered, and the run itself
gets no network (build/smoke_run.py), so a pass never means "was busy downloading a dataset".
"""

from __future__ import annotations

import posixpath
import re
import shlex

from ..contracts.facts import DataExpectation, SmokeCandidate

_FETCHES = {"download-url", "dataset-loader", "pretrained-weights"}
_DEMO_NAME = re.compile(r"(demo|example|toy|quickstart|tutorial|minimal)", re.IGNORECASE)
_FILE_ARG = re.compile(r"^[\w./-]+\.[A-Za-z][A-Za-z0-9]{0,5}$")
_PLACEHOLDER = re.compile(r"[$<>|;&`]|path/to|/path/|\bYOUR_|\.\.\.|^/")


def _needs_outside_data(script: str, data: list[DataExpectation], files: set[str]) -> bool:
    for d in data:
        if d.source != script:
            continue
        if d.kind in _FETCHES:
            return True
        if d.kind == "local-path" and not any(f == d.target.lstrip("./") or f.startswith(d.target.lstrip("./").rstrip("/") + "/")
                                              for f in files):
            return True
    return False


def _resolve_script(path: str, files: set[str]) -> tuple[str, str] | None:
    """(script rel, folder to run from) for a README's `python path.py`: the path itself, or the one file of that
    name further down (READMEs often say `python train.py` meaning "cd pkg first")."""
    path = posixpath.normpath(path.removeprefix("./"))
    if path in files:
        return path, "."
    matches = [f for f in files if f.endswith("/" + path)]
    if len(matches) == 1:
        return matches[0], matches[0][: -len(path) - 1]
    return None


_MODULE = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


def _resolve_module(module: str, files: set[str]) -> tuple[str, str] | None:
    """(file rel, folder to run from) for a README's `python -m pkg.mod`: pkg/mod.py or pkg/mod/__main__.py in the
    checkout, at its top or in one folder further down (a src/ layout, a code/ folder). A module the repository does
    not hold (pip, pytest, torch.distributed.run) is not its code, so never a toy run."""
    if not _MODULE.match(module):
        return None
    base = module.replace(".", "/")
    for rel in (f"{base}.py", f"{base}/__main__.py"):
        if rel in files:
            return rel, "."
        matches = [f for f in files if f.endswith("/" + rel)]
        if len(matches) == 1:
            return matches[0], matches[0][: -len(rel) - 1]
    return None


def readme_toy_runs(commands: list[tuple[str, int]], readme_rel: str | None, files: set[str],
                    data: list[DataExpectation]) -> list[SmokeCandidate]:
    out = []
    for command, line in commands:
        try:
            tokens = shlex.split(command)
        except ValueError:
            continue
        if len(tokens) < 2 or tokens[0] not in ("python", "python3"):
            continue
        as_module = tokens[1] == "-m" and len(tokens) >= 3
        if not as_module and not tokens[1].endswith(".py"):
            continue
        target, args = (tokens[2], tokens[3:]) if as_module else (tokens[1], tokens[2:])
        if posixpath.basename(target) == "setup.py" or any(_PLACEHOLDER.search(t) for t in tokens) \
                or any(a in ("-h", "--help") for a in args):
            continue
        resolved = _resolve_module(target, files) if as_module else _resolve_script(target, files)
        if resolved is None:
            continue
        script, folder = resolved
        values = [a.split("=", 1)[1] if a.startswith("-") and "=" in a else a for a in args]
        file_args = [v for v in values if not v.startswith("-") and _FILE_ARG.match(v)]
        if any(posixpath.normpath(posixpath.join(folder, v)) not in files for v in file_args):
            continue  # reads (or writes) a file the checkout does not hold: not a toy run
        if _needs_outside_data(script, data, files):
            continue
        run = shlex.join(["python", "-m", target, *args] if as_module
                         else ["python", posixpath.relpath(script, folder), *args])
        cmd = run if folder == "." else f"cd {shlex.quote(folder)} && {run}"
        what = f"module {target} ({script})" if as_module else "script"
        out.append(SmokeCandidate(command=cmd, kind="toy-run", source=readme_rel or "README", line=line, score=30,
                                  reason=f"a README command whose {what} and files are all in the repository"))
    return out


def demo_toy_runs(cli_scripts: dict[str, bool], required_args: set[str], files: set[str],
                  data: list[DataExpectation]) -> list[SmokeCandidate]:
    out = []
    for rel, guarded in sorted(cli_scripts.items()):
        name = posixpath.basename(rel)
        if not guarded or rel.startswith(("tests/", "test/")) or not _DEMO_NAME.search(name[:-3]):
            continue
        if rel in required_args or _needs_outside_data(rel, data, files):
            continue
        out.append(SmokeCandidate(command=f"python {shlex.quote(rel)}", kind="toy-run", source=rel, score=25,
                                  reason=f"{rel} is a demo whose arguments all have defaults and which fetches no data"))
    return out
