"""Accounts: the worklist and one account, read from the precomputed account snapshot (fast and
the same for every caller), and one account's timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from tenure.api.deps import CachedReads
from tenure.api.frames import records
from tenure.api.problems import EXPENSIVE, PROBLEM, Problem, errors, problem
from tenure.api.routers.metrics import (
    CSV_ANSWER,
    Format,
    Limit,
    PageOffset,
    Where,
    behind_page,
    rows_or_csv,
)
from tenure.api.schemas import (
    AccountDetail,
    AccountPage,
    AccountRow,
    BehindPage,
    Row,
    SnapshotInfo,
    Timeline,
)
from tenure.workspace import Workspace

router = APIRouter()
AccountId = Annotated[str, Path(max_length=200)]
RETRY_SECONDS = 10
_BUILDING: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The account snapshot is being built; retry after `Retry-After` seconds",
        "content": {PROBLEM: {"schema": {"type": "object"}}},
    }
}
_DATES = ("next_renewal", "scheduled_churn_on")


class _Building(Exception):
    """The snapshot does not exist yet (raised inside a cached read, so nothing is cached)."""


def _building(request: Request) -> JSONResponse:
    """503 until the server has built the first snapshot (at start-up and after every load)."""
    body = problem(
        503,
        "Service unavailable",
        "the account snapshot is being built; retry shortly",
        request.url.path,
    )
    return JSONResponse(body, 503, media_type=PROBLEM, headers={"Retry-After": str(RETRY_SECONDS)})


def _require_snapshot(ws: Workspace) -> None:
    """Raise _Building while the account snapshot does not exist yet."""
    from tenure.models import account_snapshot

    if not account_snapshot.exists(ws):
        raise _Building


def _once_built(request: Request, answer: Callable[[], Response]) -> Response:
    """`answer()`, or 503 with Retry-After while the account snapshot is being built."""
    try:
        return answer()
    except _Building:
        return _building(request)


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Snapshot rows as JSON-ready dicts, renewal and churn days as dates."""
    frame = frame.copy()
    for column in _DATES:
        frame[column] = pd.to_datetime(frame[column]).dt.date
    return records(frame)


def _snapshot_info(info: dict[str, Any]) -> SnapshotInfo:
    last = info.get("last_load_at")
    return SnapshotInfo(
        as_of=info["as_of"],
        refreshed_at=pd.Timestamp(info["refreshed_at"]).to_pydatetime(),
        stale=bool(info["stale"]),
        loads=int(info["loads"]),
        last_load_at=None if last is None or pd.isna(last) else pd.Timestamp(last).to_pydatetime(),
        accounts=int(info["accounts"]),
    )


