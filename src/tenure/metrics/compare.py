"""Why another tool shows a different number: a revenue metric under the workspace's policy and
under another one (a vendor preset), and the difference broken down by cause.

The settings that differ are switched one at a time, in the order of RevenuePolicy's fields
(ORDER), from the workspace's policy to the other: each part is the change of that one switch
given the ones before it, so the parts add up exactly to the difference. Each part lists the
accounts whose value the switch changed. Values are the engine's exact decimals (counts are
whole numbers), summed per account, so every sum holds to the last digit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

import ibis
import pandas as pd

from tenure.engine.calendar import next_start
from tenure.errors import QueryError
from tenure.metrics.catalog import Metric, metric
from tenure.metrics.compute import SOURCES, make_query, source_of
from tenure.metrics.policy import RevenuePolicy, preset
from tenure.metrics.tables import Tables

ORDER: tuple[str, ...] = tuple(item.name for item in fields(RevenuePolicy))
PER_ACCOUNT_SOURCES = ("mrr", "scheduled")
Values = dict[tuple[str, dt.date], Any]


@dataclass(frozen=True)
class Comparison:
    """One metric under two policies. `series`: period_start, base, other, difference.
    `parts`: period_start, setting, base_value, other_value, difference (one row per period and
    differing setting, in ORDER). `accounts`: period_start, setting, account_id, name, before,
    after, difference (only accounts the switch changed)."""

    metric: str
    unit: str
    against: str
    base: RevenuePolicy
    other: RevenuePolicy
    settings: tuple[str, ...]
    series: pd.DataFrame
    parts: pd.DataFrame
    accounts: pd.DataFrame


def comparable(name: str) -> Metric:
    """A metric that is the plain sum of one per-account revenue measure (mrr, arr excluded)."""
    m = metric(name)
    measure = m.measures[0] if len(m.measures) == 1 else None
    if (
        measure is None
        or m.definition != measure
        or m.denominator is not None
        or m.trailing
        or m.scale != 1
        or source_of(measure) not in PER_ACCOUNT_SOURCES
    ):
        raise QueryError(
            f"{name} cannot be compared across policies; compare a revenue measure summed over "
            "accounts: mrr, mrr_new, mrr_expansion, mrr_contraction, mrr_churned, "
            "mrr_reactivation, mrr_fx_impact, customers, new_customers, churned_customers, ..."
        )
    return m


def differing(base: RevenuePolicy, other: RevenuePolicy) -> tuple[str, ...]:
    """The settings on which two policies disagree, in ORDER."""
    return tuple(n for n in ORDER if getattr(base, n) != getattr(other, n))


def compare(
    tables: Tables,
    name: str,
    against: str,
    *,
    grain: str = "month",
    start: dt.date | None = None,
    end: dt.date | None = None,
    where: str | None = None,
    base: RevenuePolicy | None = None,
) -> Comparison:
    """`name` per period under `base` (default: the workspace's policy) and under the preset
    `against`, with the difference split by setting (see the module docstring)."""
    m = comparable(name)
    first = base or tables.policy
    other = preset(against)
    settings = differing(first, other)
    steps = [first]
    for setting in settings:
        steps.append(replace(steps[-1], **{setting: getattr(other, setting)}))
    values = [_per_account(tables, m, p, grain, start, end, where) for p in steps]
    query = make_query(
        tables, [m], grain=grain, start=start, end=end, by=(), where=where, policy=first
    )
    periods = _periods(query.first, query.last, grain)
    zero = Decimal(0) if m.unit == "currency" else 0  # money stays exact decimals
    totals = [_totals(v, periods, zero) for v in values]
    series = pd.DataFrame(
        {
            "period_start": periods,
            "base": totals[0],
            "other": totals[-1],
            "difference": [b - a for a, b in zip(totals[0], totals[-1], strict=True)],
        }
    )
    part_rows: list[dict[str, Any]] = []
    account_frames: list[pd.DataFrame] = []
    for index, setting in enumerate(settings):
        before, after = totals[index], totals[index + 1]
        for day, a, b in zip(periods, before, after, strict=True):
            part_rows.append(
                {
                    "period_start": day,
                    "setting": setting,
                    "base_value": _text(getattr(first, setting)),
                    "other_value": _text(getattr(other, setting)),
                    "difference": b - a,
                }
            )
        account_frames.append(_changed(values[index], values[index + 1], setting, zero))
    parts = pd.DataFrame(
        part_rows,
        columns=["period_start", "setting", "base_value", "other_value", "difference"],
    )
    accounts = _named(tables, account_frames)
    return Comparison(m.name, m.unit, against, first, other, settings, series, parts, accounts)


def compare_many(
    tables: Tables, names: Sequence[str], against: str, **options: Any
) -> list[Comparison]:
    if not names:
        raise QueryError("name at least one metric to compare")
    return [compare(tables, n, against, **options) for n in dict.fromkeys(names)]


def _per_account(
    tables: Tables,
    m: Metric,
    policy: RevenuePolicy,
    grain: str,
    start: dt.date | None,
    end: dt.date | None,
    where: str | None,
) -> Values:
    """(account_id, period_start) -> the metric's measure, per account and shown period
    (accounts at zero left out)."""
    query = make_query(
        tables, [m], grain=grain, start=start, end=end, by=(), where=where, policy=policy
    )
    measure = m.measures[0]
    rows = SOURCES[source_of(measure)].build(query)
    shown = (rows.period_start >= query.first) & (rows.period_start <= query.last)
    missing = rows.fx_missing if "fx_missing" in rows.columns else ibis.literal(0)
    rows = rows.filter(shown & ((rows[measure] != 0) | (missing > 0)))
    frame: pd.DataFrame = query.run(
        rows.select("account_id", "period_start", value=rows[measure], fx_missing=missing)
    )
    if (frame["fx_missing"] > 0).any() or frame["value"].isna().any():
        raise QueryError(
            "some amounts have no exchange rate on or before their date; load fx_rates rows "
            f"for their currencies into {tables.reporting_currency} first"
        )
    values: Values = {}
    for account, day, value in zip(
        frame["account_id"], frame["period_start"], frame["value"], strict=True
    ):
        key = (str(account), _day(day))
        values[key] = values.get(key, 0) + value
    return values


def _day(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _periods(first: dt.date, last: dt.date, grain: str) -> list[dt.date]:
    days = [first]
    while days[-1] < last:
        days.append(next_start(days[-1], grain))
    return days


def _totals(values: Values, periods: list[dt.date], zero: Any) -> list[Any]:
    by_period: dict[dt.date, Any] = dict.fromkeys(periods, zero)
    for (_, day), value in values.items():
        by_period[day] = by_period[day] + value
    return [by_period[day] for day in periods]


def _changed(before: Values, after: Values, setting: str, zero: Any) -> pd.DataFrame:
    """The accounts whose value one switch changed, per period."""
    rows = []
    for account, day in sorted(before.keys() | after.keys(), key=lambda k: (k[1], k[0])):
        was, now = before.get((account, day), zero), after.get((account, day), zero)
        if now != was:
            rows.append((day, setting, account, was, now, now - was))
    return pd.DataFrame(
        rows, columns=["period_start", "setting", "account_id", "before", "after", "difference"]
    )


def _named(tables: Tables, frames: list[pd.DataFrame]) -> pd.DataFrame:
    columns = ["period_start", "setting", "account_id", "name", "before", "after", "difference"]
    found = [f for f in frames if len(f)]
    if not found:
        return pd.DataFrame(columns=columns)
    moved = pd.concat(found, ignore_index=True)
    accounts = tables.table("accounts")
    names = tables.backend.execute(accounts.select("account_id", "name"))
    moved = moved.merge(names, on="account_id", how="left")
    order = {s: i for i, s in enumerate(ORDER)}
    moved["_order"] = moved["setting"].map(order)
    moved = moved.sort_values(["period_start", "_order", "account_id"], kind="stable")
    return moved[columns].reset_index(drop=True)


def _text(value: object) -> str:
    return "none" if value is None else str(value)


def wide(c: Comparison) -> pd.DataFrame:
    """One row per period: metric, period_start, the workspace's value, the other policy's
    (named after the preset), the difference, and one column per differing setting (its part)."""
    frame = pd.DataFrame(
        {
            "metric": c.metric,
            "period_start": c.series["period_start"],
            "workspace": c.series["base"],
            c.against: c.series["other"],
            "difference": c.series["difference"],
        }
    )
    for setting in c.settings:
        part = c.parts[c.parts["setting"] == setting]
        frame[setting] = part["difference"].tolist()
    return frame
