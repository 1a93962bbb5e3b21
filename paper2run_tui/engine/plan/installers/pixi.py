"""pixi workspaces (pixi.toml, or [tool.pixi] in pyproject.toml): the conda dependencies translated to pip as for
an environment.yml, the PyPI ones as they are, the Python its spec asks for, and a local editable entry (`pkg =
{ path = ".", editable = true }`) as the project's own install. Features other than the default are left out,
as dev groups are."""

from __future__ import annotations

import tomllib
from typing import Any

from ...contracts.facts import Dependency, PythonHint
from .base import PlanJob
from .conda import conda_to_pip

_FILES = ("pixi.toml", "pyproject.toml")


def _table(job: PlanJob) -> tuple[str, dict[str, Any]] | None:
    """(file, the pixi table) of the workspace at the repository's root, or None."""
    for name in _FILES:
        path = job.ctx.repo_dir / name
        try:
            if path.is_symlink() or not path.is_file() or path.stat().st_size > 1_000_000:
                continue
            data = tomllib.loads(path.read_text(encoding="utf-8", errors="replace"))
        except (OSError, tomllib.TOMLDecodeError):
            continue
        table = data if name == "pixi.toml" else data.get("tool", {}).get("pixi")
        if isinstance(table, dict) and (table.get("dependencies") or table.get("pypi-dependencies")):
            return name, table
    return None


def _spec(value: Any) -> tuple[str, dict[str, Any]]:
    """A pixi/conda version spec as a PEP 440 specifier ('*' is none, '1.2.*' is ==1.2.*), and the table if any."""
    table = value if isinstance(value, dict) else {}
    text = str(table.get("version", "*") if table else value).strip()
    if text in ("", "*"):
        return "", table
    if text[0].isdigit():
        return f"=={text}", table
    return text.replace(" ", ""), table


class PixiWorkspace:
    name = "pixi workspace"
    #: pixi.toml is read here and translated; the image needs no copy of it.
    manifest_kinds: frozenset[str] = frozenset()

    def detect(self, job: PlanJob) -> bool:
        return _table(job) is not None

    def collect(self, job: PlanJob) -> None:
        found = _table(job)
        if found is None:
            return
        source, table = found
        conda: list[Dependency] = []
        for name, value in (table.get("dependencies") or {}).items():
            spec, _ = _spec(value)
            if name.lower() == "python":
                if spec:
                    # conda's `3.10.*` is the version the environment.yml reader gives as `3.10`
                    bare = spec.removeprefix("==").removesuffix(".*")
                    job.python_hints.append(PythonHint(spec=bare, kind="conda", source=source))
                continue
            conda.append(Dependency(name=name, specifier=spec, raw=f"{name} = {value}", kind="conda", source=source))
        job.extra += conda_to_pip(conda, job.notes, f"{source}'s pixi dependencies")
        pypi = 0
        for name, value in (table.get("pypi-dependencies") or {}).items():
            spec, opts = _spec(value)
            if "path" in opts:
                if opts.get("path") in (".", "./") and opts.get("editable"):
                    job.editable_self = True
                continue
            if "git" in opts:
                raw = f"{name} @ git+{opts['git']}" + (f"@{opts['rev']}" if opts.get("rev") else "")
                job.extra.append(Dependency(name=name, raw=raw, kind="git", source=source))
            else:
                job.extra.append(Dependency(name=name, specifier=spec, raw=f"{name} = {value}", source=source,
                                            extras=[str(e) for e in opts.get("extras", [])]))
            pypi += 1
        if pypi:
            job.notes.append(f"{source}: {pypi} PyPI dependencies of the pixi workspace installed with pip")

    def fill(self, job: PlanJob) -> None:
        if job.editable_self and job.section.project == "none":
            job.section.project = "editable"
            job.notes.append("the project itself installed editable with --no-deps after the source copy (pixi's "
                             "path dependency on '.')")
