"""Goals: kept in the app store; their progress reads metrics from the analytical store."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query

from tenure.api.deps import CachedReads, Editor, Live, StoreDep, Viewer, audit
from tenure.api.problems import EXPENSIVE, Problem, errors
from tenure.api.routers.metrics import PageOffset
from tenure.api.schemas import GoalIn, GoalOut, GoalPage, GoalPatch, GoalRecord, Id
from tenure.app import goals as goal_rules
from tenure.app.store import Goal
from tenure.workspace import Workspace

router = APIRouter()


@router.get("/api/goals", summary="Goals with progress and status", responses=errors(*EXPENSIVE))
def list_goals(
    read: CachedReads,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: PageOffset = 0,
) -> GoalPage:
    rows, total = store.cached(
        ("goals", limit, offset), lambda: goal_rules.page(store, limit, offset)
    )
    today = dt.date.today()
    # Each goal's view is cached by all of its fields, so an edit is seen at once.
    items = [GoalOut(**read(("goal", _fields(g), today), _viewer(g, today))) for g in rows]
    currency = read(("reporting_currency",), _currency)
    return GoalPage(
        items=items, total=total, limit=limit, offset=offset, reporting_currency=currency
    )


def _currency(ws: Workspace) -> str:
    return ws.reporting_currency


def _viewer(goal: Goal, today: dt.date) -> Callable[[Workspace], dict[str, Any]]:
    return lambda ws: goal_rules.view(goal, ws, today)


def _fields(goal: Goal) -> str:
    return json.dumps({c: getattr(goal, c) for c in goal_rules.FIELDS}, default=str, sort_keys=True)


@router.post("/api/goals", status_code=201, summary="Create a goal")
def create_goal(key: Editor, live: Live, store: StoreDep, body: GoalIn) -> GoalOut:
    with live.reader() as ws:  # the goal goes to the app store; the workspace is only read
        shown = goal_rules.create(store, ws, body.model_dump())
    audit(store, key, "goal.create", f"{shown['id']}: {shown['name']}")
    return GoalOut(**shown)


@router.get(
    "/api/goals/{goal_id}", summary="One goal with progress and status", responses=errors(404)
)
def get_goal(_: Viewer, live: Live, store: StoreDep, goal_id: Id) -> GoalOut:
    goal = goal_rules.get(store, goal_id)
    with live.reader() as ws:
        return GoalOut(**goal_rules.view(goal, ws))


@router.patch(
    "/api/goals/{goal_id}",
    summary="Update a goal (any field: metric, segment, a hand-kept value, tasks, target)",
    responses=errors(404),
)
def patch_goal(key: Editor, live: Live, store: StoreDep, goal_id: Id, body: GoalPatch) -> GoalOut:
    changes = body.model_dump(exclude_unset=True)
    nullable = ("owner", "current_value", "metric", "segment_by", "segment_value")
    required = [k for k, v in changes.items() if v is None and k not in nullable]
    if required:
        raise Problem(422, "Invalid request", f"{', '.join(required)} cannot be null")
    with live.reader() as ws:
        shown = goal_rules.update(store, ws, goal_id, changes)
    audit(store, key, "goal.update", f"{goal_id}: {sorted(changes)}")
    return GoalOut(**shown)


@router.delete(
    "/api/goals/{goal_id}", status_code=204, summary="Delete a goal", responses=errors(404)
)
def delete_goal(key: Editor, store: StoreDep, goal_id: Id) -> None:
    goal_rules.delete(store, goal_id)
    audit(store, key, "goal.delete", str(goal_id))


@router.get(
    "/api/goals/{goal_id}/history", summary="Progress recorded over time", responses=errors(404)
)
def goal_history(_: Viewer, store: StoreDep, goal_id: Id) -> list[GoalRecord]:
    found = store.cached(("goal history", goal_id), lambda: goal_rules.history(store, goal_id))
    return [GoalRecord(**h) for h in found]
