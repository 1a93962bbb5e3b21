"""Plan transformations used by the known-failure rules. Each returns a complete new plan, changed by its fields
(the dependency section's, the image's, the env's): none reads or rewrites the text of a shell step."""

from __future__ import annotations

import contextlib
import re
import shlex
from datetime import timedelta

from packaging.utils import canonicalize_name
from packaging.version import Version

from ...contracts import EnvPlan
from ...contracts.dependencies import DependencySection, FileEdits, GitToPypi, PackageStep, Stage
from ...plan.python_version import image_python, local_python_versions, nearest_available, pin_ceiling
from ...plan.time_travel import commit_age, era_python, section_of, with_time_travel
from ...render.install import failing_origin
from ..base import DiagnosisContext


class Stop(Exception):
    """A rule that recognised the failure but knows no environment change that fixes it."""


class Unavailable(Stop):
    """Nothing anywhere provides what the failure needs: the reason is final, and no Python is to blame."""


class NotApplicable(Exception):
    """The signature matched, but a closer look shows the rule is not about this failure: try the next rule."""


def running_python(plan: EnvPlan) -> str:
    """The Python the image really has. plan.python_version is the one wanted, which differs when no image for it
    was available (then the planner took the nearest one)."""
    return image_python(plan.base_image, plan.python_version) or "3.11"


def python_gap(plan: EnvPlan, ctx: DiagnosisContext) -> str | None:
    """Why the pins cannot install as written, when the planner had to use a newer Python than they need."""
    wanted, running = plan.python_version, running_python(plan)
    try:
        if not wanted or Version(wanted) >= Version(running):
            return None
    except ValueError:
        return None
    limits = sorted(((d, c) for d in ctx.facts.dependencies if (c := pin_ceiling(d)) and Version(c) < Version(running)),
                    key=lambda dc: Version(dc[1]))
    which = ", ".join(f"{d.raw.strip()} ({d.source}) needs Python <= {c}" for d, c in limits[:3]) or \
        f"the pins need Python {wanted}"
    return (f"{which}, and only {plan.base_image} was available here: with a "
            f"python:{wanted}-slim image (docker pull python:{wanted}-slim, or PAPER2RUN_BASE_IMAGE_MAP) they could "
            "install as written")


def add_system(plan: EnvPlan, *packages: str) -> EnvPlan:
    pkgs = list(plan.system_packages) + [p for p in packages if p not in plan.system_packages]
    return plan.model_copy(update={"system_packages": pkgs})


def _with(plan: EnvPlan, section: DependencySection, note: str = "") -> EnvPlan:
    update: dict[str, object] = {"dependencies": section}
    if note:
        update["notes"] = f"{plan.notes}\n- repair: {note}".strip()
    return plan.model_copy(update=update)


def failing_stage(plan: EnvPlan, ctx: DiagnosisContext) -> Stage:
    """Where a build-time need goes: before the layer the build stopped at (the indexed packages or the other
    dependencies), or after everything when the build did not stop at an install layer."""
    origin = failing_origin(plan, ctx.attempt.failing_step) if ctx.attempt.outcome == "build-failed" else None
    if origin is None:
        return "after"
    return "before-indexes" if origin in ("pip", "index") else "before-dependencies"


def add_packages(plan: EnvPlan, ctx: DiagnosisContext, packages: list[str], *, before_failing: bool = False,
                 keep_torch: bool = False) -> EnvPlan:
    """Install packages in a step of their own: before the layer the build stopped at when this is a build-time
    need, else after everything the plan installs."""
    step = PackageStep(packages=packages, stage=failing_stage(plan, ctx) if before_failing else "after",
                       keep_torch=keep_torch)
    section = section_of(plan)
    if step in section.additions:
        return plan
    section.additions.append(step)
    return _with(plan, section)


def with_pin(plan: EnvPlan, ctx: DiagnosisContext, requirement: str) -> EnvPlan:
    """Install an upper-bounded version after the dependencies (a constraint the manifests lack)."""
    return add_packages(plan, ctx, [requirement])


def with_pip(plan: EnvPlan, requirement: str) -> EnvPlan:
    section = section_of(plan)
    section.pip = requirement
    return _with(plan, section)


def without_build_isolation(plan: EnvPlan) -> EnvPlan:
    """The dependency steps build with what is installed (what a repair put there) instead of an isolated env."""
    section = section_of(plan)
    section.build_isolation = False
    return _with(plan, section)


