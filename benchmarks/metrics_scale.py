"""Revenue and retention metrics at scale: 100k accounts, ~1M subscription-months, 1M orders.

Every metric of the catalog, monthly over 24 months, split by plan (an account attribute) and
by the plan paid for at each month's end, and by an owner that a tenth of the accounts change
once (a point-in-time attribute, read at each month's end), against a baseline measured in the same run: one
hand-written DuckDB query that scans the same tables once (monthly MRR by plan from
subscriptions x calendar, and order revenue by month and plan). The loads build the revenue
ledger that monthly revenue metrics read, as they do for a user.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

import tenure
from tenure.metrics.catalog import CATALOG
from tenure.metrics.compute import splits_by_subscription
from tenure.metrics.revenue_catalog import REVENUE_METRICS
from timing import best_of

FIRST, LAST = dt.date(2024, 11, 1), dt.date(2026, 10, 1)
BASELINE = """
WITH periods AS (
    SELECT range AS period_start, range + INTERVAL 1 MONTH AS period_end
    FROM range(TIMESTAMP '2024-11-01', TIMESTAMP '2026-11-01', INTERVAL 1 MONTH)
),
mrr AS (
    SELECT a.plan, p.period_start,
           sum(s.amount * s.quantity * (1 - s.discount) / s.billing_period) AS mrr,
           count(DISTINCT s.account_id) AS customers
    FROM subscriptions s
    JOIN accounts a USING (account_id)
    JOIN periods p ON s.started_at < p.period_end
        AND (s.ended_at IS NULL OR s.ended_at >= p.period_end)
    GROUP BY ALL
),
sales AS (
    SELECT a.plan, date_trunc('month', o.ordered_at) AS period_start,
           sum(o.amount) AS revenue, count(*) AS purchases
    FROM orders o JOIN accounts a USING (account_id)
    GROUP BY ALL
)
SELECT * FROM mrr FULL JOIN sales USING (plan, period_start)
"""


def generate(accounts: int, orders: int, seed: int) -> list[tuple[str, pd.DataFrame]]:
    """The tables to load, in order: the accounts twice (a tenth of them change owner)."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"A{i:07d}" for i in range(accounts)])
    plans = rng.choice(["starter", "growth", "enterprise"], accounts, p=[0.6, 0.3, 0.1])
    origin = np.datetime64("2023-01-01T00:00:00")
    joined = origin + (rng.uniform(0, 1400, accounts) * 86400).astype("timedelta64[s]")
    lifetime = (rng.exponential(820, accounts) * 86400).astype("timedelta64[s]")
    ended = joined + lifetime
    open_ = ended > np.datetime64("2026-11-01")
    price = {"starter": 29.0, "growth": 99.0, "enterprise": 499.0}
    amount = np.array([price[p] for p in plans]) * rng.choice([1, 12], accounts, p=[0.8, 0.2])
    period = np.where(amount > 600, 12, 1)
    # A third of accounts change seats half-way (before the data ends): a second subscription.
    middle = joined + (lifetime // 2)
    change = (rng.random(accounts) < 0.33) & (middle < np.datetime64("2026-11-01"))
    quantity = rng.integers(1, 20, accounts)
    first = pd.DataFrame(
        {
            "subscription_id": [f"S{i:07d}" for i in range(accounts)],
            "account_id": ids,
            "plan": plans,
            "started_at": joined,
            "ended_at": np.where(change, middle, np.where(open_, np.datetime64("NaT"), ended)),
            "billing_period": period,
            "amount": amount,
            "quantity": quantity,
            "currency": rng.choice(["USD", "EUR"], accounts, p=[0.7, 0.3]),
        }
    )
    second = first[change].copy()
    second["subscription_id"] = [f"T{i:07d}" for i in range(len(second))]
    second["started_at"] = middle[change]
    second["ended_at"] = np.where(open_[change], np.datetime64("NaT"), ended[change])
    second["quantity"] = np.maximum(1, quantity[change] + rng.integers(-5, 6, change.sum()))
    buyer = rng.integers(0, accounts, orders)
    order_frame = pd.DataFrame(
        {
            "order_id": [f"O{i:08d}" for i in range(orders)],
            "account_id": ids[buyer],
            "ordered_at": origin + (rng.uniform(0, 1400, orders) * 86400).astype("timedelta64[s]"),
            "amount": np.round(rng.gamma(2.0, 40.0, orders), 2),
            "currency": "USD",
            "kind": "one_time",
        }
    )
    months = pd.date_range("2022-12-01", "2026-11-01", freq="MS")
    owners = rng.choice([f"owner{i:02d}" for i in range(20)], accounts)
    account_frame = pd.DataFrame(
        {"account_id": ids, "name": ids, "created_at": joined, "plan": plans, "owner": owners}
    )
    moved = account_frame[rng.random(accounts) < 0.1].copy()
    moved["owner"] = rng.choice([f"owner{i:02d}" for i in range(20)], len(moved))
    moved["valid_from"] = origin + (rng.uniform(700, 1400, len(moved)) * 86400).astype(
        "timedelta64[s]"
    )
    return [
        (
            "fx_rates",
            pd.DataFrame(
                {
                    "date": months.date,
                    "currency": "EUR",
                    "rate_to_reporting": 1.05 + 0.05 * np.sin(np.arange(len(months))),
                }
            ),
        ),
        ("accounts", account_frame),
        ("accounts", moved),
        (
            "users",
            pd.DataFrame(
                {
                    "user_id": [f"U{i:08d}" for i in range(3 * accounts)],
                    "account_id": np.repeat(ids, 3),
                    "created_at": np.repeat(joined, 3),
                }
            ),
        ),
        ("subscriptions", pd.concat([first, second], ignore_index=True)),
        ("orders", order_frame),
        (
            "costs",
            pd.DataFrame(
                {
                    "period_start": months.date,
                    "period_end": (months + pd.offsets.MonthEnd(0)).date,
                    "category": "sales",
                    "amount": 100_000.0,
                    "currency": "USD",
                }
            ),
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenure-bench-") as tmp:
        folder = Path(tmp)
        with tenure.connect(f"duckdb:///{folder / 'bench.duckdb'}") as ws:
            for table, frame in generate(args.accounts, args.orders, seed=3):
                report = ws.load(table, frame)
                assert report.rejected == 0, report
            con = ws.duckdb
            sub_months = con.execute(
                "SELECT count(*) FROM subscriptions s JOIN range(TIMESTAMP '2024-12-01', "
                "TIMESTAMP '2026-12-01', INTERVAL 1 MONTH) p(t) ON s.started_at < p.t "
                "AND (s.ended_at IS NULL OR s.ended_at >= p.t)"
            ).fetchone()[0]
            print(
                f"data: {args.accounts:,} accounts, {sub_months:,} subscription-months over 24 "
                f"months, {args.orders:,} orders",
                flush=True,
            )
            baseline = best_of(args.runs, lambda: con.execute(BASELINE).fetch_df())
            revenue_retention = [
                n for n, m in CATALOG.items() if m.area in ("revenue", "retention")
            ]
            issue_three = [m.name for m in REVENUE_METRICS]
            paid = [n for n in revenue_retention if splits_by_subscription(CATALOG[n])]
            print(f"baseline single DuckDB query: {baseline:.3f} s")
            for label, names, by in (
                (
                    f"{len(revenue_retention)} revenue and retention metrics",
                    revenue_retention,
                    "plan",
                ),
                (
                    f"all {len(issue_three)} revenue, retention, value and cost metrics",
                    issue_three,
                    "plan",
                ),
                (f"{len(paid)} of them by the plan paid for", paid, "paid_plan"),
                (
                    f"{len(revenue_retention)} revenue and retention metrics",
                    revenue_retention,
                    "owner",
                ),
            ):
                options = {"start": FIRST, "end": LAST, "by": [by]}
                first, again = _timed(ws, names, options, args.runs)
                print(
                    f"{label}, monthly x 24, by {by}: first request {first:.3f} s = "
                    f"{first / baseline:.1f}x baseline; again (compiled SQL reused) {again:.3f} s = "
                    f"{again / baseline:.1f}x"
                )


def _timed(
    ws: tenure.Workspace, names: list[str], options: dict[str, object], runs: int
) -> tuple[float, float]:
    """The best time of a request whose shape is new (the expression built and compiled) and
    of the same request again, as after a load (its compiled SQL reused)."""

    def first() -> None:
        ws.compiled.clear()
        ws.metrics(names, **options)  # type: ignore[arg-type]

    cold = best_of(runs, first)
    warm = best_of(runs, lambda: ws.metrics(names, **options))  # type: ignore[arg-type]
    return cold, warm


if __name__ == "__main__":
    main()
