"""Lifecycle and stickiness of users and accounts, with PostHog's definitions.

A user is active on a day with an event counted as activity (`Definitions.active_events`, the
active user-days of engagement.py); an account on a day when any of its users is. In a period, an
active unit is *new* when its first activity ever falls in the period, *returning* when it was
also active in the previous period, and *resurrecting* when it was not but had been active
before; a unit active in the previous period and not in this one is *dormant*, counted as a
negative number. So new + returning + resurrecting = active this period, and dormant = -(active
last period - returning this period).

Split by account attributes, a user's lifecycle within a segment reads only the activity under
that segment's accounts (as a filter would): every segment's states add up to its own active
users. An account whose attribute changed counts its days under the value at the end of each
day's period, so moving to another owner is dormant under the old one and new under the new. "First activity ever" reads every event up to the period's end, not only the periods
shown.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import ibis
import ibis.expr.types as ir
import pandas as pd

from tenure.engine import calendar as cal
from tenure.errors import QueryError
from tenure.metrics import attributes_in_time
from tenure.metrics.engagement import USER_DAYS
from tenure.metrics.metric import Metric, measure
from tenure.metrics.query import Query, flag
from tenure.metrics.rollups import rows as rollup_rows
from tenure.metrics.rollups import with_local_time

EARLIEST = dt.date(1900, 1, 1)  # where "ever" starts: older events are not read
UNITS = ("user", "account")
STATES = ("new", "returning", "resurrecting", "dormant")
USER_MEASURES = tuple(f"lifecycle_{s}" for s in STATES)
ACCOUNT_MEASURES = tuple(f"account_lifecycle_{s}" for s in STATES)


def measures_of(unit: str) -> tuple[str, ...]:
    return USER_MEASURES if unit == "user" else ACCOUNT_MEASURES


def unit_of(name: str) -> str | None:
    """The unit whose lifecycle the metric counts, or None for any other metric."""
    if name in USER_MEASURES:
        return "user"
    if name in ACCOUNT_MEASURES:
        return "account"
    return None


def check_unit(unit: str) -> str:
    if unit not in UNITS:
        raise QueryError(f"unknown unit {unit!r}; choose user or account")
    return unit


# -- activity ------------------------------------------------------------------------------------
def activity(query: Query, event: str | None = None) -> ir.Table:
    """Active user-days (account_id, user_id, day) of the query's accounts from the first event
    to the query's last day; with `event`, the days a user sent that event instead."""

    def build() -> ir.Table:
        # The same request from the earliest day: its window is every day up to the last one.
        past = replace(query, first=EARLIEST, lookback=0, by=(), dims=(), _memo={})
        first, last = past.window

        def events() -> ir.Table:
            rows = with_local_time(past.facts("events"), past.tables)
            return rows.filter(rows.day >= first, rows.day <= last)

        if event is None:
            return rollup_rows(past, USER_DAYS, events)
        found = events()
        found = found.filter(found.user_id.notnull(), found.name == event)
        return found.select("account_id", "user_id", "day").distinct()

    result: ir.Table = query.memo(f"lifecycle:activity:{event}", build)
    return result


def unit_keys(query: Query, unit: str) -> list[str]:
    """What identifies one unit within a segment."""
    return [*query.by, "user_id"] if unit == "user" else ["account_id", *query.by]


def active_periods(query: Query, unit: str, event: str | None = None) -> ir.Table:
    """One row per unit (keys of `unit_keys`) and calendar period it was active in:
    period_index, period_start, days_active (distinct days), last_in (last active day in the
    period) and first_day (its first active day ever)."""
    days = query.with_segments(activity(query, event), day="day")
    keys = unit_keys(query, unit)
    days = days.mutate(first_day=days.day.min().over(group_by=keys))
    inside = query.in_period(days)
    return inside.group_by([*keys, "period_index", "period_start"]).aggregate(
        days_active=inside.day.nunique(),
        last_in=inside.day.max(),
        first_day=inside.first_day.min(),
    )


def _last_index(query: Query) -> int:
    """The index of the query's last period in its calendar."""
    before_first = cal.shift(query.computed_first, query.grain, -1)
    return len(cal.period_starts(before_first, query.last, query.grain)) - 1


