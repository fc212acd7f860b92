"""Engagement beyond the catalog: the distribution of active days per period (stickiness) and
retention by cohort, of users or accounts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from tenure.api.deps import CachedReads
from tenure.api.frames import records
from tenure.api.problems import EXPENSIVE, errors
from tenure.api.routers.metrics import End, Grain, Start, Where
from tenure.api.schemas import Retention, RetentionRow, Stickiness
from tenure.workspace import Workspace

router = APIRouter()
Unit = Annotated[str, Query(pattern="^(user|account)$")]


@router.get(
    "/api/engagement/stickiness",
    summary="Users or accounts by days active per period",
    response_model=Stickiness,
    responses=errors(*EXPENSIVE),
)
def stickiness(
    read: CachedReads,
    grain: Grain = "month",
    start: Start = None,
    end: End = None,
    by: Annotated[list[str] | None, Query(max_length=3)] = None,
    where: Where = None,
    unit: Unit = "user",
) -> Response:
    segments = tuple(by or ())

    def compute(ws: Workspace) -> Stickiness:
        frame = ws.stickiness(
            grain=grain, start=start, end=end, by=segments, where=where, unit=unit
        )
        return Stickiness(unit=unit, grain=grain, items=records(frame))

    return read.respond(compute, Stickiness)


@router.get(
    "/api/engagement/retention",
    summary="Retention of users or accounts by cohort",
    response_model=Retention,
    responses=errors(*EXPENSIVE),
)
def retention(
    read: CachedReads,
    kind: Annotated[str, Query(pattern="^(first_time|recurring)$")] = "first_time",
    unit: Unit = "user",
    grain: Annotated[str, Query(pattern="^(day|week|month)$")] = "week",
    periods: Annotated[int, Query(ge=0, le=366)] = 8,
    bracket: Annotated[str, Query(pattern="^(exact|on_or_after)$")] = "exact",
    start: Start = None,
    end: End = None,
    where: Where = None,
    event: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    def compute(ws: Workspace) -> Retention:
        frame = ws.retention(
            kind=kind,
            unit=unit,
            grain=grain,
            periods=periods,
            bracket=bracket,
            start=start,
            end=end,
            where=where,
            event=event,
        )
        items = [RetentionRow.model_validate(row) for row in records(frame)]
        return Retention(kind=kind, unit=unit, grain=grain, bracket=bracket, items=items)

    return read.respond(compute, Retention)
