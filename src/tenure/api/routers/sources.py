"""Data sources: add, list, sync and remove them. A sync runs as the server's background job
for the source (answer 202); an app that runs no jobs syncs in the request (answer 200 with
how the sync went)."""

from __future__ import annotations

import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from tenure.api import jobs as server_jobs
from tenure.api.deps import Admin, Editor, Live, StoreDep, Viewer, audit
from tenure.api.problems import errors
from tenure.api.schemas import SourceIn, SourceOut, SyncQueued
from tenure.app import sources
from tenure.app.scheduler import Scheduler

router = APIRouter()
Name = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


@router.get("/api/sources", summary="Data sources with their last sync and next run")
def list_sources(_: Viewer, store: StoreDep) -> list[SourceOut]:
    return [SourceOut(**source) for source in sources.all_sources(store)]


@router.get(
    "/api/sources/{name}", summary="One data source and its last sync", responses=errors(404)
)
def get_source(_: Viewer, store: StoreDep, name: Name) -> SourceOut:
    return SourceOut(**sources.get(store, name))


@router.post(
    "/api/sources",
    status_code=201,
    summary="Add a data source (an unknown kind or option answers 400 naming it)",
    responses=errors(409),
)
def add_source(
    key: Admin, request: Request, live: Live, store: StoreDep, body: SourceIn
) -> SourceOut:
    shown = sources.add(
        store,
        body.name,
        body.kind,
        body.options,
        secret=body.secret,
        secret_env=body.secret_env,
        every_minutes=body.every_minutes,
    )
    scheduler: Scheduler | None = request.app.state.jobs
    if scheduler is not None:
        server_jobs.schedule_sources(scheduler, live, store)
    audit(store, key, "source.add", f"{body.name}: {body.kind}")
    return SourceOut(**shown)


@router.post(
    "/api/sources/{name}/sync",
    summary="Sync a data source now (202: started as its background job)",
    responses={
        202: {"model": SyncQueued, "description": "The sync started as a background job"},
        **errors(404),
    },
)
def sync_source(
    key: Editor,
    request: Request,
    live: Live,
    store: StoreDep,
    name: Name,
    full: Annotated[
        bool, Query(description="Forget the cursors and staged records, pull everything")
    ] = False,
) -> Any:
    sources.get(store, name)  # 404 for an unknown source
    scheduler: Scheduler | None = request.app.state.jobs
    audit(store, key, "source.sync", f"{name}{' (full)' if full else ''}")
    if scheduler is not None:
        if full:  # after any sync in progress; the job then pulls everything
            sources.forget_staged(name, lambda: live.writer(changes_data=False))
        server_jobs.schedule_sources(scheduler, live, store)
        job = server_jobs.source_job(name)
        scheduler.soon(job)
        return JSONResponse(SyncQueued(job=job, status="queued").model_dump(), status_code=202)
    with contextlib.suppress(sources.SyncFailed):  # recorded with the source, shown below
        server_jobs.sync_source(live, store, name, full=full)
    return SourceOut(**sources.get(store, name))


@router.delete(
    "/api/sources/{name}",
    status_code=204,
    summary="Remove a data source (rows it loaded stay)",
    responses=errors(404),
)
def remove_source(
    key: Admin,
    request: Request,
    live: Live,
    store: StoreDep,
    name: Name,
    keep_data: Annotated[
        bool, Query(description="Keep its staged records and cursors, to add it again later")
    ] = False,
) -> None:
    sources.remove(store, name)
    if not keep_data:
        sources.forget_staged(name, lambda: live.writer(changes_data=False))
    scheduler: Scheduler | None = request.app.state.jobs
    if scheduler is not None:
        server_jobs.schedule_sources(scheduler, live, store)
    audit(store, key, "source.remove", name)