def with_build_env(plan: EnvPlan, **values: str) -> EnvPlan:
    """Variables every install step runs with (ENV is set only after them, for the smoke run)."""
    section = section_of(plan)
    section.build_env = {**section.build_env, **values}
    return _with(plan, section)


def without_lock(plan: EnvPlan, note: str) -> EnvPlan:
    section = section_of(plan)
    section.lock = None
    return _with(plan, section, note)


def without_project_install(plan: EnvPlan) -> EnvPlan:
    section = section_of(plan)
    section.project = "none"
    return _with(plan, section)


def _edits_for_files(section: DependencySection) -> FileEdits:
    """The section's file edits, aimed at its requirement files when no planner edit named them yet."""
    edits = section.edits
    if not edits.files and section.requirement_files:
        edits = edits.model_copy(update={"files": [f.path for f in section.requirement_files],
                                         "with_source": any(f.with_source for f in section.requirement_files)})
    return edits


def rename_requirement(plan: EnvPlan, old: str, new: str) -> EnvPlan:
    """A distribution published under another name: in the section's packages and in its requirement files."""
    section = section_of(plan)
    renamed = [new + p[len(old):] if requirement_name(p) == canonicalize_name(old) else p for p in section.packages]
    if renamed == section.packages and not section.requirement_files:
        return plan  # named nowhere the plan can change
    section.packages = renamed
    edits = _edits_for_files(section)
    section.edits = edits.model_copy(update={"rename": {**edits.rename, old: new}})
    return _with(plan, section)


def swap_git_for_pypi(plan: EnvPlan, swaps: list[GitToPypi], raw: dict[str, str], note: str) -> EnvPlan:
    """Git requirements replaced by PyPI releases: in the requirement files, and in the packages (raw: the
    requirement as the package list has it -> the PyPI name)."""
    section = section_of(plan)
    section.packages = [raw.get(p, p) for p in section.packages]
    section.edits = section.edits.model_copy(update={"git_to_pypi": [*section.edits.git_to_pypi, *swaps]})
    return _with(plan, section, note)


def relax_pin(plan: EnvPlan, name: str, note: str) -> EnvPlan:
    """Drop the version pin of one distribution: in the section's requirements and in its requirement files. Raises
    Stop when that was done already (or the plan pins it nowhere)."""
    section = section_of(plan)
    key = canonicalize_name(name)
    changed = False

    def unpinned(reqs: list[str]) -> list[str]:
        nonlocal changed
        out = []
        for r in reqs:
            if requirement_name(r) == key and (bare := re.match(r"^\s*[A-Za-z0-9_.-]+(\[[^\]]*\])?", r)):
                changed |= bare.group(0) != r.strip()
                r = bare.group(0).strip()
            out.append(r)
        return out

    section.packages = unpinned(section.packages)
    section.indexes = [i.model_copy(update={"packages": unpinned(i.packages)}) for i in section.indexes]
    section.additions = [a.model_copy(update={"packages": unpinned(a.packages)}) for a in section.additions]
    files_may_pin = bool(section.requirement_files) or plan.dependencies is None
    if files_may_pin and name not in section.edits.unpin:
        section.edits = section.edits.model_copy(update={"unpin": [*section.edits.unpin, name]})
        changed = True
    if not changed:
        raise Stop(f"no installable release of {name} matches; relaxing its pin did not change the plan")
    return _with(plan, section, note)


def requirement_name(requirement: str) -> str:
    """The canonical distribution name a requirement string starts with ('' when it names none)."""
    m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)", requirement)
    return canonicalize_name(m.group(1)) if m else ""


def installs(plan: EnvPlan, ctx: DiagnosisContext) -> set[str]:
    """The distributions the plan installs, by canonical name: those its section names and those declared in the
    requirement files it installs (read by the analysis)."""
    if plan.dependencies is None:
        return set()
    section = plan.dependencies
    names = {requirement_name(r) for r in section.installs()}
    files = {f.path for f in section.requirement_files}
    names |= {canonicalize_name(d.name) for d in ctx.facts.dependencies if d.source in files}
    return names - {""}


def set_env(plan: EnvPlan, **values: str) -> EnvPlan:
    return plan.model_copy(update={"env": {**plan.env, **values}})


