"""Cohort retention tables, built on the MRR rows of mrr.py (survival is in tenure.models.survival)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import pandas as pd

from tenure.metrics.compute import make_query
from tenure.metrics.mrr import account_mrr
from tenure.metrics.policy import RevenuePolicy
from tenure.metrics.tables import Tables


def cohorts(
    tables: Tables,
    *,
    grain: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: Sequence[str] = (),
    where: str | None = None,
    policy: RevenuePolicy | None = None,
) -> pd.DataFrame:
    """Accounts grouped by the period they first paid in (within the range), followed through
    every later period: cohort_size, active (logos) and retention %, starting_mrr (MRR at the end
    of the first period), mrr and revenue_retention %."""
    query = make_query(
        tables, [], grain=grain, start=start, end=end, by=by, where=where, policy=policy
    )
    rows = query.with_segments(account_mrr(query))
    rows = rows.filter(rows.cohort >= query.first, rows.period_index >= 1)
    grouped = rows.group_by("cohort", "period_index", "period_start", *query.by).aggregate(
        joined=rows.customers_new.sum(),
        new_mrr=rows.mrr_new.sum(),
        active=rows.customers_end.sum(),
        mrr=rows.mrr_end.sum(),
    )
    cohort = ibis.window(group_by=["cohort", *query.by])
    first_row = grouped.cohort == grouped.period_start
    table = grouped.mutate(
        offset=grouped.period_index - grouped.period_index.min().over(cohort),
        cohort_size=ibis.cases((first_row, grouped.joined), else_=0).max().over(cohort),
        starting_mrr=ibis.cases((first_row, grouped.new_mrr)).max().over(cohort),
    )
    table = table.select(
        "cohort",
        "period_start",
        "offset",
        *query.by,
        "cohort_size",
        "active",
        retention=table.active.cast("float64") * 100 / table.cohort_size.cast("float64"),
        starting_mrr=table.starting_mrr,
        mrr=table.mrr,
        revenue_retention=table.mrr.cast("float64") * 100 / table.starting_mrr.cast("float64"),
    )
    result: pd.DataFrame = table.order_by("cohort", *query.by, "offset").to_pandas()
    for column in ("cohort", "period_start"):
        result[column] = pd.to_datetime(result[column]).dt.date
    return result
