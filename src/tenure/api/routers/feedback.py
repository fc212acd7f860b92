"""Feedback analyses beyond the comment listing (which lives with the metrics): the detractor
drivers, themes and phrases that separate detractors from promoters."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from tenure.api.deps import CachedReads
from tenure.api.problems import EXPENSIVE, errors
from tenure.api.routers.metrics import End, Limit, PageOffset, Start, Where
from tenure.api.schemas import FeedbackDriver, FeedbackDriverPage

router = APIRouter()


@router.get(
    "/api/feedback/drivers",
    summary="Themes and phrases that separate detractors from promoters, with their comments",
    responses=errors(*EXPENSIVE),
)
def feedback_drivers(
    read: CachedReads,
    start: Start = None,
    end: End = None,
    by: Annotated[list[str] | None, Query(max_length=3)] = None,
    where: Where = None,
    grain: Annotated[str | None, Query(pattern="^(week|month|quarter|year)$")] = None,
    survey: Annotated[str, Query(pattern="^(nps|csat|ces|custom)$")] = "nps",
    kind: Annotated[str | None, Query(pattern="^(theme|phrase)$")] = None,
    minimum: Annotated[int, Query(ge=1, le=10_000)] = 2,
    limit: Limit = 50,
    offset: PageOffset = 0,
) -> FeedbackDriverPage:
    from tenure.text.feedback import detractor_drivers

    segments = list(by or ())
    frame = read(
        ("drivers", start, end, tuple(segments), where, grain, survey, minimum),
        lambda ws: detractor_drivers(
            ws,
            start=start,
            end=end,
            by=segments,
            where=where,
            grain=grain,
            survey=survey,
            minimum=minimum,
        ),
    )
    if kind is not None:
        frame = frame[frame["kind"] == kind]
    page = frame.iloc[offset : offset + limit]
    items = [
        FeedbackDriver(
            segment={name: _plain(row[name]) for name in segments},
            period=row["period"] if grain else None,
            term=str(row["term"]),
            kind=str(row["kind"]),
            z=float(row["z"]),
            detractor_count=int(row["detractor_count"]),
            promoter_count=int(row["promoter_count"]),
            detractor_share=float(row["detractor_share"]),
            promoter_share=float(row["promoter_share"]),
            comment_ids=list(row["comment_ids"]),
        )
        for _, row in page.iterrows()
    ]
    return FeedbackDriverPage(items=items, total=len(frame), limit=limit, offset=offset)


def _plain(value: object) -> object:
    """A segment value as JSON: missing values as null, numpy scalars as Python ones."""
    if value is None or value != value:  # NaN
        return None
    item = getattr(value, "item", None)
    return item() if callable(item) else value
