"""Goals of four kinds and their progress.

- metric: a catalog metric (optionally for one segment) moving from start_value to target_value;
  the current value is the metric's latest complete period.
- number: a number or currency amount updated by hand.
- boolean: done or not.
- tasks: a checklist; progress is the share of tasks done.

Progress is the distance covered from start to target (0-100, either direction). Status compares
it with the time elapsed between start_date and due_date: on_track within 10 points of the
schedule, at_risk within 25, off_track beyond; done at 100; overdue past the due date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tenure.app.store import Goal
from tenure.engine.calendar import floor_date, shift
from tenure.errors import TenureError

KINDS = ("metric", "number", "boolean", "tasks")
DISPLAYS = ("bar", "pie", "thermometer")


@dataclass(frozen=True)
class Progress:
    value: float | None
    progress: float
    expected: float
    status: str


def check(goal: Goal) -> None:
    """Refuse a goal that cannot be measured, naming the field."""
    if goal.kind not in KINDS:
        raise TenureError(f"kind must be one of {', '.join(KINDS)}, not {goal.kind!r}")
    if goal.display not in DISPLAYS:
        raise TenureError(f"display must be one of {', '.join(DISPLAYS)}")
    if goal.due_date <= goal.start_date:
        raise TenureError("due_date must be after start_date")
    if goal.kind == "metric":
        from tenure.metrics.catalog import metric

        if not goal.metric:
            raise TenureError("a metric goal needs `metric` (see GET /api/metrics/catalog)")
        metric(goal.metric)
        if bool(goal.segment_by) != bool(goal.segment_value):
            raise TenureError("segment_by and segment_value go together")
    if goal.kind in ("metric", "number") and goal.target_value == goal.start_value:
        raise TenureError("target_value must differ from start_value")
    if goal.kind == "tasks" and not goal.tasks:
        raise TenureError("a task-list goal needs at least one task")


def current_value(goal: Goal, tables: Any, today: dt.date) -> float | None:
    if goal.kind == "metric":
        assert goal.metric is not None
        last = shift(floor_date(today, "month"), "month", -1)
        by = [goal.segment_by] if goal.segment_by else []
        frame = tables.metrics([goal.metric], start=last, end=last, by=by)
        if goal.segment_by:
            frame = frame[frame[goal.segment_by].astype(str) == str(goal.segment_value)]
        values = frame["value"].dropna()
        return float(values.iloc[-1]) if len(values) else None
    if goal.kind == "number":
        return goal.current_value
    if goal.kind == "boolean":
        return 1.0 if goal.done else 0.0
    done = sum(1 for task in goal.tasks if task.get("done"))
    return float(done)


def progress(goal: Goal, tables: Any, today: dt.date | None = None) -> Progress:
    day = today or dt.date.today()
    value = current_value(goal, tables, day)
    if goal.kind == "tasks":
        share = (value or 0) / len(goal.tasks) if goal.tasks else 0.0
    elif goal.kind == "boolean":
        share = value or 0.0
    elif value is None:
        share = 0.0
    else:
        share = (value - goal.start_value) / (goal.target_value - goal.start_value)
    covered = max(0.0, min(1.0, share)) * 100
    span = (goal.due_date - goal.start_date).days
    expected = max(0.0, min(1.0, (day - goal.start_date).days / span)) * 100
    if covered >= 100:
        status = "done"
    elif day > goal.due_date:
        status = "overdue"
    elif covered >= expected - 10:
        status = "on_track"
    elif covered >= expected - 25:
        status = "at_risk"
    else:
        status = "off_track"
    return Progress(value, covered, expected, status)
