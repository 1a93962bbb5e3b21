"""Time travel: resolve dependencies as they were on the commit date (pip's --uploaded-prior-to, as the
PIP_UPLOADED_PRIOR_TO variable so that isolated build environments inherit it), on a Python of that time.

Used by the planner for old repositories whose dependencies carry no versions, and by the repairs."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from ..contracts import EnvPlan

#: First release of each Python (python.org).
PYTHON_RELEASES = {"3.6": date(2016, 12, 23), "3.7": date(2018, 6, 27), "3.8": date(2019, 10, 14),
                   "3.9": date(2020, 10, 5), "3.10": date(2021, 10, 4), "3.11": date(2022, 10, 24),
                   "3.12": date(2023, 10, 2), "3.13": date(2024, 10, 7)}
#: How long the scientific stack took to ship wheels for a new Python (torch: 2 to 5 months).
WHEEL_LAG = timedelta(days=183)
#: The pip that knows --uploaded-prior-to.
PIP_FOR_TIME_TRAVEL = "python -m pip install --upgrade 'pip>=25.3'"
PLANNER_MARK = "time travel (planner)"


def era_python(when: datetime | date) -> str | None:
    """The newest Python that had been out for half a year on that date: the one its packages had wheels for."""
    day = when.date() if isinstance(when, datetime) else when
    fitting = [v for v, released in PYTHON_RELEASES.items() if released + WHEEL_LAG <= day]
    return max(fitting, key=lambda v: int(v.split(".")[1]), default=None)


def commit_age(when: datetime) -> timedelta:
    return datetime.now(UTC) - (when if when.tzinfo else when.replace(tzinfo=UTC))


def prefix(when: datetime) -> str:
    return f"export PIP_UPLOADED_PRIOR_TO={when.strftime('%Y-%m-%dT%H:%M:%SZ')} &&"


def with_time_travel(plan: EnvPlan, when: datetime, note: str) -> EnvPlan:
    """The same plan with every pip step resolving as of `when` (the Python is the caller's choice)."""
    pre = prefix(when)
    steps = [s for s in plan.install_steps if not s.startswith("python -m pip install --upgrade")]
    steps = [s if s.startswith(pre) or not re.search(r"\bpip\b", s) else f"{pre} {s}" for s in steps]
    source = [s if s.startswith(pre) or not re.search(r"\bpip\b", s) else f"{pre} {s}" for s in plan.source_steps]
    steps.insert(0, PIP_FOR_TIME_TRAVEL)
    return plan.model_copy(update={"install_steps": steps, "source_steps": source, "exclude_newer": when.date().isoformat(),
                                   "notes": f"{plan.notes}\n- {note}".strip()})


def without_time_travel(plan: EnvPlan, note: str) -> EnvPlan:
    """Undo with_time_travel: today's releases again."""
    strip = re.compile(r"^export PIP_UPLOADED_PRIOR_TO=\S+ && ")
    steps = [strip.sub("", s) for s in plan.install_steps if s != PIP_FOR_TIME_TRAVEL]
    steps.insert(0, "python -m pip install --upgrade pip setuptools wheel")
    source = [strip.sub("", s) for s in plan.source_steps]
    return plan.model_copy(update={"install_steps": steps, "source_steps": source, "exclude_newer": None,
                                   "notes": f"{plan.notes}\n- {note}".strip()})