def move_python(plan: EnvPlan, ctx: DiagnosisContext, wanted: list[str], why: str) -> EnvPlan:
    """Switch the base image to the first wanted Python that exists (configured map, local images, or any when the
    registry is reachable, i.e. no local list was given)."""
    local = local_python_versions(ctx.local_images)
    current = running_python(plan)
    for version in wanted:
        if version == current:
            continue
        if version in ctx.base_image_map:
            image = ctx.base_image_map[version]
        elif not ctx.local_images or version in local:
            image = f"python:{version}-slim"
        elif ctx.pull_image is not None and ctx.pull_image(f"python:{version}-slim"):
            ctx.local_images.append(f"python:{version}-slim")
            image = f"python:{version}-slim"
            why = f"{why}; python:{version}-slim pulled"
        else:
            continue
        return _python(plan, image, version, f"{plan.notes}\n- repair: Python {version} ({why})".strip())
    near = nearest_available(wanted[0], [v for v in local if v != current]) if wanted and local else None
    if near and near != current:
        return _python(plan, f"python:{near}-slim", near, f"{plan.notes}\n- repair: Python {near}, the nearest "
                       f"available to {wanted[0]} ({why})".strip())
    raise Stop(f"{why}; no base image with Python {' or '.join(wanted)} is available here "
               "(map one with PAPER2RUN_BASE_IMAGE_MAP)")


def _python(plan: EnvPlan, image: str, version: str, notes: str) -> EnvPlan:
    update: dict[str, object] = {"base_image": image, "python_version": version, "notes": notes}
    if plan.dependencies is not None:
        update["dependencies"] = plan.dependencies.model_copy(update={"python": version})
    return plan.model_copy(update=update)


def with_terminal(plan: EnvPlan, why: str) -> EnvPlan:
    """Run the smoke command under `script`, which gives it a pseudo-terminal (util-linux, in every Debian image)
    and passes its exit code on. The ladder's rung for that command is wrapped too, so it still counts."""
    if plan.smoke_command.startswith("script -qec "):
        raise Stop(why)
    wrapped = f"script -qec {shlex.quote(plan.smoke_command)} /dev/null"
    ladder = [r.model_copy(update={"command": wrapped}) if r.command == plan.smoke_command else r
              for r in plan.smoke_ladder]
    return plan.model_copy(update={"smoke_command": wrapped, "smoke_ladder": ladder,
                                   "notes": f"{plan.notes}\n- repair: the smoke command runs with a pseudo-terminal "
                                            f"({why})".strip()})


def lower_smoke(plan: EnvPlan, why: str) -> EnvPlan:
    """Fall back to the next lower rung of the smoke ladder (the report says how green the result is)."""
    rungs = [r for r in plan.smoke_ladder]
    index = next((i for i, r in enumerate(rungs) if r.command == plan.smoke_command), len(rungs))
    if index == 0 or not rungs:
        raise Stop(why)
    lower = rungs[index - 1] if index <= len(rungs) else rungs[-1]
    return plan.model_copy(update={"smoke_command": lower.command,
                                   "notes": f"{plan.notes}\n- repair: smoke lowered to the {lower.rung} rung ({why})".strip()})


def time_travel(plan: EnvPlan, ctx: DiagnosisContext) -> EnvPlan:
    """Resolve dependencies as of the commit date (pip --uploaded-prior-to), on the Python of that era."""
    when = ctx.facts.commit_date
    if when is None:
        raise Stop("dependencies could not be resolved, and the commit date is unknown, so they cannot be resolved "
                   "as of it")
    if commit_age(when) < timedelta(days=90):
        raise Stop(f"the commit is recent ({when.date()}), so resolving the dependencies as of its date would "
                   "change nothing")
    new = with_time_travel(plan, when, "repair", f"repair: dependencies resolved as of the commit date "
                                       f"{when.strftime('%Y-%m-%dT%H:%M:%SZ')}")
    era = era_python(when)
    current = running_python(plan)
    if era and Version(era) < Version(current):
        with contextlib.suppress(Stop):
            moved = move_python(new, ctx, [era], f"packages of {when.year} were built for Python {era}")
            # The nearest local image may be newer than the current one: moving up would defeat the point.
            if Version(running_python(moved)) < Version(current):
                new = moved
    return new
