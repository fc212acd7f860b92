"""Retention of users and accounts by cohort, with PostHog's definitions.

A cohort is the units (users, or accounts: any of their users) of one period: with
`first_time`, those whose first activity ever falls in it; with `recurring`, every unit active
in it. A cohort member is retained at offset N when it is active in the period N periods later
(`exact`, PostHog's N-day retention at a day grain) or in that period or any later one up to the
range's end (`on_or_after`, bracketed / unbounded retention). Offset 0 is the cohort itself.
Activity is the active user-days of engagement.py, or with `event` the days a user sent that
event (both to enter a cohort and to count as retained).
"""

from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd

from tenure.engine.calendar import check_grain, floor_date, period_starts, shift
from tenure.errors import QueryError
from tenure.metrics.lifecycle import active_periods, check_unit, unit_keys
from tenure.metrics.query import Query
from tenure.metrics.tables import Tables

KINDS = ("first_time", "recurring")
BRACKETS = ("exact", "on_or_after")
MAX_COHORTS = 1000
COLUMNS = ["cohort_start", "offset", "period_start", "cohort_size", "retained", "rate"]


def retention(
    tables: Tables,
    *,
    kind: str = "first_time",
    unit: str = "user",
    grain: str = "week",
    periods: int = 8,
    bracket: str = "exact",
    start: dt.date | None = None,
    end: dt.date | None = None,
    where: str | None = None,
    event: str | None = None,
) -> pd.DataFrame:
    """One row per cohort (cohort_start, from the period holding `start` to the one holding
    `end`, default the twelve periods up to today) and offset 0..`periods` whose period has
    begun by `end`: period_start, cohort_size (the denominator), retained (the numerator) and
    rate = retained / cohort_size x 100 (NULL for an empty cohort)."""
    if kind not in KINDS:
        raise QueryError(f"unknown retention kind {kind!r}; choose first_time or recurring")
    if bracket not in BRACKETS:
        raise QueryError(f"unknown bracket {bracket!r}; choose exact or on_or_after")
    check_unit(unit)
    if grain not in ("day", "week", "month"):
        check_grain(grain)
        raise QueryError(f"retention is by day, week or month, not {grain!r}")
    if not 0 <= periods <= 366:
        raise QueryError(f"periods must be between 0 and 366, not {periods}")
    last = end or dt.date.today()
    first = start or shift(floor_date(last, grain), grain, -11)
    cohorts = len(period_starts(first, last, grain))
    if cohorts > MAX_COHORTS:
        raise QueryError(
            f"{cohorts} {grain}s from {first} to {last}: retention follows at most "
            f"{MAX_COHORTS} cohorts; narrow the range or use a longer grain"
        )
    query = Query(
        tables,
        grain,
        first,
        last,
        where=where,
        policy=tables.policy,
        definitions=tables.definitions,
    )
    active = active_periods(query, unit, event)
    active = active.filter(active.period_index >= 1)  # index 0 only precedes the first cohort
    keys = unit_keys(query, unit)
    if kind == "first_time":
        members = active.filter(active.first_day >= active.period_start)
    else:
        members = active
    members = members.select(*keys, cohort_index="period_index")
    sizes = members.group_by("cohort_index").aggregate(cohort_size=members.count()).to_pandas()

    later = active.select(*[active[k].name(f"later_{k}") for k in keys], "period_index")
    same = [members[k].identical_to(later[f"later_{k}"]) for k in keys]
    if bracket == "exact":
        joined = members.join(
            later,
            [
                *same,
                later.period_index >= members.cohort_index,
                later.period_index <= members.cohort_index + periods,
            ],
        )
        joined = joined.mutate(offset=joined.period_index - joined.cohort_index)
        retained = joined.group_by("cohort_index", "offset").aggregate(retained=joined.count())
    else:
        # Active at offset N or later: the member's last active period is at least N after.
        lasts = later.group_by([f"later_{k}" for k in keys]).aggregate(
            last_index=later.period_index.max()
        )
        reach = members.join(lasts, [members[k].identical_to(lasts[f"later_{k}"]) for k in keys])
        offsets = ibis.memtable({"offset": list(range(periods + 1))}, schema={"offset": "int64"})
        grid = reach.cross_join(offsets)
        grid = grid.filter(grid.last_index >= grid.cohort_index + grid.offset)
        retained = grid.group_by("cohort_index", "offset").aggregate(retained=grid.count())
    return _table(query, periods, sizes, retained.to_pandas())


def _table(query: Query, periods: int, sizes: pd.DataFrame, found: pd.DataFrame) -> pd.DataFrame:
    """The cohort x offset triangle with zeros where nobody was retained."""
    calendar = query.run(query.calendar)
    starts = {
        int(i): pd.Timestamp(s).date()
        for i, s in zip(calendar["period_index"], calendar["period_start"], strict=True)
    }
    last = max(starts)
    size = {
        int(i): int(n) for i, n in zip(sizes["cohort_index"], sizes["cohort_size"], strict=True)
    }
    kept = {
        (int(i), int(o)): int(n)
        for i, o, n in zip(found["cohort_index"], found["offset"], found["retained"], strict=True)
    }
    rows = []
    for cohort in range(1, last + 1):
        n = size.get(cohort, 0)
        for offset in range(min(periods, last - cohort) + 1):
            r = kept.get((cohort, offset), 0)
            rate = r * 100.0 / n if n else None
            rows.append((starts[cohort], offset, starts[cohort + offset], n, r, rate))
    result = pd.DataFrame(rows, columns=COLUMNS)
    result["rate"] = result["rate"].astype(object).where(result["rate"].notna(), None)
    return result
