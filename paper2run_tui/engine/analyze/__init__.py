"""Analyze: deterministic facts about a repository, each naming its source file. Never runs repo code."""

from __future__ import annotations

import re
import time
from datetime import datetime
from pathlib import Path

from packaging.utils import canonicalize_name

from ..contracts.facts import BuildFile, Dependency, ImportedModule, RepoFacts
from ..plan.packages import dist_for_import
from ..ports import CancelToken
from .code_scan import PY2_STDLIB, STDLIB, CodeFacts, local_modules, scan_code
from .git_dates import with_last_changed
from .hints import python_hints
from .import_targets import import_target
from .languages import PYTHONIC, language_shares, primary_language
from .lockfiles import read_lockfiles
from .manifests import read_manifests
from .readme import find_readme, readme_facts
from .smoke import module_mains, rank_candidates, script_entry_points
from .toy_run import demo_toy_runs, readme_toy_runs
from .walk import AnalyzeLimits, RepoFile, Walk, walk_repo

__all__ = ["AnalyzeLimits", "analyze_repo"]

_PY_MANIFESTS = {"requirements", "setup.py", "setup.cfg", "pyproject-pep621", "pyproject-poetry", "pyproject-hatch",
                 "pyproject-pdm", "pyproject-uv", "pyproject-build-system", "pipfile", "conda-environment",
                 "pep723-script"}


def _build_file(rel: str) -> BuildFile | None:
    name = rel.rsplit("/", 1)[-1].lower()
    if rel.count("/") > 1:
        return None
    if name.startswith("dockerfile") or name.endswith(".dockerfile"):
        return BuildFile(kind="dockerfile", source=rel)
    if name in ("makefile", "gnumakefile"):
        return BuildFile(kind="makefile", source=rel)
    if name in ("docker-compose.yml", "docker-compose.yaml", "compose.yml", "compose.yaml"):
        return BuildFile(kind="compose", source=rel)
    if rel.startswith(".devcontainer/") or name == ".devcontainer.json":
        return BuildFile(kind="devcontainer", source=rel)
    return None


_TEST_DEFINITION = re.compile(r"^\s*(?:async\s+)?def test\w*\s*\(|^\s*class Test\w*\b", re.MULTILINE)


def _holds_tests(walk: Walk, f: RepoFile) -> bool:
    """A file named test_*.py that pytest would run: it defines a test function or a Test class. A script named
    test_on_image.py that runs a model on an image is no test suite, and running it as one proves nothing."""
    text = walk.read(f)
    return text is not None and bool(_TEST_DEFINITION.search(text))


def _library_modules(walk: Walk, code: CodeFacts) -> list[str]:
    """A repository of loose files has no package to import, but its own library modules are the next best proof:
    root modules that other files import and that are neither scripts nor run anything under a __main__ guard
    (nanoGPT's model.py, imported by train.py and sample.py)."""
    names = []
    for f in walk.files:
        name = f.name[:-3]
        if "/" in f.rel or f.suffix != ".py" or not name.isidentifier() or name in ("setup", "conftest", "__init__"):
            continue
        if f.rel in code.cli_scripts or f.rel in code.main_guarded or code.first_import_source.get(name, f.rel) == f.rel:
            continue
        if any(d.source == f.rel for d in code.data):
            continue
        names.append(name)
    return sorted(names, key=lambda n: -code.imports[n])[:3]


