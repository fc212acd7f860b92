"""The revenue ledger (account x month rows that monthly revenue metrics read): what a query
reads from it equals what it computes from the subscriptions, under the policies that change
the rows; loads and setting changes keep it current, and a query it cannot serve computes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tenure
from tenure.metrics import revenue_ledger, rollups
from tenure.metrics.catalog import CATALOG, metric
from tenure.metrics.compute import make_query, splits_by_subscription
from tenure.metrics.policy import RevenuePolicy
from tenure.workspace import Workspace
from tests.books import load_book, sub

PAID = [n for n, m in CATALOG.items() if m.area == "revenue" and splits_by_subscription(m)]
PAID += ["customers", "new_customers", "churned_customers", "segment_leaving_customers"]
FIRST, LAST = dt.date(2024, 1, 1), dt.date(2025, 8, 1)
BASE = dt.datetime(2024, 1, 1)
FX = [
    {"date": dt.date(2023, 11, 1) + dt.timedelta(days=45 * i), "currency": "EUR"}
    | {"rate_to_reporting": rate}
    for i, rate in enumerate([1.1, 1.05, 1.2, 0.95, 1.0, 1.15, 1.08, 1.12, 1.3, 0.9, 1.02])
]
OTHER_POLICY = {
    "policy.fx_rate_date": "month_end",
    "policy.pause": "churn",
    "policy.trials": "paying_at_zero",
    "policy.same_period_churn": "counted",
    "policy.reactivation_window_days": "40",
    "policy.churn_recognition": "cancellation",
    "policy.past_due": "exclude_after_days:10",
}


def reads_ledger(ws: Workspace, **request: Any) -> bool:
    """Whether the monthly request of PAID metrics would read the stored ledger."""
    metrics = [metric(n) for n in PAID]
    query = make_query(ws, metrics, grain="month", where=None, policy=None, **request)
    return revenue_ledger.rows(query) is not None


@contextmanager
def without_ledger(ws: Workspace) -> Iterator[None]:
    """Queries compute from the subscriptions: the ledger's bookkeeping row is set aside."""
    con = ws.duckdb
    kept = con.execute(
        f"SELECT * FROM {rollups.META_TABLE} WHERE name = ?", [revenue_ledger.NAME]
    ).fetchall()
    con.execute(f"DELETE FROM {rollups.META_TABLE} WHERE name = ?", [revenue_ledger.NAME])
    try:
        yield  # compiled SQL that read the ledger is found not to hold, and built anew
    finally:
        con.executemany(f"INSERT INTO {rollups.META_TABLE} VALUES (?, ?, ?, ?)", kept)


def assert_same_as_computed(ws: Workspace, requests: list[dict[str, Any]], *, drill: bool) -> None:
    read = [ws.metrics(**r) for r in requests]
    if drill:
        drilled = ws.drill("mrr_churned", "2024-09", by=["paid_plan"])
    with without_ledger(ws):
        assert not reads_ledger(ws, start=FIRST, end=LAST, by=())
        for request, found in zip(requests, read, strict=True):
            pd.testing.assert_frame_equal(found, ws.metrics(**request), obj=str(request))
        if drill:
            computed = ws.drill("mrr_churned", "2024-09", by=["paid_plan"])
            pd.testing.assert_frame_equal(drilled, computed)
            assert drilled.attrs == computed.attrs


spell = st.fixed_dictionaries(
    {
        "start": st.integers(0, 420),  # days after BASE
        "days": st.one_of(st.none(), st.integers(1, 300)),  # None: still open
        "amount": st.sampled_from([0, 9.99, 100, 1200]),
        "period": st.sampled_from([(1, "month"), (12, "month"), (1, "year"), (2, "week")]),
        "plan": st.sampled_from(["basic", "pro"]),
        "currency": st.sampled_from(["USD", "EUR"]),
        "trial": st.sampled_from([0, 0, 14]),
        "cancel": st.one_of(st.none(), st.integers(0, 200)),  # canceled_at without ended_at
        "pause": st.one_of(st.none(), st.tuples(st.integers(10, 90), st.integers(1, 60))),
        "status": st.sampled_from(["active", "active", "past_due"]),
    }
)
history = st.lists(st.lists(spell, min_size=1, max_size=3), min_size=1, max_size=6)

# An annual EUR plan renewed after a rate change, a same-month sign-up and churn, a
# cancellation without an end, and a pause: each a rule the ledger stores the outcome of.
EXAMPLE = [
    [
        {"start": 5, "days": None, "amount": 1200, "period": (12, "month"), "plan": "pro"}
        | {"currency": "EUR", "trial": 14, "cancel": None, "pause": (40, 30), "status": "active"},
        {"start": 250, "days": 10, "amount": 100, "period": (1, "month"), "plan": "basic"}
        | {"currency": "USD", "trial": 0, "cancel": None, "pause": None, "status": "active"},
    ],
    [
        {"start": 30, "days": None, "amount": 9.99, "period": (2, "week"), "plan": "basic"}
        | {"currency": "USD", "trial": 0, "cancel": 120, "pause": None, "status": "past_due"},
    ],
]


