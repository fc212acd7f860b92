"""The same metric catalog on DuckDB and on Apache Spark (local mode) gives the same numbers."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import tenure
from tenure.demo import DemoResult
from tenure.metrics.catalog import CATALOG
from tenure.workspace import Workspace

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None, reason="Spark needs Java; `make test` installs it"
)
FIRST, LAST = dt.date(2025, 1, 1), dt.date(2026, 10, 1)


@pytest.fixture(scope="module")
def both(
    demo_ws: tuple[Workspace, DemoResult], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Workspace, Workspace]:
    duck, _ = demo_ws
    folder = tmp_path_factory.mktemp("parquet")
    duck.export(folder)
    spark = tenure.connect(f"pyspark://{Path(folder).resolve()}")
    return duck, spark


def _same(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> None:
    left = left.sort_values(keys).reset_index(drop=True)
    right = right.sort_values(keys).reset_index(drop=True)
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right) > 0
    for column in left.columns:
        for a, b in zip(left[column], right[column], strict=True):
            if a is None or b is None or (isinstance(a, float) and a != a):
                assert (a is None or a != a) and (b is None or b != b), (column, a, b)
            elif isinstance(a, (float, Decimal, int)) and not isinstance(a, bool):
                assert float(a) == pytest.approx(float(b), rel=1e-9, abs=1e-6), (column, a, b)
            else:
                assert str(a) == str(b), (column, a, b)


def test_every_metric_matches_by_segment(both: tuple[Workspace, Workspace]) -> None:
    duck, spark = both
    names = list(CATALOG)
    options = {"start": FIRST, "end": LAST, "by": ["plan"]}
    _same(
        duck.metrics(names, **options),  # type: ignore[arg-type]
        spark.metrics(names, **options),  # type: ignore[arg-type]
        ["metric", "period_start", "plan"],
    )


def test_filters_and_grains_match(both: tuple[Workspace, Workspace]) -> None:
    duck, spark = both
    # Every metric is compared by month in test_every_metric_matches_by_segment; here a money
    # balance, a rate, a per-user average and an order metric under a filter by week (over the
    # last quarter: the week calendar is what differs, a year of weeks only repeats it).
    names = ["mrr", "customer_churn_rate", "arpu", "repeat_purchase_rate"]
    options = {"start": dt.date(2026, 7, 1), "end": LAST, "grain": "week", "where": "seats >= 5"}
    _same(
        duck.metrics(names, **options),  # type: ignore[arg-type]
        spark.metrics(names, **options),  # type: ignore[arg-type]
        ["metric", "period_start"],
    )
    # By quarter, split by the subscription segments read at each period's end,
    # with the segment entering / leaving lines of the MRR bridge (their customer counts are
    # compared on DuckDB only: on Spark they take four times as long as these together).
    names = ["mrr", "mrr_segment_entering", "mrr_segment_leaving"]
    by = ["paid_plan", "billing_interval"]
    options = {"start": FIRST, "end": LAST, "grain": "quarter", "by": by}
    _same(
        duck.metrics(names, **options),  # type: ignore[arg-type]
        spark.metrics(names, **options),  # type: ignore[arg-type]
        ["metric", "period_start", *by],
    )
    # Drill-downs are compared in test_lifecycle_by_week_drill_stickiness_and_retention_match.


def test_cohorts_and_survival_match(both: tuple[Workspace, Workspace]) -> None:
    duck, spark = both
    keys = ["cohort", "offset"]
    _same(duck.cohorts(start=FIRST, end=LAST), spark.cohorts(start=FIRST, end=LAST), keys)
    as_of = dt.date(2026, 11, 1)
    duck_curve, duck_summary = duck.survival(as_of=as_of, by=["plan"])
    spark_curve, spark_summary = spark.survival(as_of=as_of, by=["plan"])
    _same(duck_curve, spark_curve, ["plan", "duration"])
    _same(duck_summary, spark_summary, ["plan"])


def test_usage_metrics_by_their_dimensions_and_funnels_match(
    both: tuple[Workspace, Workspace],
) -> None:
    from tenure.metrics.usage_catalog import USAGE_METRICS

    duck, spark = both
    options = {"start": dt.date(2026, 4, 1), "end": dt.date(2026, 9, 1)}
    for dimension in ("page", "feature", "share_channel", "survey", "ticket_channel"):
        names = [m.name for m in USAGE_METRICS if dimension in m.dimensions]
        _same(
            duck.metrics(names, by=[dimension], **options),  # type: ignore[arg-type]
            spark.metrics(names, by=[dimension], **options),  # type: ignore[arg-type]
            ["metric", "period_start", dimension],
        )
    engagement = [m.name for m in USAGE_METRICS if m.area == "engagement"]
    weekly = {"start": dt.date(2026, 8, 1), "end": dt.date(2026, 9, 30), "grain": "week"}
    _same(
        duck.metrics(engagement, **weekly),  # type: ignore[arg-type]
        spark.metrics(engagement, **weekly),  # type: ignore[arg-type]
        ["metric", "period_start"],
    )
    steps = ["visit", "signup", "onboarding_step", "converted_to_paid"]
    _same(
        duck.funnel(steps, by=["plan"], **options),
        spark.funnel(steps, by=["plan"], **options),
        ["period_start", "plan", "step"],
    )


def test_lifecycle_by_week_drill_stickiness_and_retention_match(
    both: tuple[Workspace, Workspace],
) -> None:
    from tenure.metrics.lifecycle import LIFECYCLE_METRICS

    duck, spark = both
    names = [m.name for m in LIFECYCLE_METRICS]
    weekly = {"start": dt.date(2026, 7, 1), "end": dt.date(2026, 9, 30), "grain": "week"}
    _same(
        duck.metrics(names, where="seats >= 5", **weekly),  # type: ignore[arg-type]
        spark.metrics(names, where="seats >= 5", **weekly),  # type: ignore[arg-type]
        ["metric", "period_start"],
    )
    for name, key in (
        ("lifecycle_resurrecting", "user_id"),
        ("account_lifecycle_dormant", "account_id"),
    ):
        _same(duck.drill(name, "2026-03"), spark.drill(name, "2026-03"), [key])
    span = {"start": dt.date(2026, 1, 1), "end": dt.date(2026, 6, 30)}
    _same(
        duck.stickiness(by=["plan"], unit="account", **span),  # type: ignore[arg-type]
        spark.stickiness(by=["plan"], unit="account", **span),  # type: ignore[arg-type]
        ["period_start", "plan", "days_active"],
    )
    for kind, unit, bracket in (
        ("first_time", "user", "exact"),
        ("recurring", "account", "on_or_after"),
    ):
        options = {"kind": kind, "unit": unit, "bracket": bracket, "grain": "month", "periods": 4}
        _same(
            duck.retention(**options, **span),  # type: ignore[arg-type]
            spark.retention(**options, **span),  # type: ignore[arg-type]
            ["cohort_start", "offset"],
        )


def test_subscription_states_match(ws: Workspace, tmp_path: Path) -> None:
    """Cancellations without an end, pauses, past-due, trials, returns, one-period payers and
    taxed orders under the other value of every subscription-state and order policy, by month
    and by quarter."""
    from tenure.metrics.compare import compare
    from tenure.metrics.policy import RevenuePolicy
    from tests.books import day, load_book, sub

    this_month = dt.date.today().replace(day=1)
    a_year_ago = this_month.replace(year=this_month.year - 1).isoformat()
    load_book(
        ws,
        [
            sub("A", 100, "2025-01-10", canceled_at="2025-03-20"),
            sub("B", 1200, "2024-06-15", billing_period=12, canceled_at="2025-02-01"),
            sub(
                "P",
                100,
                "2025-01-01",
                paused_from=pd.Timestamp("2025-02-15"),
                paused_until=pd.Timestamp("2025-04-10"),
            ),
            sub("T", 100, "2025-01-10", trial_ends_at="2025-02-10", discount=0.5),
            sub("F", 100, "2025-01-01", discount=1),
            sub("R", 100, "2025-01-01", "2025-02-01"),
            sub("R", 100, "2025-03-15"),
            sub("J", 100, "2025-03-05", "2025-03-20"),
            sub("X", 100, a_year_ago, status="past_due"),
            sub("EU", 1200, "2024-11-01", currency="EUR", billing_period=12),
        ],
        fx=[
            {"date": dt.date(2024, 10, 1), "currency": "EUR", "rate_to_reporting": 1.1},
            {"date": dt.date(2025, 3, 1), "currency": "EUR", "rate_to_reporting": 1.2},
        ],
        orders=[
            {"account_id": "A", "ordered_at": day("2025-02-03"), "amount": 120, "tax": 20},
            {
                "account_id": "A",
                "ordered_at": day("2025-02-09"),
                "amount": 60,
                "tax": 10,
                "kind": "refund",
            },
        ],
    )
    folder = tmp_path / "parquet"
    ws.export(folder)
    spark = tenure.connect(f"pyspark://{folder.resolve()}")
    names = [
        "mrr",
        "mrr_new",
        "mrr_expansion",
        "mrr_contraction",
        "mrr_churned",
        "mrr_reactivation",
        "customers",
        "customer_churn_rate",
        "scheduled_churn_mrr",
        "revenue",
    ]
    # The default values are compared on the demo company in test_every_metric_matches_by_segment;
    # here every other value at once, on a book that exercises each of them.
    policies = [
        RevenuePolicy(
            pause="churn",
            past_due="exclude_after_days:10",
            reactivation_window_days=30,
            trials="paying_at_zero",
            same_period_churn="counted",
            scheduled_churn_days=60,
            taxes="included",
            refunds="deducted",
            fx_rate_date="month_end",
        ),
    ]
    for policy in policies:
        for grain in ("month", "quarter"):
            options = {"start": dt.date(2025, 1, 1), "grain": grain, "policy": policy}
            _same(
                ws.metrics(names, **options),  # type: ignore[arg-type]
                spark.metrics(names, **options),  # type: ignore[arg-type]
                ["metric", "period_start"],
            )
    # A vendor preset is such a bundle; its comparison splits the difference by setting.
    duck_stripe, spark_stripe = (
        compare(side, "mrr", "stripe", start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 1))
        for side in (ws, spark)
    )
    assert duck_stripe.parts["difference"].abs().sum() > 0
    _same(duck_stripe.parts, spark_stripe.parts, ["period_start", "setting"])
    _same(duck_stripe.accounts, spark_stripe.accounts, ["period_start", "setting", "account_id"])
