"""A readable unified diff between two plans (recorded with every gate decision)."""

from __future__ import annotations

import difflib

from ..contracts import EnvPlan


def plan_json(plan: EnvPlan | None) -> str:
    return plan.model_dump_json(indent=2) if plan is not None else ""


def plan_diff(before: EnvPlan | None, after: EnvPlan | None, a: str = "proposed", b: str = "approved") -> str:
    lines = difflib.unified_diff(
        plan_json(before).splitlines(keepends=True), plan_json(after).splitlines(keepends=True), fromfile=a, tofile=b
    )
    return "".join(lines)
