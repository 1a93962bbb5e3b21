"""A unified diff, coloured: the same renderable for the run screen, the gate and the runs browser."""

from __future__ import annotations

from rich.text import Text

from ...engine.contracts import EnvPlan
from ...engine.gate.plan_diff import plan_diff


def diff_text(diff: str, empty: str = "no differences") -> Text:
    """Colour a unified diff line by line (+ green, - red, @@ cyan)."""
    if not diff.strip():
        return Text(empty, style="italic")
    text = Text()
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            style = "bold"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        else:
            style = ""
        text.append(line + "\n", style=style)
    return text


def plan_diff_text(before: EnvPlan | None, after: EnvPlan | None, a: str, b: str) -> Text:
    if before is None:
        return Text(f"no {a} to compare with", style="italic")
    return diff_text(plan_diff(before, after, a=a, b=b), empty=f"{b} is the same as {a}")