def states(query: Query, unit: str) -> ir.Table:
    """One row per unit and period in which it is active or was active in the period before:
    its keys, period_index, period_start, first_day, last_active (its last active day up to the
    period's end) and the state measures (1, or -1 for dormant; 0 otherwise)."""
    active = active_periods(query, unit)
    keys = unit_keys(query, unit)
    now = active.select(
        *keys, "period_index", "last_in", "first_day", now=ibis.literal(1), before=ibis.literal(0)
    )
    previous = active.filter(active.period_index < _last_index(query))
    later = previous.select(
        *keys,
        "last_in",
        "first_day",
        period_index=previous.period_index + 1,
        now=ibis.literal(0),
        before=ibis.literal(1),
    )
    both = now.union(later.select(*now.columns))
    marks = both.group_by([*keys, "period_index"]).aggregate(
        now=both.now.max(),
        before=both.before.max(),
        last_active=both.last_in.max(),
        first_day=both.first_day.min(),
    )
    periods = query.calendar.select(state_index="period_index", period_start="period_start")
    rows = marks.join(periods, marks.period_index == periods.state_index).drop("state_index")
    is_now, was = rows.now == 1, rows.before == 1
    first_here = rows.first_day >= rows.period_start
    new, returning, resurrecting, dormant = measures_of(unit)
    return rows.mutate(
        **{
            new: flag(is_now & first_here),
            returning: flag(is_now & was),
            resurrecting: flag(is_now & ~was & ~first_here),
            dormant: -flag(~is_now & was),
        }
    ).drop("now", "before")


def user_states_by_segment(query: Query) -> ir.Table:
    return _by_segment(query, "user")


def account_states_by_segment(query: Query) -> ir.Table:
    return _by_segment(query, "account")


def _by_segment(query: Query, unit: str) -> ir.Table:
    rows = states(query, unit)
    return rows.group_by(["period_index", *query.by]).aggregate(
        **{m: rows[m].sum() for m in measures_of(unit)}
    )


def user_states(query: Query) -> ir.Table:
    return states(query, "user")


def account_states(query: Query) -> ir.Table:
    return states(query, "account")


def drill(query: Query, name: str, day: dt.date) -> pd.DataFrame:
    """The users or accounts in the metric's state in the period starting `day`: their keys
    (accounts with their name), first and last activity up to the period's end."""
    unit = unit_of(name)
    assert unit is not None, name
    rows = states(query, unit)
    rows = rows.filter(rows.period_start == day, rows[name] != 0)
    shown = [*unit_keys(query, unit), "first_day", "last_active", name]
    if unit == "account":
        names = query.accounts.select(name_account="account_id", name="name")
        rows = rows.left_join(names, rows.account_id == names.name_account)
        shown.insert(1, "name")
    picked = rows.select(*shown).order_by(ibis.desc("last_active"), *unit_keys(query, unit))
    result: pd.DataFrame = picked.to_pandas()
    for column in ("first_day", "last_active"):
        result[column] = pd.to_datetime(result[column]).dt.date
    return result


# -- the catalog ---------------------------------------------------------------------------------
_WHAT = {
    "new": "active for the first time ever in the period",
    "returning": "active in the period and in the one before",
    "resurrecting": "active in the period, not in the one before, but active before that",
    "dormant": "active in the period before and not in this one, as a negative count",
}


def _metric(unit: str, state: str) -> Metric:
    prefix = "" if unit == "user" else "account_"
    name = f"{prefix}lifecycle_{state}"
    who = "Users" if unit == "user" else "Accounts (any of their users active)"
    return Metric(
        name,
        "engagement",
        "count",
        f"Lifecycle (PostHog): {who.lower()} {_WHAT[state]}",
        f"{who} {_WHAT[state]} (activity per definition.active_events)",
        (name,),
        measure(name),
    )


LIFECYCLE_METRICS: tuple[Metric, ...] = tuple(_metric(u, s) for u in UNITS for s in STATES)


# -- stickiness ------------------------------------------------------------------------------------
def stickiness(query: Query, unit: str) -> pd.DataFrame:
    """Per period (and segment): how many units were active on exactly k days, for k from 1 to
    the days in the period (0 where none): period_start, segments, days_active, and users or
    accounts."""
    check_unit(unit)
    active = active_periods(query, unit)
    active = active.filter(active.period_index >= 1)  # index 0 only opens the first period
    counted = active.group_by(["period_start", *query.by, "days_active"]).aggregate(
        units=active.count()
    )
    found = counted.to_pandas()
    periods = query.run(query.calendar.filter(query.calendar.period_index >= 1))
    segments = (
        attributes_in_time.combinations(query).to_pandas() if query.by else pd.DataFrame(index=[0])
    )
    grid = pd.DataFrame(
        [
            (pd.Timestamp(start).date(), k)
            for start, days in zip(periods["period_start"], periods["days"], strict=True)
            for k in range(1, int(days) + 1)
        ],
        columns=["period_start", "days_active"],
    )
    grid = grid.merge(segments, how="cross")
    found["period_start"] = pd.to_datetime(found["period_start"]).dt.date
    found["days_active"] = found["days_active"].astype("int64")
    keys = ["period_start", *query.by, "days_active"]
    column = f"{unit}s"
    result = grid.merge(found, how="outer", on=keys)  # and units of unknown accounts
    result[column] = result.pop("units").fillna(0).astype("int64")
    result = result[[*keys, column]].sort_values(keys, na_position="last")
    return result.reset_index(drop=True)
