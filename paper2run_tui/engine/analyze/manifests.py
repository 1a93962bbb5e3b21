"""Manifests: requirements files, setup.py/setup.cfg, pyproject (PEP 621, poetry, hatch, pdm, uv), Pipfile,
conda files, and the non-Python ones (package.json, DESCRIPTION, Project.toml). Text only: setup.py is read
with `ast`, never executed."""

from __future__ import annotations

import ast
import configparser
import json
import re
import tomllib
from dataclasses import dataclass, field
from posixpath import dirname, join, normpath
from typing import Any, Literal

import yaml

from ..contracts.facts import Dependency, EntryPoint, Manifest, PythonHint
from .poetry_spec import poetry_to_pep440
from .requirements import parse_conda_spec, parse_requirement, requirements_file
from .walk import RepoFile, Walk

_REQ_NAME = re.compile(r"^(requirements?|reqs?)([-_.][\w.-]+)?\.(txt|in|pip)$", re.IGNORECASE)
_CLASSIFIER = re.compile(r"Programming Language :: Python :: (3\.\d+)")


@dataclass
class ManifestFacts:
    manifests: list[Manifest] = field(default_factory=list)
    dependencies: list[Dependency] = field(default_factory=list)
    python_hints: list[PythonHint] = field(default_factory=list)
    entry_points: list[EntryPoint] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, path: str, kind: str, manager: str) -> None:
        if not any(m.source == path and m.kind == kind for m in self.manifests):
            self.manifests.append(Manifest(source=path, kind=kind, manager=manager))  # type: ignore[arg-type]


def _depth(rel: str) -> int:
    return rel.count("/")


def is_requirements_file(f: RepoFile) -> bool:
    parent = f.rel.rsplit("/", 1)[0] if "/" in f.rel else ""
    in_req_dir = parent.split("/")[-1].lower() in ("requirements", "reqs") and f.suffix in (".txt", ".in")
    return (bool(_REQ_NAME.match(f.name)) or in_req_dir) and _depth(f.rel) <= 2


def read_manifests(walk: Walk) -> ManifestFacts:
    out = ManifestFacts()
    seen_req: set[str] = set()
    queue = [f.rel for f in walk.files if is_requirements_file(f)]
    sizes = {f.rel: f for f in walk.files}
    while queue:
        rel = normpath(queue.pop(0))
        if rel in seen_req or rel not in sizes:
            continue
        seen_req.add(rel)
        text = walk.read(sizes[rel])
        if text is None:
            continue
        group = _group_from_name(rel)
        deps, includes = requirements_file(text, rel, group)
        out.add(rel, "requirements", "pip")
        out.dependencies += deps
        queue += [join(dirname(rel), inc) for inc in includes]
    for f in walk.files:
        if _depth(f.rel) > 1:
            continue
        handler = _HANDLERS.get(f.name) or _HANDLERS.get(f.name.lower())
        if handler is None:
            continue
        text = walk.read(f)
        if text is None:
            continue
        try:
            handler(text, f.rel, out)
        except Exception as exc:  # noqa: BLE001 - a malformed manifest is a warning, not a crash
            out.warnings.append(f"could not parse {f.rel}: {type(exc).__name__}: {str(exc)[:120]}")
    for f in walk.files:
        if f.suffix == ".py" and _depth(f.rel) <= 1 and f.size < 200_000:
            text = walk.read(f)
            if text and "# /// script" in text:
                try:
                    _script_metadata(text, f.rel, out)
                except Exception as exc:  # noqa: BLE001 - a malformed header is a warning, not a crash
                    out.warnings.append(f"could not parse the script metadata of {f.rel}: {type(exc).__name__}")
    if any(m.kind != "pep723-script" for m in out.manifests):
        # A script's header lists what that script needs; the project's own manifests say what the project needs.
        out.dependencies = [d.model_copy(update={"group": "script"}) if d.group is None and
                            any(m.source == d.source and m.kind == "pep723-script" for m in out.manifests) else d
                            for d in out.dependencies]
    for f in walk.files:
        if f.name.lower() in ("uv.lock", "poetry.lock", "pipfile.lock", "pdm.lock", "conda-lock.yml") and _depth(f.rel) <= 1:
            out.add(f.rel, "lockfile", f.name.split(".")[0].lower().replace("pipfile", "pipenv"))
    return out


#: PEP 723's inline script metadata: a `# /// script` ... `# ///` comment block holding TOML.
_SCRIPT_BLOCK = re.compile(r"(?m)^# /// script$\s(?P<content>(^#(| .*)$\s)+)^# ///$")


