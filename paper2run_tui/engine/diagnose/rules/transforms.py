"""Plan transformations used by the known-failure rules. Each returns a complete new plan."""

from __future__ import annotations

import contextlib
import shlex
from datetime import timedelta

from packaging.version import Version

from ...contracts import EnvPlan
from ...plan.python_version import image_python, local_python_versions, nearest_available, pin_ceiling
from ...plan.time_travel import commit_age, era_python, with_time_travel
from ..base import DiagnosisContext


class Stop(Exception):
    """A rule that recognised the failure but knows no environment change that fixes it."""


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


def _failing_index(plan: EnvPlan, ctx: DiagnosisContext) -> int | None:
    step = (ctx.attempt.failing_step or "").strip()
    if ctx.attempt.outcome != "build-failed" or not step.startswith("RUN "):
        return None
    cmd = step[4:].strip()
    for i, s in enumerate(plan.install_steps):
        if s.strip() == cmd:
            return i
    return None


def add_install(plan: EnvPlan, ctx: DiagnosisContext, command: str, *, before_failing: bool = False) -> EnvPlan:
    """Add an install step: before the failing build step (a build-time need) or after the others."""
    steps = list(plan.install_steps)
    if command in steps:
        return plan
    index = _failing_index(plan, ctx) if before_failing else None
    if index is None:
        steps.append(command)
    else:
        steps.insert(index, command)
    return plan.model_copy(update={"install_steps": steps})


def pin(plan: EnvPlan, ctx: DiagnosisContext, requirement: str) -> EnvPlan:
    """Install an upper-bounded version after the dependencies (a constraint the manifests lack)."""
    return add_install(plan, ctx, f"pip install {shlex.quote(requirement)}")


def set_env(plan: EnvPlan, **values: str) -> EnvPlan:
    return plan.model_copy(update={"env": {**plan.env, **values}})


def prefix_steps(plan: EnvPlan, prefix: str) -> EnvPlan:
    steps = [s if s.startswith(prefix) else f"{prefix} {s}" for s in plan.install_steps]
    source = [s if s.startswith(prefix) else f"{prefix} {s}" for s in plan.source_steps]
    return plan.model_copy(update={"install_steps": steps, "source_steps": source})


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
        else:
            continue
        return plan.model_copy(update={"base_image": image, "python_version": version,
                                       "notes": f"{plan.notes}\n- repair: Python {version} ({why})".strip()})
    near = nearest_available(wanted[0], [v for v in local if v != current]) if wanted and local else None
    if near and near != current:
        return plan.model_copy(update={"base_image": f"python:{near}-slim", "python_version": near,
                                       "notes": f"{plan.notes}\n- repair: Python {near}, the nearest available to "
                                                f"{wanted[0]} ({why})".strip()})
    raise Stop(f"{why}; no base image with Python {' or '.join(wanted)} is available here "
               "(map one with PAPER2RUN_BASE_IMAGE_MAP)")


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
    new = with_time_travel(plan, when, f"repair: dependencies resolved as of the commit date "
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
