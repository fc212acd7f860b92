"""Accounts: the paying accounts with health and churn risk, one account, and its timeline."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Path, Query

from tenure.api.deps import Live, Viewer
from tenure.api.frames import literal, records
from tenure.api.problems import Problem
from tenure.api.schemas import Day, Page, Row, Timeline
from tenure.errors import TenureError

router = APIRouter()
AccountId = Annotated[str, Path(max_length=200)]


def account_table(live: Live, as_of: dt.date | None) -> pd.DataFrame:
    """Health and churn risk of the accounts paying on `as_of`, riskiest first (no risk column
    values before a churn model is trained)."""
    with live.reader() as ws:
        health = ws.health(as_of=as_of)
        try:
            risk = ws.churn_risk(as_of=as_of)[["account_id", "churn_probability", "drivers"]]
        except TenureError:
            risk = pd.DataFrame(columns=["account_id", "churn_probability", "drivers"])
    table = health.merge(risk, on="account_id", how="left")
    return table.sort_values(
        ["churn_probability", "health"], ascending=[False, True], na_position="last"
    )


@router.get("/api/accounts", summary="Paying accounts with health and churn risk, riskiest first")
def accounts(
    _: Viewer,
    live: Live,
    as_of: Day | None = None,
    band: Annotated[str | None, Query(pattern="^(red|yellow|green)$")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
) -> Page:
    table = account_table(live, as_of)
    if band:
        table = table[table["band"] == band]
    return Page(
        items=records(table.iloc[offset : offset + limit]),
        total=len(table),
        limit=limit,
        offset=offset,
    )


@router.get("/api/accounts/{account_id}", summary="One account's health, risk and components")
def account(_: Viewer, live: Live, account_id: AccountId, as_of: Day | None = None) -> Row:
    table = account_table(live, as_of)
    rows = table[table["account_id"] == account_id]
    if rows.empty:
        raise Problem(
            404, "Not found", f"account {account_id!r} is not paying on that day, or does not exist"
        )
    return records(rows)[0]


@router.get(
    "/api/accounts/{account_id}/timeline",
    summary="One account's MRR, events, answers and tickets",
)
def account_timeline(_: Viewer, live: Live, account_id: AccountId) -> Timeline:
    with live.reader() as ws:
        mrr = ws.metrics(["mrr"], where=f"account_id = {literal(account_id)}")
        events = ws.table("events")
        recent = (
            events.filter(events.account_id == account_id)
            .order_by(events.occurred_at.desc())
            .limit(50)
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
            mrr=records(mrr[["period_start", "value"]]),
            events=records(
                recent.select("occurred_at", "name", "user_id", "feature", "page").to_pandas()
            ),
            answers=records(
                said.select("responded_at", "survey", "score", "comment", "language").to_pandas()
            ),
            tickets=records(
                asked.select(
                    "opened_at", "channel", "status", "contacts", "resolved_at"
                ).to_pandas()
            ),
        )
