"""Goals: kept in the app store; their progress reads metrics from the analytical store."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from tenure.api.deps import CachedReads, Editor, Live, StoreDep, Viewer, audit
from tenure.api.problems import EXPENSIVE, Problem, errors
from tenure.api.routers.metrics import PageOffset
from tenure.api.schemas import GoalIn, GoalOut, GoalPage, GoalPatch, GoalRecord, Id
from tenure.app import goals as goal_rules
from tenure.app.store import Goal
from tenure.workspace import Workspace

router = APIRouter()


@router.get(
    "/api/goals",
    summary="Goals with progress and status",
    response_model=GoalPage,
    responses=errors(*EXPENSIVE),
)
def list_goals(
    read: CachedReads,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: PageOffset = 0,
) -> Response:
    """Cached while the data the goals' metrics read and the app store are unchanged (an edit is
    seen at once), and for the day (a goal's expected progress moves with it)."""
    today = dt.date.today()

    def build(ws: Workspace) -> GoalPage:
        rows, total = goal_rules.page(store, limit, offset)
        return GoalPage(
            items=[GoalOut(**_view(ws, goal, today)) for goal in rows],
            total=total,
            limit=limit,
            offset=offset,
            reporting_currency=ws.reporting_currency,
        )

    return read.respond(build, GoalPage, store_state=(store.state(), today))


def _view(ws: Workspace, goal: Goal, today: dt.date) -> dict[str, Any]:
    """A goal's progress, kept for the data version by all of its fields: the list is read
    again whenever the app store changes (every few seconds while the server runs), its goals'
    metrics only when the data or the goal did."""
    fields = json.dumps({c: getattr(goal, c) for c in goal_rules.FIELDS}, default=str)
    return ws.remembered(("goal", fields, today), lambda: goal_rules.view(goal, ws, today))


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
    "/api/goals/{goal_id}/history",
    summary="Progress recorded over time",
    response_model=list[GoalRecord],
    responses=errors(404, *EXPENSIVE),
)
def goal_history(read: CachedReads, store: StoreDep, goal_id: Id) -> Response:
    """Cached while the app store is unchanged."""

    def build(_: Workspace) -> list[GoalRecord]:
        return [GoalRecord(**h) for h in goal_rules.history(store, goal_id)]

    return read.respond(build, list[GoalRecord], store_state=store.state())