def _script_metadata(text: str, rel: str, out: ManifestFacts) -> None:
    """A script's own dependencies and Python (PEP 723), as its author wrote them for `uv run` or `pipx run`."""
    m = _SCRIPT_BLOCK.search(text)
    if m is None:
        return
    body = "".join(line[2:] if line.startswith("# ") else line[1:] for line in m.group("content").splitlines(True))
    data = tomllib.loads(body)
    out.add(rel, "pep723-script", "pip")
    out.dependencies += [d for r in data.get("dependencies") or [] if isinstance(r, str) and (d := parse_requirement(r, rel))]
    if isinstance(data.get("requires-python"), str):
        out.python_hints.append(PythonHint(spec=data["requires-python"], kind="python_requires", source=rel))


def _group_from_name(rel: str) -> str | None:
    stem = rel.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()
    for marker in ("dev", "test", "docs", "doc", "lint"):
        if marker in re.split(r"[-_.]", stem):
            return marker
    return None


# --- setup.py / setup.cfg ------------------------------------------------------------------------------------


def _literal(node: ast.AST, names: dict[str, ast.AST]) -> Any:
    if isinstance(node, ast.Name) and node.id in names:
        return _literal(names[node.id], names)
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def _setup_py(text: str, rel: str, out: ManifestFacts) -> None:
    tree = ast.parse(text)
    out.add(rel, "setup.py", "setuptools")
    names: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            names[node.targets[0].id] = node.value
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "setup"):
            continue
        for kw in node.keywords:
            value = _literal(kw.value, names)
            line = getattr(kw.value, "lineno", None)
            if kw.arg == "install_requires" and isinstance(value, (list, tuple)):
                out.dependencies += [d for r in value if isinstance(r, str) and (d := parse_requirement(r, rel, line))]
            elif kw.arg == "extras_require" and isinstance(value, dict):
                for extra, reqs in value.items():
                    reqs = [reqs] if isinstance(reqs, str) else reqs
                    out.dependencies += [d for r in reqs or [] if (d := parse_requirement(r, rel, line, str(extra)))]
            elif kw.arg == "python_requires" and isinstance(value, str):
                out.python_hints.append(PythonHint(spec=value, kind="python_requires", source=rel, line=line))
            elif kw.arg == "classifiers" and isinstance(value, (list, tuple)):
                _classifiers(value, rel, out, line)
            elif kw.arg == "entry_points" and isinstance(value, dict):
                scripts = value.get("console_scripts") or []
                scripts = scripts.splitlines() if isinstance(scripts, str) else scripts
                _console_scripts(scripts, rel, out)


def _classifiers(values: Any, rel: str, out: ManifestFacts, line: int | None = None) -> None:
    for c in values:
        m = _CLASSIFIER.search(str(c))
        if m:
            out.python_hints.append(PythonHint(spec=m.group(1), kind="classifier", source=rel, line=line))


def _console_scripts(items: Any, rel: str, out: ManifestFacts) -> None:
    for item in items:
        if isinstance(item, str) and "=" in item:
            name, target = (s.strip() for s in item.split("=", 1))
            if name:
                out.entry_points.append(EntryPoint(name=name, target=target, kind="console-script", source=rel))


def _setup_cfg(text: str, rel: str, out: ManifestFacts) -> None:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_string(text)
    if not cfg.has_section("options") and not cfg.has_section("metadata"):
        return
    out.add(rel, "setup.cfg", "setuptools")
    opts = cfg["options"] if cfg.has_section("options") else {}
    for line in (opts.get("install_requires", "") or "").splitlines():
        if (dep := parse_requirement(line, rel)) is not None:
            out.dependencies.append(dep)
    if opts.get("python_requires"):
        out.python_hints.append(PythonHint(spec=opts["python_requires"].strip(), kind="python_requires", source=rel))
    if cfg.has_section("options.extras_require"):
        for extra, reqs in cfg["options.extras_require"].items():
            out.dependencies += [d for line in reqs.splitlines() if (d := parse_requirement(line, rel, None, extra))]
    if cfg.has_section("options.entry_points"):
        _console_scripts(cfg["options.entry_points"].get("console_scripts", "").splitlines(), rel, out)
    if cfg.has_section("metadata"):
        _classifiers(cfg["metadata"].get("classifiers", "").splitlines(), rel, out)


# --- pyproject.toml -----------------------------------------------------------------------------------------


def _poetry_spec(value: Any) -> str:
    """Poetry's constraint as PEP 440 (poetry_spec.py); one pip cannot read either way is left unpinned."""
    version = value.get("version", "") if isinstance(value, dict) else str(value)
    spec = poetry_to_pep440(version.strip())
    return spec if spec is not None else ""


