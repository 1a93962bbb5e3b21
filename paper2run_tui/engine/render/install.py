"""The one renderer of a plan's dependency section: its fields in, the RUN steps of the install layers out.

Layers, cheapest to change last, as the Dockerfile template has them: before the source copy, pip, the indexed
packages (torch), the requirement files' edits, what a repair needs before the dependencies, the requirement
files, the packages (under the lock's constraints), the test packages, the plan's own install_steps and what a
repair added after; after the source copy, the files that install the project itself and the project. A repair
that adds a package after the dependencies therefore rebuilds only its own step and those after it.

Every value is shell-quoted where it is written; the renderer never reads a step's text back.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from ..contracts import EnvPlan
from ..contracts.dependencies import DependencySection, FileEdits, RequirementFile

#: Where the lock's pins are written inside the image (read by the package install step).
LOCK_CONSTRAINTS = "/tmp/paper2run-lock-constraints.txt"
#: A requirement that keeps the torch already installed, so pip picks the companion release built for it.
KEEP_TORCH = "\"torch==$(python -c 'import torch; print(torch.__version__.split(\"+\")[0])')\""
#: The pip that knows --uploaded-prior-to.
PIP_FOR_TIME_TRAVEL = "python -m pip install --upgrade 'pip>=25.3'"
_REQUIREMENT_GLOB = "$(ls requirements*.txt requirements/*.txt 2>/dev/null)"


@dataclass(frozen=True)
class Step:
    command: str
    origin: str  # which field wrote it: pip, index, edits, addition, requirements, lock, packages, tests, extra, project


def _q(items: list[str]) -> str:
    return " ".join(shlex.quote(i) for i in items)


def _re(name: str) -> str:
    """A distribution name as an ERE that also matches its other spellings (-, _ and . are interchangeable)."""
    return "".join("[-_.]" if c in "-_." else re.escape(c) for c in name)


def _sed_escape(text: str) -> str:
    return re.sub(r"([\\.^$*+?()\[\]{}|#&/])", r"\\\1", text)


def _edit_sed(edits: FileEdits) -> str | None:
    """One sed over the files: the name must be followed by a non-name character (so `torch` leaves `torchvision`
    alone), matched case-insensitively as pip does. Re-pin before renaming: the re-pin matches the name as written."""
    if not (edits.drop or edits.rename or edits.respec) or not edits.files:
        return None
    end = r"([^A-Za-z0-9_.-]|$)"
    exprs = [f"/^{_re(name)}{end}/Id" for name in edits.drop]
    exprs += [f"s/^({_re(name)})[[:space:]]*[=<>~!]=?[^;#]*/\\1{spec}/I" for name, spec in edits.respec.items()]
    exprs += [f"s/^{_re(old)}{end}/{new}\\1/I" for old, new in edits.rename.items()]
    return "sed -i -E " + " ".join(f"-e {shlex.quote(e)}" for e in exprs) + " " + _q(edits.files)


def _repair_seds(edits: FileEdits, files: list[str]) -> list[str]:
    """The repairs' edits (pins relaxed, git requirements swapped for PyPI releases), over the requirement files."""
    out = []
    if edits.unpin:
        targets = _q(files) if files else _REQUIREMENT_GLOB
        exprs = " ".join("-e " + shlex.quote(f"s/^({_re(n)})[[:space:]]*[=<>~!]=?[^;#]*/" + "\\1/I")
                         for n in edits.unpin)
        out.append(f"sed -i -E {exprs} {targets} || true")
    for swap in edits.git_to_pypi:
        out.append(f"sed -i -E 's#^[[:space:]]*(-e[[:space:]]+)?([[:alnum:]_.-]+[[:space:]]*@[[:space:]]*)?(git[+])?"
                   f"{_sed_escape(swap.url)}([.]git)?([@#][^[:space:]]*)?[[:space:]]*$#{swap.package}#' "
                   f"{shlex.quote(swap.file)}")
    return out


def _pip_step(dep: DependencySection) -> str | None:
    if dep.resolve_as_of is not None:
        return PIP_FOR_TIME_TRAVEL
    if dep.pip is None:
        return None
    return f"python -m pip install --upgrade {shlex.quote(dep.pip)} setuptools wheel"


def _index_step(packages: list[str], index_url: str | None, fallback: bool) -> str:
    specs = _q(packages)
    if index_url is None:
        return f"pip install {specs}"
    step = f"pip install --retries 0 --timeout 15 --index-url {shlex.quote(index_url)} {specs}"
    return f"{step} || pip install {specs}" if fallback else step


