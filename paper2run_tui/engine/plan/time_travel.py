"""Time travel: resolve dependencies as they were on the commit date (pip's --uploaded-prior-to, as the
PIP_UPLOADED_PRIOR_TO variable so that isolated build environments inherit it), on a Python of that time.

Used by the planner for old repositories whose dependencies carry no versions, and by the repairs. A field of the
dependency section (resolve_as_of, with who chose it); the renderer writes the variable and the pip it needs."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ..contracts import EnvPlan
from ..contracts.dependencies import DependencySection, ResolveAsOf, ResolvedBy

#: First release of each Python (python.org).
PYTHON_RELEASES = {"3.6": date(2016, 12, 23), "3.7": date(2018, 6, 27), "3.8": date(2019, 10, 14),
                   "3.9": date(2020, 10, 5), "3.10": date(2021, 10, 4), "3.11": date(2022, 10, 24),
                   "3.12": date(2023, 10, 2), "3.13": date(2024, 10, 7)}
#: How long the scientific stack took to ship wheels for a new Python (torch: 2 to 5 months).
WHEEL_LAG = timedelta(days=183)
PLANNER_MARK = "time travel (planner)"  # the planner's note on its choice (the choice itself: resolve_as_of.by)


def era_python(when: datetime | date) -> str | None:
    """The newest Python that had been out for half a year on that date: the one its packages had wheels for."""
    day = when.date() if isinstance(when, datetime) else when
    fitting = [v for v, released in PYTHON_RELEASES.items() if released + WHEEL_LAG <= day]
    return max(fitting, key=lambda v: int(v.split(".")[1]), default=None)


def commit_age(when: datetime) -> timedelta:
    return datetime.now(UTC) - (when if when.tzinfo else when.replace(tzinfo=UTC))


def section_of(plan: EnvPlan) -> DependencySection:
    """The plan's dependency section, an empty one for a plan whose steps say it all (an LLM's, a person's)."""
    return plan.dependencies.model_copy(deep=True) if plan.dependencies is not None else DependencySection()


def with_time_travel(plan: EnvPlan, when: datetime, by: ResolvedBy, note: str) -> EnvPlan:
    """The same plan resolving every dependency as of `when` (the Python is the caller's choice)."""
    section = section_of(plan)
    section.resolve_as_of = ResolveAsOf(date=when.strftime("%Y-%m-%dT%H:%M:%SZ"), by=by)
    return plan.model_copy(update={"dependencies": section, "exclude_newer": when.date().isoformat(),
                                   "notes": f"{plan.notes}\n- {note}".strip()})


def without_time_travel(plan: EnvPlan, note: str) -> EnvPlan:
    """Undo with_time_travel: today's releases again."""
    section = section_of(plan)
    section.resolve_as_of = None
    return plan.model_copy(update={"dependencies": section, "exclude_newer": None,
                                   "notes": f"{plan.notes}\n- {note}".strip()})


def travelled_by(plan: EnvPlan) -> ResolvedBy | None:
    """Who chose to resolve as of a date: the planner, a repair, or nobody."""
    chosen = plan.dependencies.resolve_as_of if plan.dependencies is not None else None
    return chosen.by if chosen is not None else None
