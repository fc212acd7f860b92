"""Invariants of the revenue and retention metrics over random subscription histories."""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tenure
from tests.books import load_book

BASE = dt.datetime(2024, 1, 1)
spell = st.tuples(
    st.integers(0, 540),  # start, days after BASE
    st.one_of(st.none(), st.integers(1, 400)),  # length in days (None: still open)
    st.sampled_from([0, 9.99, 25, 100, 1200]),
    st.sampled_from([1, 3, 12]),
    st.sampled_from(["USD", "EUR"]),
    st.integers(1, 3),  # quantity
)
history = st.lists(st.lists(spell, min_size=1, max_size=3), min_size=1, max_size=12)
FX = [
    {
        "date": dt.date(2023, 12, 1) + dt.timedelta(days=61 * i),
        "currency": "EUR",
        "rate_to_reporting": r,
    }
    for i, r in enumerate([1.1, 1.05, 1.2, 0.95, 1.0, 1.15, 1.08, 1.12, 1.3, 1.01, 0.99, 1.04])
]
NAMES = [
    "mrr",
    "mrr_net_change",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churned",
    "mrr_reactivation",
    "mrr_fx_impact",
    "grr",
    "nrr",
    "customer_churn_rate",
    "customer_churn_rate_period_total",
    "customer_retention_rate",
    "new_customers",
]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history)
def test_movements_reconcile_and_rates_stay_in_bounds(accounts: list) -> None:
    subs = []
    for number, spells in enumerate(accounts):
        for start, length, amount, period, currency, quantity in spells:
            began = BASE + dt.timedelta(days=start, hours=number)
            subs.append(
                {
                    "account_id": f"A{number:02}",
                    "amount": amount,
                    "started_at": began,
                    "ended_at": None if length is None else began + dt.timedelta(days=length),
                    "billing_period": period,
                    "currency": currency,
                    "quantity": quantity,
                }
            )
    with tenure.connect("duckdb://") as ws:
        load_book(ws, subs, fx=FX)
        first, last = dt.date(2024, 1, 1), dt.date(2025, 12, 1)
        wide = ws.metrics(NAMES, start=first, end=last).pivot(
            index="period_start", columns="metric", values="value"
        )
        movements = [
            "mrr_new",
            "mrr_expansion",
            "mrr_contraction",
            "mrr_churned",
            "mrr_reactivation",
            "mrr_fx_impact",
        ]
        for period, row in wide.iterrows():
            assert sum(row[m] for m in movements) == row["mrr_net_change"], period
            for rate in (
                "grr",
                "customer_churn_rate",
                "customer_churn_rate_period_total",
                "customer_retention_rate",
            ):
                assert row[rate] is None or -1e-9 <= row[rate] <= 100 + 1e-9, (
                    period,
                    rate,
                    row[rate],
                )
            assert row["nrr"] is None or row["nrr"] >= -1e-9
        opening = ws.metrics(["mrr"], start=dt.date(2023, 12, 1), end=dt.date(2023, 12, 1))
        assert wide["mrr_net_change"].sum() == wide["mrr"].iloc[-1] - opening["value"].iloc[0]
        cohorts = ws.cohorts(start=first, end=last)
        sizes = cohorts[cohorts["offset"] == 0].set_index("cohort")["cohort_size"]
        new = wide["new_customers"]
        for period, count in new.items():
            assert sizes.get(period, 0) == count, period
