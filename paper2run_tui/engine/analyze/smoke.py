"""Entry points and smoke-command candidates, ranked: cheap, data-free and meaningful first."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..contracts.facts import EntryPoint, SmokeCandidate
from .walk import Walk

_SCRIPT_NAMES = re.compile(r"(^|[_-])(train|eval|evaluate|test_model|demo|main|run|inference|infer|predict|sample|generate|app)"
                           r"([_-][\w-]*)?\.py$", re.IGNORECASE)
#: Folders of data-preparation scripts: their --help proves less about the method than a train or sample script's.
_DATA_PREP_DIRS = {"data", "datasets", "dataset", "preprocessing", "preprocess", "tools"}
_DATA_WORDS = re.compile(r"\b(data|dataset|datasets|checkpoint|ckpt|weights|\.pt|\.pth|\.h5|--data|--dataset)\b")


def module_mains(walk: Walk, local: list[str]) -> list[EntryPoint]:
    points = []
    for f in walk.files:
        parts = f.rel.split("/")
        if f.name == "__main__.py" and len(parts) >= 2:
            pkg_parts = parts[1:-1] if parts[0] == "src" else parts[:-1]
            if pkg_parts:
                points.append(EntryPoint(name=".".join(pkg_parts), target=".".join(pkg_parts), kind="module-main", source=f.rel))
    return points


def script_entry_points(cli_scripts: dict[str, bool]) -> list[EntryPoint]:
    return [EntryPoint(name=rel.rsplit("/", 1)[-1], target=rel, kind="script", source=rel)
            for rel, guarded in sorted(cli_scripts.items()) if guarded and not rel.startswith(("tests/", "test/"))]


def rank_candidates(
    *,
    entry_points: list[EntryPoint],
    readme_commands: list[tuple[str, int]],
    readme_rel: str | None,
    packages: list[str],
    has_tests: bool,
    tests_need_data: bool,
    test_source: str | None,
    toy_runs: Sequence[SmokeCandidate] = (),
    import_targets: dict[str, tuple[str, str]] | None = None,
) -> list[SmokeCandidate]:
    """import_targets: package -> (the module its import rung imports, why), see import_targets.py."""
    out: list[SmokeCandidate] = list(toy_runs)
    for ep in entry_points:
        if ep.kind == "console-script":
            out.append(SmokeCandidate(command=f"{ep.name} --help", kind="entrypoint-help", source=ep.source, score=80,
                                      reason=f"console script {ep.name} ({ep.target}) should print its usage without data"))
        elif ep.kind == "module-main":
            out.append(SmokeCandidate(command=f"python -m {ep.target} --help", kind="entrypoint-help", source=ep.source,
                                      score=70, reason=f"package {ep.target} has a __main__.py"))
        elif ep.kind == "script":
            bonus = (10 if _SCRIPT_NAMES.search(ep.name) else 0) - (5 if ep.target.split("/")[0] in _DATA_PREP_DIRS else 0)
            bonus -= min(ep.target.count("/"), 3)  # on a tie, the project's front door (the root) before its tools
            out.append(SmokeCandidate(command=f"python {ep.target} --help", kind="entrypoint-help", source=ep.source,
                                      score=60 + bonus, reason=f"{ep.target} parses arguments, so --help exits before any work"))
    for pkg in packages[:5]:
        module, why = (import_targets or {}).get(pkg) or (pkg, f"importing {pkg} proves its dependencies are installed")
        out.append(SmokeCandidate(command=f'python -c "import {module}"', kind="import", source=pkg, score=50,
                                  reason=why))
    if has_tests:
        out.append(SmokeCandidate(command="python -m pytest -x -q", kind="tests", source=test_source or "tests",
                                  score=40 if not tests_need_data else 15, needs_data=tests_need_data,
                                  reason="the test suite" + (" (it seems to read data files)" if tests_need_data else "")))
    for cmd, line in readme_commands:
        needs = bool(_DATA_WORDS.search(cmd))
        out.append(SmokeCandidate(command=cmd, kind="readme", source=readme_rel or "README", line=line,
                                  score=35 if not needs else 10, needs_data=needs, reason="a command from the README"))
    seen: set[tuple[bool, str]] = set()
    unique = []
    for c in sorted(out, key=lambda c: -c.score):
        key = (c.kind == "toy-run", c.command)  # a README command may be both a candidate and a toy run
        if key not in seen:
            seen.add(key)
            unique.append(c)
    return _capped(unique, MAX_CANDIDATES)


#: Candidates kept, best first. A repository of forty training scripts would otherwise fill the list with
#: entry points and push out the import, tests and toy-run candidates that the smoke ladder's other rungs need.
MAX_CANDIDATES = 30


def _capped(ranked: list[SmokeCandidate], limit: int) -> list[SmokeCandidate]:
    """The best `limit` of `ranked` (sorted best first) with the best candidate of every kind among them."""
    firsts = {id(next(c for c in ranked if c.kind == kind)) for kind in {c.kind for c in ranked}}
    room = limit - len(firsts)
    kept = []
    for c in ranked:
        if id(c) in firsts:
            kept.append(c)
        elif room > 0:
            kept.append(c)
            room -= 1
    return kept
