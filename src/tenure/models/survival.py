"""Kaplan-Meier survival of account lifetimes: the engine groups the paying spells of mrr.py into
lifetimes, kaplan_meier.py estimates the curve per segment."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import ibis
import pandas as pd

from tenure.metrics.compute import make_query
from tenure.metrics.mrr import paying_spells
from tenure.metrics.policy import RevenuePolicy
from tenure.metrics.query import flag
from tenure.metrics.tables import Tables
from tenure.models.kaplan_meier import kaplan_meier, median_survival

DAYS_PER_MONTH = 365.25 / 12


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
    lives = query.with_segments(lives.mutate(observed=observed, finish=finish))
    seconds = lives.finish.epoch_seconds() - lives.began.epoch_seconds()
    lives = lives.mutate(duration=seconds.cast("float64") / 86400)
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
