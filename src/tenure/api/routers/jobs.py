"""The server's background jobs and how each one last went."""

from __future__ import annotations

from fastapi import APIRouter, Request

from tenure.api.deps import Admin
from tenure.api.schemas import JobOut
from tenure.app.scheduler import Scheduler

router = APIRouter()


@router.get("/api/jobs", summary="Background jobs: last run, last error, next run")
def jobs(_: Admin, request: Request) -> list[JobOut]:
    scheduler: Scheduler | None = request.app.state.jobs
    if scheduler is None:
        return []
    return [JobOut(**status.to_dict()) for status in scheduler.status().values()]
