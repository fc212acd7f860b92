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

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select

from tenure.app.store import Goal, GoalHistory, Store
from tenure.app.tables import AppTables
from tenure.engine.calendar import floor_date, shift
from tenure.errors import TenureError

KINDS = ("metric", "number", "boolean", "tasks")
DISPLAYS = ("bar", "pie", "thermometer")
# A hand-kept goal's unit; a metric goal takes its metric's unit from the catalog.
UNITS = ("number", "currency", "percent")


@dataclass(frozen=True)
class Progress:
    value: float | None
    progress: float
    expected: float
    status: str


def check(goal: Goal) -> None:
    """Refuse a goal that cannot be measured, naming the field; a metric goal gets its metric's
    unit."""
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
        goal.unit = metric(goal.metric).unit  # the catalog's, whatever was sent
        if bool(goal.segment_by) != bool(goal.segment_value):
            raise TenureError("segment_by and segment_value go together")
    elif goal.segment_by or goal.segment_value:
        raise TenureError("only a metric goal has a segment (segment_by, segment_value)")
    elif goal.unit not in UNITS:
        raise TenureError(f"unit must be one of {', '.join(UNITS)} for a {goal.kind} goal")
    if goal.kind in ("metric", "number") and goal.target_value == goal.start_value:
        raise TenureError("target_value must differ from start_value")
    if goal.kind == "tasks" and not goal.tasks:
        raise TenureError("a task-list goal needs at least one task")
    for task in goal.tasks:
        title = task.get("title")
        if not isinstance(title, str) or not title.strip():
            raise TenureError("each task needs a `title`")
        if not isinstance(task.get("done", False), bool):
            raise TenureError("a task's `done` is true or false")


def current_value(goal: Goal, tables: AppTables, today: dt.date) -> float | None:
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


def progress(goal: Goal, tables: AppTables, today: dt.date | None = None) -> Progress:
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


# -- stored goals ----------------------------------------------------------------------------------
FIELDS = (
    "id",
    "name",
    "kind",
    "owner",
    "metric",
    "segment_by",
    "segment_value",
    "unit",
    "start_value",
    "target_value",
    "current_value",
    "done",
    "tasks",
    "start_date",
    "due_date",
    "display",
)


class GoalNotFound(TenureError):
    status = 404


def view(goal: Goal, tables: AppTables, today: dt.date | None = None) -> dict[str, Any]:
    """The goal's fields with value, progress, expected progress and status."""
    state = progress(goal, tables, today)
    fields = {c: getattr(goal, c) for c in FIELDS}
    return {
        **fields,
        "value": state.value,
        "progress": state.progress,
        "expected": state.expected,
        "status": state.status,
    }


def _history(goal_id: int, shown: dict[str, Any]) -> GoalHistory:
    return GoalHistory(
        goal_id=goal_id, value=shown["value"], progress=shown["progress"], status=shown["status"]
    )


def create(store: Store, tables: AppTables, fields: dict[str, Any]) -> dict[str, Any]:
    """Store a goal and its first history point. Its progress is measured before it is stored, so
    a segment the data lacks is refused and nothing is kept."""
    goal = Goal(**fields)
    for column in Goal.__table__.columns:  # the stored defaults, which apply only at insert
        default = column.default
        if getattr(goal, column.key) is None and default is not None and default.is_scalar:
            setattr(goal, column.key, default.arg)
    check(goal)
    shown = view(goal, tables)
    with store.session() as session:
        session.add(goal)
        session.flush()
        session.add(_history(goal.id, shown))
        shown["id"] = goal.id
    return shown


def get(store: Store, goal_id: int) -> Goal:
    with store.session() as session:
        goal = session.get(Goal, goal_id)
        if goal is None:
            raise GoalNotFound(f"no goal {goal_id}")
        session.expunge(goal)
        return goal


def update(
    store: Store, tables: AppTables, goal_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Apply the changes and record a history point; measured first, as in `create`."""
    goal = get(store, goal_id)
    for name, value in changes.items():
        setattr(goal, name, value)
    check(goal)
    shown = view(goal, tables)
    with store.session() as session:
        stored = session.get(Goal, goal_id)
        if stored is None:
            raise GoalNotFound(f"no goal {goal_id}")
        for name in FIELDS[1:]:
            setattr(stored, name, getattr(goal, name))
        session.add(_history(goal_id, shown))
    return shown


def delete(store: Store, goal_id: int) -> None:
    with store.session() as session:
        goal = session.get(Goal, goal_id)
        if goal is None:
            raise GoalNotFound(f"no goal {goal_id}")
        # History first, in one statement: the unit of work would otherwise delete the goal
        # first on PostgreSQL, whose ON DELETE CASCADE then leaves its row deletes nothing to do.
        session.execute(sql_delete(GoalHistory).where(GoalHistory.goal_id == goal_id))
        session.delete(goal)


def page(store: Store, limit: int = 100, offset: int = 0) -> tuple[list[Goal], int]:
    with store.session() as session:
        rows = list(session.scalars(select(Goal).order_by(Goal.id).offset(offset).limit(limit)))
        total = session.scalar(select(func.count()).select_from(Goal)) or 0
        session.expunge_all()
    return rows, int(total)


def history(store: Store, goal_id: int) -> list[dict[str, Any]]:
    get(store, goal_id)
    with store.session() as session:
        rows = session.scalars(
            select(GoalHistory).where(GoalHistory.goal_id == goal_id).order_by(GoalHistory.id)
        )
        return [
            {
                "recorded_at": r.recorded_at.isoformat(),
                "value": r.value,
                "progress": r.progress,
                "status": r.status,
            }
            for r in rows
        ]
