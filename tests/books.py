"""Small hand-made companies for metric tests: rows in, a loaded workspace out."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from tenure.workspace import Workspace

SUBSCRIPTION_DEFAULTS: dict[str, Any] = {
    "plan": "pro",
    "ended_at": None,
    "canceled_at": None,
    "billing_period": 1,
    "billing_unit": "month",
    "quantity": 1,
    "discount": 0,
    "currency": "USD",
    "trial_ends_at": None,
}


def day(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def sub(account: str, amount: float, started: str, ended: str | None = None, **extra: Any) -> dict:
    return {
        "account_id": account,
        "amount": amount,
        "started_at": day(started),
        "ended_at": day(ended) if ended else None,
        **extra,
    }


def load_book(
    ws: Workspace,
    subscriptions: list[dict],
    *,
    accounts: dict[str, dict] | None = None,
    orders: list[dict] | None = None,
    costs: list[dict] | None = None,
    fx: list[dict] | None = None,
    users: list[dict] | None = None,
) -> Workspace:
    """Load subscriptions (and accounts for every account they name, with attributes)."""
    if fx:
        _load(ws, "fx_rates", fx)
    names = {s["account_id"] for s in subscriptions} | {o["account_id"] for o in orders or []}
    attributes = accounts or {}
    _load(
        ws,
        "accounts",
        [
            {
                "account_id": a,
                "name": f"Account {a}",
                "created_at": day("2020-01-01"),
                **attributes.get(a, {"plan_group": "all"}),
            }
            for a in sorted(names | set(attributes))
        ],
    )
    rows = []
    for number, row in enumerate(subscriptions):
        full = {**SUBSCRIPTION_DEFAULTS, **row}
        for column in ("canceled_at", "trial_ends_at"):
            if isinstance(full[column], str):
                full[column] = day(full[column])
        rows.append({"subscription_id": f"S{number:05d}", **full})
    if rows:
        _load(ws, "subscriptions", rows)
    if orders:
        _load(
            ws,
            "orders",
            [
                {"order_id": f"O{n:06d}", "currency": "USD", "kind": "one_time", **o}
                for n, o in enumerate(orders)
            ],
        )
    if costs:
        _load(ws, "costs", [{"currency": "USD", **c} for c in costs])
    if users:
        _load(ws, "users", users)
    return ws


def _load(ws: Workspace, table: str, rows: list[dict]) -> None:
    report = ws.load(table, pd.DataFrame(rows))
    assert report.rejected == 0, (table, report)


def value(frame: pd.DataFrame, metric: str, period: str, **segment: Any) -> Any:
    """The value of one metric in one period (and segment) of a metrics result."""
    rows = frame[(frame.metric == metric) & (frame.period_start == dt.date.fromisoformat(period))]
    for key, wanted in segment.items():
        rows = rows[rows[key] == wanted]
    assert len(rows) == 1, rows
    return rows.iloc[0]["value"]
