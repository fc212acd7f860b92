"""Kaplan-Meier survival of account lifetimes: the engine groups the paying spells of mrr.py into
lifetimes, kaplan_meier.py estimates the curve per segment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from tenure.errors import QueryError
from tenure.metrics.compute import make_query
from tenure.metrics.mrr import paying_spells
from tenure.metrics.policy import RevenuePolicy
from tenure.metrics.query import Query, flag
from tenure.metrics.tables import Tables
from tenure.models.kaplan_meier import kaplan_meier, median_survival

DAYS_PER_MONTH = 365.25 / 12


def _lifetimes(
    tables: Tables,
    as_of: dt.date | None,
    by: Sequence[str],
    where: str | None,
    policy: RevenuePolicy | None,
) -> tuple[Query, ir.Table]:
    """One row per account that paid before `as_of`: began, finish, observed (churned),
    duration (days) and its segments."""
    day = as_of or dt.date.today()
    query = make_query(
        tables, [], grain="day", start=day, end=day, by=by, where=where, policy=policy
    )
    spells = paying_spells(query)
    cutoff = ibis.timestamp(dt.datetime.combine(day, dt.time()))
    spells = spells.filter(spells.pay_from < cutoff)
    lives = spells.group_by("account_id").aggregate(
        began=spells.pay_from.min(),
        ended=spells.pay_to.max(),
        open_spells=flag(spells.pay_to.isnull() | (spells.pay_to > cutoff)).sum(),
    )
    observed = lives.open_spells == 0
    finish = ibis.cases((observed, lives.ended), else_=cutoff)
    # The segments of the day the life ended (or of as_of, still paying).
    lives = lives.mutate(observed=observed, finish=finish, ended_on=query.local(finish).date())
    lives = query.with_segments(lives, day="ended_on").drop("ended_on")
    seconds = lives.finish.epoch_seconds() - lives.began.epoch_seconds()
    return query, lives.mutate(duration=seconds.cast("float64") / 86400)


def survival(
    tables: Tables,
    *,
    as_of: dt.date | None = None,
    by: Sequence[str] = (),
    where: str | None = None,
    policy: RevenuePolicy | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kaplan-Meier survival of account lifetimes (in days, from the first paid instant to the end of the
    last paid spell; accounts still paying at `as_of` are censored there). Returns the curve per segment
    (duration in days) and a summary with accounts, churned and median lifetime per segment."""
    query, lives = _lifetimes(tables, as_of, by, where, policy)
    grouped = (
        lives.group_by(*query.by, "duration", "observed")
        .aggregate(count=ibis._.count())
        .to_pandas()
    )
    curves, summary = [], []
    keys = list(query.by)
    groups = grouped.groupby(keys, dropna=False) if keys else [((), grouped)]
    for key, group in groups:
        curve = kaplan_meier(group["duration"], group["observed"], group["count"])
        labels = dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True))
        curves.append(curve.assign(**labels))
        median = median_survival(curve)
        summary.append(
            {
                **labels,
                "accounts": int(group["count"].sum()),
                "churned": int(group.loc[group["observed"], "count"].sum()),
                "median_lifetime_days": median,
                "median_lifetime_months": None if median is None else median / DAYS_PER_MONTH,
            }
        )
    curve_frame = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame()
    columns = [*keys, "duration", "at_risk", "events", "censored", "survival"]
    return curve_frame[columns] if curves else curve_frame, pd.DataFrame(summary)


# Distinct lifetimes differ by whole seconds (1.2e-5 days): a tolerance well below that matches
# a duration read back from JSON to the one computed here.
_TOLERANCE_DAYS = 1e-7


def survival_accounts(
    tables: Tables,
    days: float,
    *,
    as_of: dt.date | None = None,
    where: str | None = None,
    policy: RevenuePolicy | None = None,
) -> pd.DataFrame:
    """The accounts behind one point of the survival curve: those at risk at `days` (lifetimes
    at least that long), each flagged `churned_here` when its lifetime ended there. The point's
    events and at_risk are `frame.attrs` numerator and denominator (the curve's step there is
    the survival times 1 - numerator / denominator)."""
    if not 0 <= days <= 1e6:
        raise QueryError("days must be between 0 and 1,000,000")
    query, lives = _lifetimes(tables, as_of, (), where, policy)
    at_risk = lives.filter(lives.duration >= days - _TOLERANCE_DAYS)
    here = at_risk.observed & ((at_risk.duration - days).abs() < _TOLERANCE_DAYS)
    names = query.accounts.select(name_account="account_id", name="name")
    rows = at_risk.mutate(churned_here=here)
    rows = rows.left_join(names, rows.account_id == names.name_account)
    picked = rows.select(
        "account_id",
        "name",
        "began",
        "finish",
        duration_days="duration",
        churned=rows.observed,
        churned_here="churned_here",
    ).order_by(ibis.desc("churned_here"), "duration_days", "account_id")
    result: pd.DataFrame = picked.to_pandas()
    events = int(result["churned_here"].sum())
    result.attrs = {
        "definition": (
            "accounts whose lifetime ended (churned) at this duration / accounts at risk: paying "
            "at least this many days since their first payment (the rest ended later or still pay)"
        ),
        "unit": "percent",
        "value": 100.0 * events / len(result) if len(result) else None,
        "numerator": events,
        "denominator": len(result),
    }
    return result