def _pyproject(text: str, rel: str, out: ManifestFacts) -> None:
    data = tomllib.loads(text)
    project = data.get("project") or {}
    tool = data.get("tool") or {}
    if project:
        out.add(rel, "pyproject-pep621", "pip")
        out.dependencies += [d for r in project.get("dependencies") or [] if (d := parse_requirement(r, rel))]
        for extra, reqs in (project.get("optional-dependencies") or {}).items():
            out.dependencies += [d for r in reqs if (d := parse_requirement(r, rel, None, extra))]
        if project.get("requires-python"):
            out.python_hints.append(PythonHint(spec=project["requires-python"], kind="python_requires", source=rel))
        _classifiers(project.get("classifiers") or [], rel, out)
        _console_scripts([f"{k}={v}" for k, v in (project.get("scripts") or {}).items()], rel, out)
    poetry = tool.get("poetry") or {}
    if poetry:
        out.add(rel, "pyproject-poetry", "poetry")
        for group_name, table in [("", poetry.get("dependencies") or {}), ("dev", poetry.get("dev-dependencies") or {})] + [
            (g, (t or {}).get("dependencies") or {}) for g, t in (poetry.get("group") or {}).items()
        ]:
            for name, value in table.items():
                if name.lower() == "python":
                    out.python_hints.append(PythonHint(spec=_poetry_spec(value) or str(value), kind="poetry", source=rel))
                    continue
                kind: Literal["git", "pypi"] = "git" if isinstance(value, dict) and "git" in value else "pypi"
                out.dependencies.append(Dependency(name=name, specifier=_poetry_spec(value) if kind == "pypi" else "",
                                                  raw=f"{name} = {value}", kind=kind, source=rel, group=group_name or None))
        _console_scripts([f"{k}={v}" for k, v in (poetry.get("scripts") or {}).items()], rel, out)
    for name, manager in (("hatch", "hatch"), ("pdm", "pdm"), ("uv", "uv")):
        if name in tool:
            out.add(rel, f"pyproject-{name}", manager)
    if "dependency-groups" in data:
        for group, reqs in data["dependency-groups"].items():
            out.dependencies += [d for r in reqs if isinstance(r, str) and (d := parse_requirement(r, rel, None, group))]
    if (not out.manifests or all(m.source != rel for m in out.manifests)) and "build-system" in data:
        out.add(rel, "pyproject-build-system", "pip")


# --- Pipfile, conda, other ecosystems ------------------------------------------------------------------------


def _pipfile(text: str, rel: str, out: ManifestFacts) -> None:
    data = tomllib.loads(text)
    out.add(rel, "pipfile", "pipenv")
    for section, group in (("packages", None), ("dev-packages", "dev")):
        for name, value in (data.get(section) or {}).items():
            spec = value if isinstance(value, str) else (value or {}).get("version", "")
            spec = "" if spec in ("*", None) else spec
            out.dependencies.append(Dependency(name=name, specifier=spec, raw=f"{name} = {value}", source=rel, group=group))
    requires = data.get("requires") or {}
    if requires.get("python_version"):
        out.python_hints.append(PythonHint(spec=str(requires["python_version"]), kind="pipfile", source=rel))


def _environment_yml(text: str, rel: str, out: ManifestFacts) -> None:
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        return
    out.add(rel, "conda-environment", "conda")
    for item in data.get("dependencies") or []:
        if isinstance(item, dict):
            for pip_line in item.get("pip") or []:
                if (dep := parse_requirement(str(pip_line), rel)) is not None:
                    out.dependencies.append(dep)
            continue
        dep = parse_conda_spec(str(item).split("::")[-1], rel)
        if dep is None:
            continue
        if dep.name.lower() == "python":
            out.python_hints.append(PythonHint(spec=dep.specifier.lstrip("=") or "3", kind="conda", source=rel))
        elif dep.name.lower() != "pip":
            out.dependencies.append(dep)


def _package_json(text: str, rel: str, out: ManifestFacts) -> None:
    data = json.loads(text)
    out.add(rel, "package.json", "npm")
    for name, spec in (data.get("dependencies") or {}).items():
        out.dependencies.append(Dependency(name=name, specifier=str(spec), raw=f"{name}@{spec}", kind="npm", source=rel))


def _r_description(text: str, rel: str, out: ManifestFacts) -> None:
    if re.search(r"^Package:", text, re.MULTILINE):
        out.add(rel, "r-description", "R")


def _julia_project(text: str, rel: str, out: ManifestFacts) -> None:
    tomllib.loads(text)
    out.add(rel, "julia-project", "julia")


def _conda_requirements(text: str, rel: str, out: ManifestFacts) -> None:
    """A conda explicit spec file ('name=version=build' lines, often requirements.txt exported by conda)."""
    if "=" not in text:
        return
    out.add(rel, "conda-requirements", "conda")


_HANDLERS = {
    "setup.py": _setup_py,
    "setup.cfg": _setup_cfg,
    "pyproject.toml": _pyproject,
    "Pipfile": _pipfile,
    "environment.yml": _environment_yml,
    "environment.yaml": _environment_yml,
    "conda.yml": _environment_yml,
    "conda.yaml": _environment_yml,
    "package.json": _package_json,
    "DESCRIPTION": _r_description,
    "Project.toml": _julia_project,
    "conda_requirements.txt": _conda_requirements,
    "spec-file.txt": _conda_requirements,
}