def analyze_repo(
    root: Path,
    *,
    name: str | None = None,
    commit: str | None = None,
    commit_date: datetime | None = None,
    limits: AnalyzeLimits | None = None,
    cancel: CancelToken | None = None,
) -> RepoFacts:
    limits = limits or AnalyzeLimits()
    started = time.monotonic()
    walk = walk_repo(root, limits)
    if cancel is not None:
        cancel.raise_if_cancelled()
    languages = language_shares(walk.files)
    manifests = read_manifests(walk)
    locked, lock_warnings = read_lockfiles(walk)
    readme_rel = find_readme(walk)
    installs, readme_cmds, downloads, stated_versions = readme_facts(walk, readme_rel)
    code_files = [f for f in walk.files if f.suffix in (".py", ".ipynb")]
    code = scan_code(walk, code_files, deadline=started + limits.time_budget_s)
    if cancel is not None:
        cancel.raise_if_cancelled()
    local = local_modules(walk)
    local_set = set(local)
    imports = [
        ImportedModule(module=mod, count=n, source=code.first_import_source[mod],
                       top_level_in=code.top_level_sources.get(mod, []))
        for mod, n in code.imports.most_common()
        if mod not in STDLIB and mod not in PY2_STDLIB and mod not in local_set and mod.isidentifier()
    ]
    entry_points = manifests.entry_points + module_mains(walk, local) + script_entry_points(code.cli_scripts)
    test_files = [f for f in walk.files if f.suffix == ".py" and (f.name.startswith("test_") or f.name.endswith("_test.py"))
                  and not f.rel.startswith(("src/", "docs/")) and _holds_tests(walk, f)]
    tests_need_data = any(d.source in {t.rel for t in test_files} for d in code.data)
    packages = sorted({f.rel.split("/")[1] if f.rel.startswith("src/") else f.rel.split("/")[0]
                       for f in walk.files if f.name == "__init__.py" and 2 <= f.rel.count("/") + 1 <= 3
                       and not f.rel.startswith(("tests/", "test/", "docs/", "examples/"))})
    packages = [p for p in packages if p.isidentifier()]
    targets: dict[str, tuple[str, str]] = {}
    if packages:
        scripts = set(code.cli_scripts) | code.main_guarded
        found = {p: import_target(walk, p, scripts) for p in packages}
        # A package with no code anywhere (a docstring, a namespace) proves nothing when it imports: left out.
        targets = {p: t for p, t in found.items() if t is not None}
        # The package the repository's own code imports most is its library (detr's models, not its d2 wrapper).
        packages = sorted((p for p in packages if p in targets), key=lambda p: -code.imports[p])
    if not packages:
        packages = _library_modules(walk, code)
    rels = {f.rel for f in walk.files}
    toy_runs = (readme_toy_runs(readme_cmds, readme_rel, rels, code.data)
                + demo_toy_runs(code.cli_scripts, code.needs_args, rels, code.data))
    candidates = rank_candidates(
        entry_points=entry_points, readme_commands=readme_cmds, readme_rel=readme_rel, packages=packages,
        has_tests=bool(test_files), tests_need_data=tests_need_data, test_source=test_files[0].rel if test_files else None,
        toy_runs=toy_runs, import_targets=targets,
    )
    py_share = sum(s.share for s in languages if s.language in PYTHONIC)
    has_py_manifest = any(m.kind in _PY_MANIFESTS for m in manifests.manifests)
    primary = primary_language(languages)
    is_python = primary in PYTHONIC or (has_py_manifest and py_share > 0.0) or (py_share >= 0.3)
    managers = list(dict.fromkeys(m.manager for m in manifests.manifests))
    warnings = walk.warnings + manifests.warnings + lock_warnings
    if code.truncated:
        warnings.append(f"code scan stopped after {limits.time_budget_s:.0f} s: imports and markers cover part of the code")
    if code.py2_files:
        warnings.append(f"{len(code.py2_files)} file(s) look like Python 2 (e.g. {code.py2_files[0]}); imports read line by line")
    if code.unparsable:
        warnings.append(f"{len(code.unparsable)} Python file(s) could not be parsed (e.g. {code.unparsable[0]})")
    deps = manifests.dependencies
    seen: set[tuple[str, str, str | None]] = set()
    unique_deps = []
    for d in deps:
        key = (canonicalize_name(d.name) if d.kind == "pypi" else d.name, d.source, d.group)
        if key not in seen:
            seen.add(key)
            unique_deps.append(d)
    return RepoFacts(
        name=name or root.name,
        commit=commit,
        commit_date=commit_date,
        languages=languages,
        primary_language=primary,
        is_python=is_python,
        managers=managers,
        manifests=with_last_changed(root, manifests.manifests),
        dependencies=unique_deps,
        locked=locked,
        python_hints=manifests.python_hints + python_hints(walk, readme_rel),
        entry_points=entry_points,
        smoke_candidates=candidates,
        gpu_markers=code.gpu_markers[:100],
        data_expectations=(code.data + downloads)[:200],
        build_files=[b for f in walk.files if (b := _build_file(f.rel))],
        imports=imports[:300],
        local_modules=local,
        readme_path=readme_rel,
        readme_installs=installs,
        readme_versions=stated_versions,
        code_versions=[Dependency(name=dist, specifier=f"{op}{version}", raw=f"{mod}.__version__ {op} {version!r}",
                                  source=rel, line=line, group="code")
                       for mod, (op, version, rel, line) in code.version_checks.items()
                       if mod not in local_set and (dist := dist_for_import(mod))],
        has_tests=bool(test_files),
        files_seen=len(walk.files),
        files_skipped=walk.skipped,
        truncated=walk.truncated or code.truncated,
        analysis_seconds=round(time.monotonic() - started, 3),
        warnings=warnings,
    )
