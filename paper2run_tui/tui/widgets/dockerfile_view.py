"""What the gate shows beside the plan's JSON: the rendered Dockerfile, its diff to the previous attempt's, and
the plan policy's findings. Rendering and policing are the engine's own functions, called as the engine does."""

from __future__ import annotations

import difflib

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text

from ...engine.contracts import DockerfileInputs, EnvPlan, GateRequest, PolicyContext, PolicyVerdict
from ...engine.policy import check_plan
from ...engine.render.dockerfile import UnsafeValue, render_from_inputs
from .diff_view import diff_text


def preview(plan: EnvPlan, request: GateRequest, source: str) -> tuple[str, PolicyVerdict]:
    """The Dockerfile the plan renders (or why it cannot be) and the policy's verdict, with the run's inputs."""
    policy = request.policy or PolicyContext(person_reviews=True)
    verdict = check_plan(plan, policy, source=source)
    inputs = request.render_inputs or DockerfileInputs(attempt=request.attempt)
    try:
        dockerfile = render_from_inputs(plan, inputs)
    except UnsafeValue as err:
        dockerfile = f"# not rendered: {err}\n"
    return dockerfile, verdict


def dockerfile_text(dockerfile: str, stale: str = "") -> RenderableType:
    if not dockerfile:
        return Text("nothing rendered yet", style="italic")
    syntax = Syntax(dockerfile, "docker", theme="ansi_dark", background_color="default", word_wrap=True)
    if not stale:
        return syntax
    from rich.console import Group

    return Group(Text(f"⚠ {stale}", style="bold yellow"), syntax)


def dockerfile_diff_text(previous: str, current: str, attempt: int) -> Text:
    if not previous:
        return Text("no previous attempt's Dockerfile to compare with", style="italic")
    lines = difflib.unified_diff(previous.splitlines(keepends=True), current.splitlines(keepends=True),
                                 fromfile=f"attempt {attempt - 1}", tofile=f"attempt {attempt} (proposed)")
    return diff_text("".join(lines), empty="the same Dockerfile as the previous attempt")


def policy_text(verdict: PolicyVerdict) -> Text:
    """One line per finding, refusals first: what the person must fix, then what they must look at."""
    if not verdict.findings:
        return Text("✓ plan policy: nothing to refuse or flag", style="green")
    head = ("✗ plan policy refuses this plan (it cannot be approved):" if verdict.refused
            else "⚑ plan policy flags this plan: look before you approve")
    text = Text(head + "\n", style="bold red" if verdict.refused else "bold yellow")
    ordered = sorted(verdict.findings, key=lambda f: f.severity != "refuse")
    for f in ordered:
        mark, style = ("✗", "red") if f.severity == "refuse" else ("⚑", "yellow")
        text.append(f"{mark} {f.field}: ", style=f"bold {style}")
        text.append(f.reason + "\n")
    text.rstrip()
    return text
