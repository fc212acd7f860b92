"""Metrics and the analyses around them: the catalog, metric pages (cached by data version), the
accounts behind a number, cohorts, survival, funnels, feedback and CSV exports."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import StreamingResponse

from tenure.api.deps import CachedReads, Expensive, Live, Viewer, bounded_reader
from tenure.api.frames import records
from tenure.api.problems import EXPENSIVE, PROTECTED, Problem, errors
from tenure.api.schemas import (
    BehindPage,
    CatalogEntry,
    CompareAccount,
    ComparePeriod,
    CompareSetting,
    Day,
    DrillPage,
    FeedbackPage,
    MetricPage,
    PolicyComparison,
    Row,
    Survival,
)
from tenure.data.contract import CONTRACTS
from tenure.engine.bounds import check_by, check_cells, result_periods, segment_count
from tenure.workspace import EVERYTHING, Workspace

if TYPE_CHECKING:
    from tenure.metrics.compare import Comparison

router = APIRouter()
Grain = Annotated[str, Query(pattern="^(day|week|month|quarter|year)$")]
Where = Annotated[str | None, Query(max_length=500)]
Start = Annotated[Day | None, Query(alias="from")]
End = Annotated[Day | None, Query(alias="to")]
MetricName = Annotated[str, Path(max_length=100)]
Period = Annotated[str, Query(max_length=20)]
Format = Annotated[str, Query(pattern="^(json|csv)$")]
Dimension = Annotated[str | None, Query(max_length=100)]
DimensionValue = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=1000)]
PageOffset = Annotated[int, Query(ge=0, le=2_147_483_647)]


# OpenAPI for a route that answers JSON rows or, with format=csv, a CSV file.
CSV_ANSWER: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


@router.get("/api/metrics/catalog", summary="The metric catalog", responses=errors(*PROTECTED))
def catalog(_: Viewer) -> list[CatalogEntry]:
    from tenure.metrics.catalog import CATALOG

    return [
        CatalogEntry(
            name=m.name,
            area=m.area,
            unit=m.unit,
            description=m.description,
            definition=m.definition,
            dimensions=list(m.dimensions),
        )
        for m in CATALOG.values()
    ]


@router.get(
    "/api/metrics",
    summary="Metrics per period and segment",
    response_model=MetricPage,
    responses=errors(*EXPENSIVE),
)
def metrics(
    read: CachedReads,
    names: Annotated[list[str], Query(min_length=1, max_length=50)],
    grain: Grain = "month",
    start: Start = None,
    end: End = None,
    by: Annotated[list[str] | None, Query(max_length=3)] = None,
    where: Where = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    offset: PageOffset = 0,
) -> Response:
    segments = check_by(by or [])
    periods = result_periods(start, end, grain)
    check_cells(periods, len(set(names)))  # before counting segments, which reads data

    def compute(ws: Workspace) -> MetricPage:
        if segments:
            tables = [ws.table(t) for t in ("accounts", *CONTRACTS) if ws.has_table(t)]
            paid = ws.table("subscriptions") if ws.has_table("subscriptions") else None
            check_cells(periods, len(set(names)), segment_count(tables, segments, paid))
        frame = ws.metrics(names, grain=grain, start=start, end=end, by=segments, where=where)
        return MetricPage(
            items=records(frame.iloc[offset : offset + limit]),
            total=len(frame),
            limit=limit,
            offset=offset,
            units=frame.attrs["units"],
            definitions=frame.attrs["definitions"],
            reporting_currency=frame.attrs["reporting_currency"],
        )

    return read.respond(compute, MetricPage)


@router.get(
    "/api/metrics/compare",
    summary="A metric under the workspace's revenue policy and a vendor preset, the difference "
    "split by setting with the accounts behind each part",
    response_model=list[PolicyComparison],
    responses=errors(*EXPENSIVE),
)
def compare_policy(
    read: CachedReads,
    names: Annotated[list[str], Query(min_length=1, max_length=10)],
    policy: Annotated[str, Query(pattern="^(tenure|chartmogul|stripe|baremetrics)$")],
    grain: Grain = "month",
    start: Start = None,
    end: End = None,
    where: Where = None,
) -> Response:
    from tenure.metrics.compare import compare_many

    periods = result_periods(start, end, grain)
    check_cells(periods, len(set(names)))

    def build(ws: Workspace) -> list[PolicyComparison]:
        found = compare_many(ws, names, policy, grain=grain, start=start, end=end, where=where)
        return [_comparison(c, ws.reporting_currency) for c in found]

    return read.respond(build, list[PolicyComparison])


def _comparison(c: Comparison, currency: str) -> PolicyComparison:
    parts: dict[str, dict[str, Any]] = {}  # by period start, as ISO text
    for part in records(c.parts):
        parts.setdefault(part["period_start"], {})[part["setting"]] = part["difference"]
    accounts = []
    for row in records(c.accounts):
        name = row["name"]
        accounts.append(CompareAccount(**{**row, "name": None if name is None else str(name)}))
    return PolicyComparison(
        metric=c.metric,
        unit=c.unit,
        policy=c.against,
        reporting_currency=currency,
        order=[
            CompareSetting(
                setting=s, workspace=_text(getattr(c.base, s)), other=_text(getattr(c.other, s))
            )
            for s in c.settings
        ],
        periods=[
            ComparePeriod(
                period_start=row["period_start"],
                workspace=row["base"],
                other=row["other"],
                difference=row["difference"],
                parts=parts.get(row["period_start"], {}),
            )
            for row in records(c.series)
        ],
        accounts=accounts,
    )


def _text(value: object) -> str:
    return "none" if value is None else str(value)


@router.get(
    "/api/drill/{name}",
    summary="The accounts behind one metric in one period (format=csv: as a CSV file)",
    response_model=list[Row],
    responses={
        **CSV_ANSWER,
        **errors(*EXPENSIVE),
    },
)
def drill(
    read: CachedReads,
    name: MetricName,
    period: Period,
    grain: Grain = "month",
    where: Where = None,
    dimension: Dimension = None,
    value: DimensionValue = None,
    format: Format = "json",
) -> Response:
    """`dimension` and `value` keep one value of a fact dimension of the metric (e.g. the
    adopters of one feature: dimension=feature&value=reports)."""
    split = one_value("dimension", dimension, value)
    return rows_or_csv(
        read,
        lambda ws: ws.drill(name, period, grain=grain, where=where, dimension=split),
        format,
        f"{name}-{period}" + (f"-{value}" if split else ""),
    )


@router.get(
    "/api/drill/{name}/page",
    summary="The accounts behind one metric in one period, with its numerator and denominator",
    response_model=DrillPage,
    responses=errors(*EXPENSIVE),
)
def drill_page(
    read: CachedReads,
    name: MetricName,
    period: Period,
    grain: Grain = "month",
    where: Where = None,
    dimension: Dimension = None,
    value: DimensionValue = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> Response:
    split = one_value("dimension", dimension, value)

    def page(ws: Workspace) -> DrillPage:
        frame = ws.drill(name, period, grain=grain, where=where, dimension=split)
        return _drill_page(frame, name, grain, limit, offset, ws.reporting_currency)

    return read.respond(page, DrillPage)


@router.get(
    "/api/cohorts",
    summary="Logo and revenue retention by first-paid cohort",
    response_model=list[Row],
    responses=errors(*EXPENSIVE),
)
def cohort_table(
    read: CachedReads, start: Start = None, end: End = None, where: Where = None
) -> Response:
    return read.respond(
        lambda ws: records(ws.cohorts(start=start, end=end, where=where)), list[Row]
    )


Cohort = Annotated[Day, Query()]
Offset = Annotated[int, Query(ge=0, le=1000)]


@router.get(
    "/api/cohorts/drill",
    summary="The accounts behind one cohort cell (format=csv: as a CSV file)",
    response_model=list[Row],
    responses={
        **CSV_ANSWER,
        **errors(*EXPENSIVE),
    },
)
def cohort_drill(
    read: CachedReads,
    cohort: Cohort,
    offset: Offset,
    where: Where = None,
    format: Format = "json",
) -> Response:
    return rows_or_csv(
        read,
        lambda ws: ws.cohort_accounts(cohort, offset, where=where),
        format,
        f"cohort-{cohort}-{offset}",
    )


@router.get(
    "/api/cohorts/drill/page",
    summary="The accounts behind one cohort cell, with the cell's active accounts and size",
    response_model=DrillPage,
    responses=errors(*EXPENSIVE),
)
def cohort_drill_page(
    read: CachedReads,
    cohort: Cohort,
    offset: Offset,
    where: Where = None,
    limit: Limit = 100,
) -> Response:
    def page(ws: Workspace) -> DrillPage:
        frame = ws.cohort_accounts(cohort, offset, where=where)
        return _drill_page(frame, "cohort_retention", "month", limit, 0, ws.reporting_currency)

    return read.respond(page, DrillPage)


def one_value(label: str, name: str | None, value: str | None) -> tuple[str, str] | None:
    """The (name, value) a drill keeps, from two query parameters given together or not at
    all (400 naming `label`, the name's parameter, otherwise)."""
    if (name is None) != (value is None):
        raise Problem(400, "Bad request", f"give both {label} and value, or neither")
    return None if name is None or value is None else (name, value)


def rows_or_csv(
    read: CachedReads,
    frame: Callable[[Workspace], pd.DataFrame],
    format: str,
    filename: str,
    *,
    derived: bool = False,
) -> Response:
    """The accounts behind a number as JSON rows, or (`format=csv`) as a CSV download named
    `filename`; either answer is cached by the request (`derived`: and by the account
    snapshot's version, for rows read from it)."""
    if format == "csv":
        from tenure.data.csv_safe import frame_to_csv

        assert read.request is not None
        url = read.request.url
        snapshot = read.live.derived_version if derived else None

        def text_of(ws: Workspace) -> str:
            if derived:  # the snapshot is read outside the tracked tables, and follows all
                ws.note_read(EVERYTHING)
            return frame_to_csv(frame(ws))

        text = read(("csv", url.path, url.query, snapshot), text_of)
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", filename)  # header-safe
        return Response(
            text,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
        )
    return read.respond(lambda ws: records(frame(ws)), list[Row], derived=derived)


def behind_page(frame: pd.DataFrame, limit: int, offset: int, currency: str) -> BehindPage:
    """One page of the rows behind a number, with the number's parts from `frame.attrs`."""
    return BehindPage(**_page_parts(frame, limit, offset, currency))


def _drill_page(
    frame: pd.DataFrame, name: str, grain: str, limit: int, offset: int, currency: str
) -> DrillPage:
    parts = _page_parts(frame, limit, offset, currency)
    return DrillPage(**parts, metric=name, period_start=frame.attrs["period_start"], grain=grain)


def _page_parts(frame: pd.DataFrame, limit: int, offset: int, currency: str) -> dict[str, Any]:
    about = frame.attrs
    return {
        "items": records(frame.iloc[offset : offset + limit]),
        "total": len(frame),
        "limit": limit,
        "offset": offset,
        "definition": about["definition"],
        "unit": about["unit"],
        "value": about["value"],
        "numerator": about["numerator"],
        "denominator": about["denominator"],
        "reporting_currency": currency,
    }


@router.get(
    "/api/survival",
    summary="Kaplan-Meier survival of account lifetimes",
    response_model=Survival,
    responses=errors(*EXPENSIVE),
)
def survival_curve(
    read: CachedReads,
    by: Annotated[list[str] | None, Query(max_length=2)] = None,
    where: Where = None,
) -> Response:
    segments = tuple(by or ())

    def compute(ws: Workspace) -> Survival:
        curve, summary = ws.survival(by=segments, where=where)
        return Survival(curve=records(curve), summary=records(summary))

    return read.respond(compute, Survival)


Days = Annotated[float, Query(ge=0, le=1_000_000)]


@router.get(
    "/api/survival/drill",
    summary="The accounts at risk at one point of the survival curve, those that churned there "
    "flagged (format=csv: as a CSV file)",
    response_model=list[Row],
    responses={
        **CSV_ANSWER,
        **errors(*EXPENSIVE),
    },
)
def survival_drill(
    read: CachedReads, days: Days, where: Where = None, format: Format = "json"
) -> Response:
    return rows_or_csv(
        read, lambda ws: ws.survival_accounts(days, where=where), format, f"survival-{days:g}"
    )


@router.get(
    "/api/survival/drill/page",
    summary="The accounts at risk at one point of the survival curve, with the churned (events) "
    "and at-risk counts",
    response_model=BehindPage,
    responses=errors(*EXPENSIVE),
)
def survival_drill_page(
    read: CachedReads,
    days: Days,
    where: Where = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> Response:
    def page(ws: Workspace) -> BehindPage:
        frame = ws.survival_accounts(days, where=where)
        return behind_page(frame, limit, offset, ws.reporting_currency)

    return read.respond(page, BehindPage)


Steps = Annotated[list[str], Query(min_length=2, max_length=8)]
Window = Annotated[float, Query(gt=0, le=365)]


@router.get(
    "/api/funnel",
    summary="Ordered funnel of events with a conversion window",
    response_model=list[Row],
    responses=errors(*EXPENSIVE),
)
def funnel_steps(
    read: CachedReads,
    steps: Steps,
    window: Window = 30,
    start: Start = None,
    end: End = None,
    by: Annotated[list[str] | None, Query(max_length=2)] = None,
    where: Where = None,
) -> Response:
    """`where` keeps the people of the accounts it matches (a visitor without an account yet
    drops out); `by` splits by an account attribute."""
    segments = tuple(by or ())
    return read.respond(
        lambda ws: records(
            ws.funnel(steps, window_days=window, start=start, end=end, by=segments, where=where)
        ),
        list[Row],
    )


FunnelStep = Annotated[int, Query(ge=1, le=8)]


@router.get(
    "/api/funnel/drill",
    summary="The people who reached (or dropped at) one funnel step over the range "
    "(format=csv: as a CSV file)",
    response_model=list[Row],
    responses={
        **CSV_ANSWER,
        **errors(*EXPENSIVE),
    },
)
def funnel_drill(
    read: CachedReads,
    steps: Steps,
    step: FunnelStep,
    dropped: bool = False,
    window: Window = 30,
    start: Start = None,
    end: End = None,
    where: Where = None,
    format: Format = "json",
) -> Response:
    options = {"dropped": dropped, "window_days": window, "start": start, "end": end}
    return rows_or_csv(
        read,
        lambda ws: ws.funnel_people(steps, step, where=where, **options),
        format,
        f"funnel-step-{step}" + ("-dropped" if dropped else ""),
    )


@router.get(
    "/api/funnel/drill/page",
    summary="The people who reached (or dropped at) one funnel step, with that step's count "
    "and the count it is a share of",
    response_model=BehindPage,
    responses=errors(*EXPENSIVE),
)
def funnel_drill_page(
    read: CachedReads,
    steps: Steps,
    step: FunnelStep,
    dropped: bool = False,
    window: Window = 30,
    start: Start = None,
    end: End = None,
    where: Where = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> Response:
    options = {"dropped": dropped, "window_days": window, "start": start, "end": end}

    def page(ws: Workspace) -> BehindPage:
        frame = ws.funnel_people(steps, step, where=where, **options)
        return behind_page(frame, limit, offset, ws.reporting_currency)

    return read.respond(page, BehindPage)


@router.get(
    "/api/feedback",
    summary="Survey comments with language, sentiment and themes",
    response_model=FeedbackPage,
    responses=errors(*EXPENSIVE),
)
def feedback_comments(
    read: CachedReads,
    start: Start = None,
    end: End = None,
    contains: Annotated[str | None, Query(max_length=200)] = None,
    survey: Annotated[str | None, Query(pattern="^(nps|csat|ces|custom)$")] = None,
    band: Annotated[str | None, Query(pattern="^(detractor|passive|promoter)$")] = None,
    language: Annotated[str | None, Query(pattern="^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$")] = None,
    theme: Annotated[str | None, Query(max_length=100)] = None,
    where: Where = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> Response:
    """Filters: score band, language (as loaded, else detected), survey kind, theme, and a
    segment (`where`, over account attributes as elsewhere)."""
    from tenure.text.feedback import COMMENT_COLUMNS, theme_report

    def analyse(ws: Workspace) -> FeedbackPage:
        frame = ws.feedback(
            start=start,
            end=end,
            contains=contains or None,
            survey=survey,
            band=band,
            language=language,
            theme=theme or None,
            where=where,
        )
        themes = theme_report(frame) if len(frame) else None
        shown = frame.sort_values("responded_at", ascending=False)
        return FeedbackPage(
            items=records(shown[["response_id", *COMMENT_COLUMNS]].iloc[offset : offset + limit]),
            total=len(frame),
            limit=limit,
            offset=offset,
            themes=records(themes) if themes is not None else [],
        )

    return read.respond(analyse, FeedbackPage)


@router.get(
    "/api/export/{table}",
    summary="A table as CSV",
    response_class=StreamingResponse,
    responses={
        **CSV_ANSWER,
        **errors(*EXPENSIVE, 404),
    },
)
def export(
    _: Expensive, live: Live, table: Annotated[str, Path(max_length=50)]
) -> StreamingResponse:
    from tenure.data.csv_safe import frame_to_csv

    if table not in CONTRACTS:
        raise Problem(404, "Not found", f"tables: {', '.join(CONTRACTS)}")
    with bounded_reader(live) as ws:
        frame = ws.table(table).to_pandas()
    text = frame_to_csv(frame)  # text that a spreadsheet would run as a formula is quoted

    def chunks() -> Iterator[str]:
        yield text

    return StreamingResponse(
        chunks(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{table}.csv"'},
    )