def render_steps(plan: EnvPlan) -> tuple[list[Step], list[Step]]:
    """(steps before the source copy, steps after it) for one plan: its dependency section, then its own steps."""
    dep = plan.dependencies
    if dep is None:
        return ([Step(s, "extra") for s in plan.install_steps], [Step(s, "extra") for s in plan.source_steps])
    travel = f"export PIP_UPLOADED_PRIOR_TO={dep.resolve_as_of.date} && " if dep.resolve_as_of else ""
    isolation = "" if dep.build_isolation else " --no-build-isolation"
    before: list[Step] = []
    after: list[Step] = []

    def pip(region: list[Step], command: str, origin: str) -> None:
        region.append(Step(travel + command, origin))

    upgrade = _pip_step(dep)
    if upgrade:
        before.append(Step(upgrade, "pip"))
    for add in dep.additions:
        if add.stage == "before-indexes":
            pip(before, _addition(add.packages, add.keep_torch), "addition")
    for indexed in dep.indexes:
        pip(before, _index_step(indexed.packages, indexed.index_url, indexed.fallback_to_default), "index")
    edits = dep.edits
    if edits.strip_local_versions:
        before.append(Step(f"sed -i -E 's/[+](cu[0-9]+|cpu)//g' {_q(edits.strip_local_versions)}", "edits"))
    planned = _edit_sed(edits)
    if planned:
        (after if edits.with_source else before).append(Step(planned, "edits"))
    if edits.drop_index_lines:
        before.append(Step("sed -i -E '/^[[:space:]]*(-f|--find-links|--extra-index-url|--index-url)[[:space:]=]"
                           ".*download[.]pytorch[.]org/d' " + _q(edits.drop_index_lines), "edits"))
    files_after = [f.path for f in dep.requirement_files if f.with_source]
    files = files_after or [f.path for f in dep.requirement_files]
    for sed in _repair_seds(edits, files):
        (after if files_after else before).append(Step(sed, "edits"))
    for add in dep.additions:
        if add.stage == "before-dependencies":
            pip(before, _addition(add.packages, add.keep_torch), "addition")
    for req in dep.requirement_files:
        if not req.optional:
            pip(after if req.with_source else before, requirement_step(req.path, isolation, req.folder), "requirements")
    if dep.lock is not None and dep.packages:
        before.append(Step(f"printf '%s\\n' {_q(dep.lock.constraints)} > {LOCK_CONSTRAINTS}", "lock"))
        pip(before, f"pip install -c {LOCK_CONSTRAINTS} {_q(dep.packages)}{isolation}", "packages")
    elif dep.packages:
        pip(before, f"pip install {_q(dep.packages)}{isolation}", "packages")
    for req in dep.requirement_files:  # after the project's own list, each in its own step
        if req.optional:
            pip(after if req.with_source else before, requirement_step(req.path, isolation, req.folder),
                OPTIONAL_ORIGIN)
    if dep.test_packages:
        pip(before, f"pip install {_q(dep.test_packages)}", "tests")
    before += [Step(travel + s, "extra") for s in plan.install_steps]
    for add in dep.additions:
        if add.stage == "after":
            pip(before, _addition(add.packages, add.keep_torch), "addition")
    if dep.project != "none":
        project = "pip install --no-deps -e ." if dep.project == "editable" else "pip install --no-deps ."
        if dep.project_dir:
            project = f"cd {shlex.quote(dep.project_dir)} && {project}"
        pip(after, project + isolation, "project")
    after += [Step(travel + s, "extra") for s in plan.source_steps]
    if dep.build_env:
        prefix = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in dep.build_env.items()) + " && "
        before = [Step(prefix + s.command, s.origin) for s in before]
        after = [Step(prefix + s.command, s.origin) for s in after]
    return before, after


#: The origin of an optional requirement file's step (see RequirementFile.optional).
OPTIONAL_ORIGIN = "optional-requirements"


def requirement_step(path: str, isolation: str = "", folder: str = "") -> str:
    """pip -r, from the file's folder when it is installed where it lives (pip reads `-e .` and ./pkg lines
    relative to the directory it runs in)."""
    if folder:
        inside = path[len(folder) + 1:] if path.startswith(folder + "/") else path
        return f"cd {shlex.quote(folder)} && pip install -r {shlex.quote(inside)}{isolation}"
    return f"pip install -r {shlex.quote(path)}{isolation}"


def failing_optional_file(plan: EnvPlan, failing_step: str | None) -> str | None:
    """The optional requirement file whose step the build stopped at, if it stopped at one."""
    step = (failing_step or "").strip()
    dep = plan.dependencies
    if dep is None or not step.startswith("RUN "):
        return None
    command = step[4:].strip()
    before, after = render_steps(plan)
    for s in before + after:
        if s.origin == OPTIONAL_ORIGIN and s.command.strip() == command:
            return next((f.path for f in dep.requirement_files if f.optional and _runs(s.command, f)), None)
    return None


def _runs(command: str, req: RequirementFile) -> bool:
    """Whether a rendered step is this file's (its build env and time-travel exports before it, its
    --no-build-isolation after it)."""
    step = requirement_step(req.path, folder=req.folder)
    at = command.find(step)
    if at == -1 or (at and not command[:at].endswith("&& ")):
        return False
    rest = command[at + len(step):]
    return rest == "" or rest.startswith(" ")


def _addition(packages: list[str], keep_torch: bool) -> str:
    return f"pip install {_q(packages)}" + (f" {KEEP_TORCH}" if keep_torch else "")


def install_commands(plan: EnvPlan) -> list[str]:
    return [s.command for s in render_steps(plan)[0]]


def source_commands(plan: EnvPlan) -> list[str]:
    return [s.command for s in render_steps(plan)[1]]


def failing_origin(plan: EnvPlan, failing_step: str | None) -> str | None:
    """Which field wrote the RUN step the build stopped at (None: not one of the install layers)."""
    step = (failing_step or "").strip()
    if not step.startswith("RUN "):
        return None
    command = step[4:].strip()
    return next((s.origin for s in render_steps(plan)[0] if s.command.strip() == command), None)


def builds_the_same(old: EnvPlan, new: EnvPlan) -> bool:
    """Whether two plans render the same build: a field edit that changes no step (a rename of a name the plan
    installs nowhere) is no repair."""
    rest: dict[str, object] = {"dependencies": None, "install_steps": [], "source_steps": [], "notes": "",
                               "exclude_newer": None}
    return (install_commands(old), source_commands(old)) == (install_commands(new), source_commands(new)) and \
        old.model_copy(update=rest).fingerprint() == new.model_copy(update=rest).fingerprint()
