"""Requirement files (requirements.txt and friends): installed with -r, after the edits pip needs to read them."""

from __future__ import annotations

import re
from pathlib import Path
from posixpath import basename

from packaging.utils import canonicalize_name

from ...contracts import RepoFacts
from ...contracts.dependencies import RequirementFile
from ...contracts.facts import Dependency
from ..packages import TORCH_FAMILY, dist_for_import
from ..requirement_fixes import apply_to_deps, requirement_edits
from .base import PlanJob


def split_requirements(facts: RepoFacts) -> tuple[list[str], bool]:
    """The main requirements files (not dev/test/docs), and whether any of them installs the project itself. A
    requirements file in a subfolder stands in only when the project declares nothing itself (guided-diffusion's
    evaluations/requirements.txt is for its evaluation suite, not for the package its setup.py describes)."""
    files = [m.source for m in facts.manifests if m.kind == "requirements"]
    main = [f for f in files if not re.search(r"(^|[-_./])(dev|test|tests|docs?|lint|ci)([-_.]|$)", basename(f).lower())
            and "/" not in f]
    project_deps = any(d.group is None and d.kind in ("pypi", "git", "url") and d.source not in files
                       and not d.source.endswith("package.json") for d in facts.dependencies)
    if not main and not project_deps:
        main = [f for f in files if not re.search(r"(dev|test|docs?|lint|ci)", f.lower())][:1]
    installs_self = any(d.kind == "path" and d.source in main for d in facts.dependencies)
    return main, installs_self


_PATH_LINE = re.compile(r"^\s*(?:(?:-e|--editable)[\s=]+)?(?P<path>\.{1,2}(?:/[^\s#;\[]*)?|file:[^\s#;]+)(?:\[[^\]]*\])?"
                        r"\s*(?:[#;].*)?$", re.MULTILINE)
_PROJECT_FILES = ("setup.py", "pyproject.toml", "setup.cfg")


def _resolves(base: Path, ref: str) -> bool:
    target = base / ref.removeprefix("file:")
    return target.is_file() or any((target / name).is_file() for name in _PROJECT_FILES)


def requirement_folder(repo_dir: Path, rel: str) -> str:
    """The folder a requirement file is installed from: its own when it is in a subfolder and its local paths
    (`-e .`, `./pkg`, `../lib`) name projects or files there, as its author ran it (`cd sub && pip install -r
    requirements.txt`); the root otherwise (a file without local paths reads the same from anywhere, and one in
    requirements/ usually means the root's `-e .`). Evidence: what the paths resolve to in the checkout."""
    folder = rel.rsplit("/", 1)[0] if "/" in rel else ""
    if not folder:
        return ""
    try:
        text = (repo_dir / rel).read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return ""
    refs = [m.group("path") for m in _PATH_LINE.finditer(text)]
    if not refs:
        return ""
    here = all(_resolves(repo_dir / folder, r) for r in refs)
    at_root = all(_resolves(repo_dir, r) for r in refs)
    return folder if here and not (at_root and folder.split("/")[-1].lower() in ("requirements", "reqs")) else ""


def _names_torch_index(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")[:200_000]
    except OSError:
        return False
    return re.search(r"^\s*(-f|--find-links|--extra-index-url|--index-url)[\s=].*download\.pytorch\.org", text,
                     re.MULTILINE) is not None


class RequirementsFiles:
    name = "requirements files"
    manifest_kinds = frozenset({"requirements"})

    def detect(self, job: PlanJob) -> bool:
        return bool(job.main_requirements)

    def collect(self, job: PlanJob) -> None:
        if job.facts.locked:
            job.notes.append(f"{job.facts.locked[0].source} not used: the requirements files are what the project "
                             "installs from")

    def fill(self, job: PlanJob) -> None:
        facts, section, main = job.facts, job.section, job.main_requirements
        own = own_dependencies(job)
        job.install_as_list = bool(own)
        if own:
            job.listed = own
        imported = {canonicalize_name(d) for imp in facts.imports if (d := dist_for_import(imp.module))}
        edits = requirement_edits([d for d in job.declared if d.source in main], job.image_python, imported)
        job.notes += edits.notes
        if edits:
            job.deps = apply_to_deps(job.deps, edits)  # the list as the edited files will read (the torch step)
        if any("+cu" in d.specifier or "+cpu" in d.specifier for d in facts.dependencies if d.source in main):
            section.edits.strip_local_versions = list(main)
            job.notes.append("CUDA-specific local versions (+cuXXX) stripped from the requirements: the CPU build is used")
        if edits:
            # Where the files are read: after the source copy when they install the project (`-e .`), since that
            # copy brings the unedited files back.
            section.edits = section.edits.model_copy(update={
                "files": [r for r in main if any(d.source == r for d in job.declared)],
                "with_source": job.requirements_install_self, "drop": edits.drop, "rename": edits.rename,
                "respec": edits.respec})
        with_torch_index = [r for r in main if _names_torch_index(job.ctx.repo_dir / r)]
        if with_torch_index and any(canonicalize_name(d.name) in TORCH_FAMILY for d in job.deps):
            # pip would retry the unreachable index for every package; torch has its own step.
            section.edits.drop_index_lines = with_torch_index
            job.notes.append("PyTorch index lines removed from the requirements (torch is installed in its own step)")
        folders = {r: requirement_folder(job.ctx.repo_dir, r) for r in main}
        section.requirement_files = [RequirementFile(path=r, with_source=job.requirements_install_self,
                                                     optional=bool(own), folder=folders[r]) for r in main]
        for r, folder in folders.items():
            if folder:
                job.notes.append(f"{r} installed from {folder}/, where it lives: its local paths are that folder's")
        if own:
            sources = sorted({d.source for d in job.declared if d.source not in main})
            job.notes.append(f"the project's own dependencies ({', '.join(sources)}) first; then {', '.join(main)}, "
                             "each in its own step: a file that fails is left out and the project checked without it")
        else:
            job.notes.append(f"dependencies from {', '.join(main)}")


def dependency_key(dep: Dependency) -> str:
    return canonicalize_name(dep.name) if dep.kind in ("pypi", "conda") else dep.raw


def own_dependencies(job: PlanJob) -> set[str]:
    """The distributions the project's own metadata declares (setup.py, pyproject.toml, ...) when requirement files
    add to them: the metadata's list installs first, the files after it. Empty when the files are the project's
    only list, or when a file installs the project itself."""
    if job.requirements_install_self:
        return set()
    return {dependency_key(d) for d in job.declared
            if d.source not in job.main_requirements and d.kind in ("pypi", "git", "url")}
