"""Render the Dockerfile, INSTRUCTIONS.md and report.md from the jinja2 templates in templates/."""

from __future__ import annotations

import json
import re
import shlex
from functools import lru_cache
from pathlib import Path, PurePosixPath

import jinja2

from ... import __version__
from ..contracts import EnvPlan, RepoFacts
from ..contracts.render import DockerfileInputs
from ..plan.installers import DEPENDENCY_MANIFEST_KINDS
from ..policy.check import CLEAN_PATH, CONTROL, DEBIAN_PACKAGE, HEREDOC, IDENTIFIER
from ..policy.images import is_image_reference
from .install import install_commands, source_commands

TEMPLATES = Path(__file__).parent / "templates"

#: Manifest kinds whose files are copied before the install steps (dependency layer): what the installers read.
_DEPENDENCY_MANIFESTS = DEPENDENCY_MANIFEST_KINDS
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
    env.filters.update(
        run_line=_run_line, env_key=_env_key, env_value=_env_value, image=_image, abs_path=_abs_path,
        apt_name=_apt_name, comment=lambda text: CONTROL.sub(" ", str(text)), exec_json=_exec_json,
    )
    return env


class UnsafeValue(ValueError):
    """A plan value that would change the Dockerfile's structure. The policy refuses such plans first; the
    renderer refuses them again, so a plan that bypassed the policy still cannot add an instruction."""


def _one_line(value: str, what: str) -> str:
    if CONTROL.search(value):
        raise UnsafeValue(f"{what} {value[:60]!r} contains a line break or control character")
    return value


def _run_line(step: str) -> str:
    _one_line(step, "the step")
    if step.rstrip().endswith("\\"):
        raise UnsafeValue(f"the step {step[:60]!r} ends with a line continuation")
    if HEREDOC.search(step):
        raise UnsafeValue(f"the step {step[:60]!r} contains a heredoc marker (<<WORD)")
    return step


def _env_key(key: str) -> str:
    if not IDENTIFIER.match(key):
        raise UnsafeValue(f"the env key {key[:60]!r} is not an identifier")
    return key


def _env_value(value: str) -> str:
    """A double-quoted ENV value: only \\ and " are escaped (JSON's \\uXXXX escapes would reach the image
    verbatim); $VAR substitution keeps working as Docker documents it."""
    _one_line(value, "the env value")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _image(image: str) -> str:
    if not is_image_reference(image):
        raise UnsafeValue(f"the base image {image[:60]!r} is not an image reference")
    return image


def _abs_path(path: str) -> str:
    if not CLEAN_PATH.match(path):
        raise UnsafeValue(f"the path {path[:60]!r} is not a clean absolute path")
    return path


def _apt_name(name: str) -> str:
    if not DEBIAN_PACKAGE.match(name):
        raise UnsafeValue(f"{name[:60]!r} is not a Debian package name")
    return name


def _exec_json(words: list[str]) -> str:
    """Exec-form JSON (CMD, COPY): every character escaped by the JSON rules Docker parses."""
    return json.dumps(words)


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
    sources = [m.source for m in facts.manifests if m.kind in _DEPENDENCY_MANIFESTS] if facts is not None else []
    return _manifest_paths(plan, sources, repo_dir)


def _manifest_paths(plan: EnvPlan, manifest_sources: list[str], repo_dir: Path) -> list[str]:
    candidates: list[str] = list(manifest_sources)
    candidates += list(_LOCKFILES)
    for step in install_commands(plan):
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


def dockerfile_inputs(
    *,
    facts: RepoFacts | None,
    repo_dir: Path,
    attempt: int = 1,
    ca_bundle: bool = False,
    proxy_args: list[str] | None = None,
) -> DockerfileInputs:
    """Everything besides the plan that the Dockerfile depends on (the gate re-renders edits from it)."""
    return DockerfileInputs(
        repo_dir=str(repo_dir), repo_name=facts.name if facts else repo_dir.name, attempt=attempt,
        manifest_sources=[m.source for m in facts.manifests if m.kind in _DEPENDENCY_MANIFESTS] if facts else [],
        ca_bundle=ca_bundle, proxy_args=list(proxy_args or []),
    )


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
    inputs = dockerfile_inputs(facts=facts, repo_dir=repo_dir, attempt=attempt, ca_bundle=ca_bundle,
                               proxy_args=proxy_args)
    return render_from_inputs(plan, inputs)


def render_from_inputs(plan: EnvPlan, inputs: DockerfileInputs) -> str:
    """Render from DockerfileInputs. Raises UnsafeValue for a value that would change the file's structure."""
    for arg in inputs.proxy_args:
        _env_key(arg)
    return environment().get_template("Dockerfile.j2").render(
        plan=plan,
        install_steps=install_commands(plan),
        source_steps=source_commands(plan),
        manifests=_manifest_paths(plan, inputs.manifest_sources, Path(inputs.repo_dir)) if inputs.repo_dir else [],
        repo_name=inputs.repo_name,
        attempt=inputs.attempt,
        ca_bundle=inputs.ca_bundle,
        proxy_args=inputs.proxy_args,
        tool_version=__version__,
    )
