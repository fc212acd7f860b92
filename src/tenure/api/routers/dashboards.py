"""Each key's own dashboard: its widgets in order."""

from __future__ import annotations

from fastapi import APIRouter

from tenure.api.deps import StoreDep, Viewer
from tenure.api.schemas import DashboardIn, DashboardOut, Widget
from tenure.app.store import Dashboard, now

router = APIRouter()


@router.get("/api/dashboard", summary="The caller's own dashboard: its widgets in order")
def my_dashboard(key: Viewer, store: StoreDep) -> DashboardOut:
    with store.session() as session:
        board = session.get(Dashboard, key.id)
        widgets = board.widgets if board else []
    return DashboardOut(widgets=[Widget(**w) for w in widgets])


@router.put("/api/dashboard", summary="Save the caller's dashboard (add, remove, reorder widgets)")
def save_dashboard(key: Viewer, store: StoreDep, body: DashboardIn) -> DashboardOut:
    from tenure.metrics.catalog import metric

    for widget in body.widgets:
        metric(widget.metric)
    widgets = [w.model_dump() for w in body.widgets]
    with store.session() as session:
        board = session.get(Dashboard, key.id)
        if board is None:
            session.add(Dashboard(key_id=key.id, widgets=widgets))
        else:
            board.widgets = widgets
            board.updated_at = now()
    return DashboardOut(widgets=body.widgets)