@router.get(
    "/api/accounts",
    summary="The account worklist: search, filter, sort and page the account snapshot",
    response_model=AccountPage,
    responses={**_BUILDING, **errors(*EXPENSIVE)},
)
def accounts(
    read: CachedReads,
    request: Request,
    search: Annotated[str | None, Query(max_length=200)] = None,
    band: Annotated[str | None, Query(pattern="^(red|yellow|green)$")] = None,
    paying: bool | None = None,
    cancelling: bool | None = None,
    where: Annotated[str | None, Query(max_length=500)] = None,
    sort: Annotated[str, Query(max_length=100)] = "churn_probability",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "desc",
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> Response:
    from tenure.models import account_snapshot  # the models load with the first account read

    if sort not in account_snapshot.SORTABLE:
        raise Problem(
            400,
            "Bad request",
            f"cannot sort by {sort!r}; choose one of: {', '.join(account_snapshot.SORTABLE)}",
        )

    def page(ws: Workspace) -> AccountPage:
        info = account_snapshot.status(ws)
        if info is None or not account_snapshot.exists(ws):
            raise _Building
        frame, total = account_snapshot.read(
            ws,
            search=search,
            band=band,
            paying=paying,
            cancelling=cancelling,
            where=where,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            offset=offset,
        )
        return AccountPage(
            items=[AccountRow.model_validate(row) for row in _rows(frame)],
            total=total,
            limit=limit,
            offset=offset,
            reporting_currency=ws.reporting_currency,
            snapshot=_snapshot_info(info),
        )

    return _once_built(request, lambda: read.respond(page, AccountPage, derived=True))


@router.get(
    "/api/accounts/{account_id}",
    summary="One account's snapshot row with its health components",
    response_model=AccountDetail,
    responses={**_BUILDING, **errors(*EXPENSIVE)},
)
def account(read: CachedReads, request: Request, account_id: AccountId) -> Response:
    from tenure.models import account_snapshot

    def detail(ws: Workspace) -> AccountDetail:
        _require_snapshot(ws)
        row = account_snapshot.account(ws, account_id)
        if row.empty:
            raise Problem(404, "Not found", f"account {account_id!r} does not exist")
        return AccountDetail.model_validate(
            {**_rows(row)[0], "reporting_currency": ws.reporting_currency}
        )

    return _once_built(request, lambda: read.respond(detail, AccountDetail, derived=True))


@router.get(
    "/api/accounts/{account_id}/timeline",
    summary="One account's MRR, events, answers and tickets",
    response_model=Timeline,
    responses={**_BUILDING, **errors(*EXPENSIVE)},
)
def account_timeline(read: CachedReads, request: Request, account_id: AccountId) -> Response:
    return _once_built(
        request, lambda: read.respond(lambda ws: _timeline(ws, account_id), Timeline, derived=True)
    )


def _timeline(ws: Workspace, account_id: str) -> Timeline:
    from tenure.models import account_snapshot

    _require_snapshot(ws)
    # The snapshot's MRR history: the twelve months `ws.metrics(["mrr"])` would answer for this
    # account, computed for every account at once when the snapshot was built.
    mrr = account_snapshot.account_mrr_history(ws, account_id)
    events = ws.table("events")
    recent = (
        events.filter(events.account_id == account_id).order_by(events.occurred_at.desc()).limit(50)
    )
    answers = ws.table("survey_responses")
    said = (
        answers.filter(answers.account_id == account_id)
        .order_by(answers.responded_at.desc())
        .limit(50)
    )
    tickets = ws.table("tickets")
    asked = (
        tickets.filter(tickets.account_id == account_id)
        .order_by(tickets.opened_at.desc())
        .limit(50)
    )
    return Timeline(
        mrr=records(mrr),
        events=records(
            recent.select("occurred_at", "name", "user_id", "feature", "page").to_pandas()
        ),
        answers=records(
            said.select("responded_at", "survey", "score", "comment", "language").to_pandas()
        ),
        tickets=records(
            asked.select("opened_at", "channel", "status", "contacts", "resolved_at").to_pandas()
        ),
    )


# -- score distributions ------------------------------------------------------------------------
Score = Annotated[str, Query(pattern="^(health|churn)$")]
Band = Annotated[str, Query(max_length=20)]


@router.get(
    "/api/scores/distribution",
    summary="Accounts per health band or per tenth of churn probability, from the account snapshot",
    response_model=list[Row],
    responses={**_BUILDING, **errors(*EXPENSIVE)},
)
def score_distribution(
    read: CachedReads, request: Request, score: Score, where: Where = None
) -> Response:
    from tenure.models import account_snapshot

    def counts(ws: Workspace) -> list[dict[str, Any]]:
        _require_snapshot(ws)
        return records(account_snapshot.distribution(ws, score, where=where))

    return _once_built(request, lambda: read.respond(counts, list[Row], derived=True))


@router.get(
    "/api/scores/drill",
    summary="The accounts in one band of a score distribution (format=csv: as a CSV file)",
    response_model=list[Row],
    responses={
        **CSV_ANSWER,
        **_BUILDING,
        **errors(*EXPENSIVE),
    },
)
def score_drill(
    read: CachedReads,
    request: Request,
    score: Score,
    band: Band,
    where: Where = None,
    format: Format = "json",
) -> Response:
    return _once_built(
        request,
        lambda: rows_or_csv(
            read,
            lambda ws: _band_accounts(ws, score, band, where),
            format,
            f"{score}-{band}",
            derived=True,
        ),
    )


@router.get(
    "/api/scores/drill/page",
    summary="The accounts in one band of a score distribution, with the band's accounts and "
    "the scored accounts",
    response_model=BehindPage,
    responses={**_BUILDING, **errors(*EXPENSIVE)},
)
def score_drill_page(
    read: CachedReads,
    request: Request,
    score: Score,
    band: Band,
    where: Where = None,
    limit: Limit = 100,
    offset: PageOffset = 0,
) -> Response:
    def page(ws: Workspace) -> BehindPage:
        frame = _band_accounts(ws, score, band, where)
        return behind_page(frame, limit, offset, ws.reporting_currency)

    return _once_built(request, lambda: read.respond(page, BehindPage, derived=True))


def _band_accounts(ws: Workspace, score: str, band: str, where: str | None) -> pd.DataFrame:
    from tenure.models import account_snapshot

    _require_snapshot(ws)
    return account_snapshot.band_accounts(ws, score, band, where=where)
