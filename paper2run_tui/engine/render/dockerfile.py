"""Render the Dockerfile, INSTRUCTIONS.md and report.md from the jinja2 templates in templates/."""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from pathlib import Path, PurePosixPath

import jinja2

from ... import __version__
from ..contracts import EnvPlan, RepoFacts

TEMPLATES = Path(__file__).parent / "templates"

#: Manifest kinds whose files are copied before the install steps (dependency layer).
_DEPENDENCY_MANIFESTS = {
    "requirements", "setup.cfg", "pyproject-pep621", "pyproject-poetry", "pyproject-hatch", "pyproject-pdm",
    "pyproject-uv", "pyproject-build-system", "pipfile", "conda-environment", "conda-requirements", "lockfile",
}
#: Files an install step may name with -r/-c/--requirement/--constraint, or as an argument.
_REFERENCED = re.compile(r"(?:-r|-c|--requirement|--constraint|-f|--file)[ =]+(\S+)")
_LOCKFILES = ("poetry.lock", "Pipfile.lock", "pdm.lock", "uv.lock", "requirements.lock")


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["first_line"] = lambda text: (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return env


def _safe_relative(repo_dir: Path, rel: str) -> str | None:
    """A repo-relative POSIX path that exists as a regular file inside the repo, or None."""
    pure = PurePosixPath(rel.strip().strip("'\""))
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        return None
    target = repo_dir / Path(*pure.parts)
    try:
        if target.is_symlink() or not target.is_file():
            return None
        target.resolve().relative_to(repo_dir.resolve())
    except (OSError, ValueError):
        return None
    return pure.as_posix()


def manifest_paths(plan: EnvPlan, facts: RepoFacts | None, repo_dir: Path) -> list[str]:
    """The files copied before the install steps: dependency manifests, lock files, and files the steps name."""
    candidates: list[str] = []
    if facts is not None:
        candidates += [m.source for m in facts.manifests if m.kind in _DEPENDENCY_MANIFESTS]
    candidates += list(_LOCKFILES)
    for step in plan.install_steps:
        candidates += _REFERENCED.findall(step)
        try:
            words = shlex.split(step)
        except ValueError:
            words = step.split()
        candidates += [w for w in words if w.endswith((".txt", ".yml", ".yaml", ".toml", ".cfg", ".lock"))]
    seen: list[str] = []
    queue = list(candidates)
    while queue and len(seen) < 200:
        safe = _safe_relative(repo_dir, queue.pop(0))
        if not safe or safe in seen:
            continue
        seen.append(safe)
        queue += _included_files(repo_dir, safe)
    return sorted(seen)


def _included_files(repo_dir: Path, rel: str) -> list[str]:
    """Files a requirements file pulls in with -r/-c, as repo-relative paths (pip resolves them from its folder)."""
    if not rel.endswith((".txt", ".in")):
        return []
    try:
        text = (repo_dir / rel).read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return []
    parent = PurePosixPath(rel).parent
    found = []
    for line in text.splitlines():
        for name in _REFERENCED.findall(line.split(" #")[0]):
            found.append((parent / name).as_posix())
    return found


def render_dockerfile(
    plan: EnvPlan,
    *,
    facts: RepoFacts | None,
    repo_dir: Path,
    attempt: int = 1,
    ca_bundle: bool = False,
    proxy_args: list[str] | None = None,
) -> str:
    """The Dockerfile for one attempt. Deterministic: the same inputs give the same text (and cache hits)."""
    return environment().get_template("Dockerfile.j2").render(
        plan=plan,
        manifests=manifest_paths(plan, facts, repo_dir),
        repo_name=facts.name if facts else repo_dir.name,
        attempt=attempt,
        ca_bundle=ca_bundle,
        proxy_args=proxy_args or [],
        tool_version=__version__,
    )