def _subscriptions(accounts: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    rows = []
    for number, spells in enumerate(accounts):
        for s in spells:
            began = BASE + dt.timedelta(days=s["start"], hours=number)
            ended = None if s["days"] is None else began + dt.timedelta(days=s["days"])
            extra: dict[str, Any] = {
                "plan": s["plan"],
                "currency": s["currency"],
                "billing_period": s["period"][0],
                "billing_unit": s["period"][1],
                "status": s["status"],
            }
            if s["trial"]:
                extra["trial_ends_at"] = began + dt.timedelta(days=s["trial"])
            if s["cancel"] is not None and ended is None:
                extra["canceled_at"] = began + dt.timedelta(days=s["cancel"])
            if s["pause"] is not None:
                extra["paused_from"] = began + dt.timedelta(days=s["pause"][0])
                extra["paused_until"] = extra["paused_from"] + dt.timedelta(days=s["pause"][1])
            rows.append(
                sub(f"A{number}", s["amount"], began.isoformat(), ended and ended.isoformat())
                | extra
            )
    return rows


@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history)
@example(EXAMPLE)
def test_what_the_ledger_serves_equals_the_computation(accounts: list) -> None:
    subscriptions = _subscriptions(accounts)
    owners = {f"A{n}": {"owner": "ann" if n % 2 else "bo"} for n in range(len(accounts))}
    whole = [*PAID, "arpa", "scheduled_churn_mrr", "customer_lifespan_months", "clv_subscription"]
    requests = [
        {"names": PAID, "start": FIRST, "end": LAST, "by": ["paid_plan"]},
        {"names": whole, "start": FIRST, "end": LAST},
        {"names": PAID, "start": FIRST, "end": LAST, "by": ["owner"], "where": "owner = 'ann'"},
    ]
    with tenure.connect("duckdb://") as ws:
        load_book(ws, subscriptions, fx=FX, accounts=owners)
        assert reads_ledger(ws, start=FIRST, end=LAST, by=())
        assert_same_as_computed(ws, requests, drill=True)
        for key, value in OTHER_POLICY.items():
            ws.set_setting(key, value)
        assert reads_ledger(ws, start=FIRST, end=LAST, by=())
        assert_same_as_computed(ws, requests, drill=False)


@pytest.fixture
def book() -> Iterator[Workspace]:
    with tenure.connect("duckdb://") as ws:
        load_book(
            ws,
            [
                sub("A", 100, "2024-01-10"),
                sub("B", 50, "2024-02-03", "2024-06-20", plan="basic"),
                sub("C", 30, "2024-03-01", currency="EUR"),
            ],
            fx=FX,
        )
        yield ws


def _mrr(ws: Workspace, month: dt.date, **request: Any) -> Any:
    return ws.metrics(["mrr"], start=month, end=month, **request)["value"].sum()


def test_a_small_subscriptions_load_updates_the_rows_of_the_accounts_it_touches(
    book: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    june = dt.date(2024, 6, 1)
    before = _mrr(book, june)
    more = [sub(f"N{i}", 10, "2024-01-05", subscription_id=f"T{i}") for i in range(5)]
    load_book(book, more)  # 5 of 8 accounts: rebuilt whole after the load
    stored = book.duckdb.execute(f"SELECT * FROM {revenue_ledger.TABLE}").fetch_df()
    built = []
    whole = revenue_ledger._rows_sql

    def spy(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs.get("only") is not None)
        return whole(*args, **kwargs)

    monkeypatch.setattr(revenue_ledger, "_rows_sql", spy)
    load_book(book, [sub("N0", 10, "2024-01-05", "2024-05-15", subscription_id="T0")])
    assert built == [True]  # one account of eight: only its rows, inside the load
    assert reads_ledger(book, start=june, end=june, by=())
    after = book.duckdb.execute(f"SELECT * FROM {revenue_ledger.TABLE}").fetch_df()
    order = ["account_id", "period_start"]
    others = after[after["account_id"] != "N0"].sort_values(order).reset_index(drop=True)
    unchanged = stored[stored["account_id"] != "N0"].sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(others, unchanged)
    assert _mrr(book, june) == before + 40  # N1..N4 pay 10 each; N0 ended in May
    with without_ledger(book):
        assert _mrr(book, june) == before + 40
    n0 = after[after["account_id"] == "N0"].sort_values("period_start")
    assert list(n0["movement"]) == ["new", "unchanged", "unchanged", "unchanged", "churned"]


def test_exchange_rates_and_settings_rebuild_it_and_other_requests_compute(
    book: Workspace,
) -> None:
    may = dt.date(2024, 5, 1)
    before = _mrr(book, may)
    fx = {"date": dt.date(2024, 5, 20), "currency": "EUR", "rate_to_reporting": 2.0}
    assert book.load("fx_rates", pd.DataFrame([fx])).rejected == 0
    assert reads_ledger(book, start=may, end=may, by=())
    assert _mrr(book, may) == before  # C's billing period started before the new rate
    book.set_setting("policy.fx_rate_date", "month_end")
    assert reads_ledger(book, start=may, end=may, by=())
    assert _mrr(book, may) == 100 + 50 + 60  # C's 30 EUR at May's last rate, 2
    # The default policy, asked for explicitly, is computed rather than read.
    default = RevenuePolicy()
    query = make_query(
        book,
        [metric("mrr")],
        grain="month",
        start=may,
        end=may,
        by=(),
        where=None,
        policy=default,
    )
    assert revenue_ledger.rows(query) is None
    assert _mrr(book, may, policy=default) == before
    # Months past those the ledger covers are computed, and agree with the last it holds.
    month = dt.date.today().replace(day=1)
    later = dt.date(month.year + 2, month.month, 1)
    assert reads_ledger(book, start=month, end=month, by=())
    assert not reads_ledger(book, start=later, end=later, by=())
    latest = Decimal(str(FX[-1]["rate_to_reporting"]))
    assert _mrr(book, later) == _mrr(book, month) == 100 + 30 * latest
