"""Cohort retention tables, built on the MRR rows of mrr.py (survival is in tenure.models.survival)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import pandas as pd

from tenure.engine.calendar import parse_period, shift
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
    # A cohort keeps the segments its accounts had at the end of the period they joined in.
    rows = query.with_segments(account_mrr(query), day="cohort")
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


def cohort_accounts(
    tables: Tables,
    cohort: dt.date,
    offset: int,
    *,
    grain: str = "month",
    where: str | None = None,
    policy: RevenuePolicy | None = None,
) -> pd.DataFrame:
    """The accounts behind one cell of the cohort table: every account that first paid in the
    period holding `cohort`, whether it was active `offset` periods later, its starting MRR and
    its MRR then. `frame.attrs` carries the cell's retention (value), active accounts
    (numerator) and cohort size (denominator), as `cohorts` counts them."""
    first = parse_period(cohort.isoformat(), grain)
    later = shift(first, grain, offset)
    query = make_query(
        tables, [], grain=grain, start=first, end=later, by=(), where=where, policy=policy
    )
    rows = account_mrr(query)
    rows = rows.filter(rows.cohort == first)
    joined = rows.filter(rows.period_start == first, rows.customers_new > 0).select(
        "account_id", starting_mrr="mrr_new"
    )
    then = rows.filter(rows.period_start == later).select(
        then_account="account_id", active="customers_end", mrr="mrr_end"
    )
    names = query.accounts.select(name_account="account_id", name="name")
    found = joined.left_join(then, joined.account_id == then.then_account)
    found = found.left_join(names, found.account_id == names.name_account)
    found = found.select(
        "account_id",
        "name",
        active=ibis.coalesce(found.active, 0),
        starting_mrr=found.starting_mrr,
        mrr=ibis.coalesce(found.mrr, 0),
    )
    result: pd.DataFrame = found.order_by(ibis.desc("starting_mrr"), "account_id").to_pandas()
    size, active = len(result), int(result["active"].sum())
    result.attrs = {
        "period_start": later,
        "definition": "accounts of the cohort active then / accounts that first paid in it",
        "unit": "percent",
        "value": 100.0 * active / size if size else None,
        "numerator": active,
        "denominator": size,
    }
    return result
