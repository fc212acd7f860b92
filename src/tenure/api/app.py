"""The FastAPI application: API keys with roles on every route but the public survey form,
problem details for every error, a body-size limit, pagination, and no SQL built from text
(filters go through the engine's filter parser, values are passed as parameters).

Reads run side by side, each on its thread's cursor of the live workspace; writes queue for its
one writer. The routes live in `tenure.api.routers`, one module per resource."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from tenure.api import problems
from tenure.api.deps import ResultCache
from tenure.api.jobs import server_jobs
from tenure.api.routers import (
    accounts,
    automations,
    dashboards,
    engagement,
    feedback,
    goals,
    ingest,
    jobs,
    metrics,
    sources,
    surveys,
    tracking,
    views,
)
from tenure.api.security import SecurityHeaders
from tenure.app.store import Store
from tenure.live import LiveWorkspace
from tenure.workspace import Workspace

MAX_BODY = 5_000_000
ROUTERS = (
    metrics,
    engagement,
    feedback,
    accounts,
    goals,
    surveys,
    automations,
    dashboards,
    views,
    ingest,
    sources,
    tracking,
    jobs,
)


def create_app(
    live: LiveWorkspace | Workspace,
    store: Store,
    *,
    base_url: str = "",
    schedule_seconds: float | None = None,
) -> FastAPI:
    """The API and dashboard over one live workspace and one app store; with `schedule_seconds`,
    the server also runs its jobs while it is up (the automations on that interval, the account
    snapshot at start-up and after each load, the data sources when due; see
    `tenure.api.jobs`)."""
    if isinstance(live, Workspace):
        live = LiveWorkspace(live)
    cache = ResultCache(256)
    background = server_jobs(live, store, schedule_seconds, cache) if schedule_seconds else None

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if background is None:
            yield
            return
        background.start()
        for job in ("account_snapshot", "sources"):  # at once, not after their first interval
            if job in background.status():
                background.soon(job)
        try:
            yield
        finally:
            background.shutdown(wait=True)  # a job in progress finishes with the store open

    app = FastAPI(
        title="Tenure",
        version="0.1.0",
        description="Customer-success metrics API.",
        lifespan=lifespan,
        docs_url=None,  # served by tenure.web.routes from vendored Swagger UI, under the strict CSP
        redoc_url=None,
    )
    app.state.live = live
    app.state.store = store
    app.state.base_url = base_url
    app.state.cache = cache
    app.state.jobs = background
    problems.install(app)

    @app.get("/health", include_in_schema=False)
    def alive() -> dict[str, str]:
        return {"status": "ok"}

    for module in ROUTERS:
        app.include_router(module.router)

    from tenure.web.routes import mount

    mount(app)
    app.add_middleware(problems.BodyLimit, limit=MAX_BODY)
    app.add_middleware(SecurityHeaders)  # outermost: on the body limit's answers too
    return app
