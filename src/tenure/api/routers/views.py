"""Saved views: each key's named combinations of search, filters and sort on a page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlalchemy import select

from tenure.api.deps import StoreDep, Viewer
from tenure.api.problems import PROTECTED, Problem, errors
from tenure.api.schemas import SavedViewIn, SavedViewOut
from tenure.app.store import SavedView, now

router = APIRouter()
MAX_VIEWS = 100  # per key and page


def _out(view: SavedView) -> SavedViewOut:
    return SavedViewOut(id=view.id, page=view.page, name=view.name, params=dict(view.params))


@router.get(
    "/api/views", summary="The caller's saved views of a page", responses=errors(*PROTECTED)
)
def list_views(
    key: Viewer, store: StoreDep, page: Annotated[str, Query(pattern="^(accounts|voice)$")]
) -> list[SavedViewOut]:
    with store.session() as session:
        views = session.scalars(
            select(SavedView)
            .where(SavedView.key_id == key.id, SavedView.page == page)
            .order_by(SavedView.name)
        )
        return [_out(v) for v in views]


@router.put(
    "/api/views",
    summary="Save a view (a view of the same page and name is replaced)",
    responses=errors(*PROTECTED, 409),
)
def save_view(key: Viewer, store: StoreDep, body: SavedViewIn) -> SavedViewOut:
    with store.session() as session:
        mine = select(SavedView).where(SavedView.key_id == key.id, SavedView.page == body.page)
        found = session.scalars(mine.where(SavedView.name == body.name)).first()
        if found is None:
            if len(session.scalars(mine).all()) >= MAX_VIEWS:
                raise Problem(409, "Conflict", f"at most {MAX_VIEWS} saved views per page")
            found = SavedView(key_id=key.id, page=body.page, name=body.name)
            session.add(found)
        found.params = dict(body.params)
        found.updated_at = now()
        session.flush()
        return _out(found)


@router.delete(
    "/api/views/{view_id}",
    status_code=204,
    summary="Delete a saved view",
    responses=errors(*PROTECTED, 404),
)
def delete_view(
    key: Viewer, store: StoreDep, view_id: Annotated[int, Path(ge=1, le=2_147_483_647)]
) -> Response:
    with store.session() as session:
        view = session.get(SavedView, view_id)
        if view is None or view.key_id != key.id:
            raise Problem(404, "Not found", f"saved view {view_id} does not exist")
        session.delete(view)
    return Response(status_code=204)
