"""Period calendars: truncate timestamps to a grain, list periods, convert to a local timezone."""

from __future__ import annotations

import datetime as dt
from typing import Any

import ibis
import ibis.expr.datatypes as dtypes
import ibis.expr.types as ir

from tenure.errors import QueryError

GRAINS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")
_IBIS_UNIT = {"day": "D", "week": "W", "month": "M", "quarter": "Q", "year": "Y"}
_MONTHS = {"month": 1, "quarter": 3, "year": 12}  # length of the month-based grains
# Periods are computed with a margin around the requested range; dates this far from the
# calendar's ends leave room for the look-back and the period after the last.
FIRST_DAY = dt.date(1900, 1, 1)
LAST_DAY = dt.date(2999, 12, 31)


def check_grain(grain: str) -> str:
    if grain not in GRAINS:
        raise QueryError(f"unknown grain {grain!r}; choose one of: {', '.join(GRAINS)}")
    return grain


def truncate(value: ir.TimestampValue | ir.DateValue, grain: str) -> ir.DateValue:
    """The start of the period holding `value` (weeks start on Monday, ISO 8601)."""
    return value.truncate(_IBIS_UNIT[check_grain(grain)]).cast("date")


def floor_date(day: dt.date, grain: str) -> dt.date:
    check_grain(grain)
    if grain == "day":
        return day
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return dt.date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return dt.date(day.year, 1, 1)


def next_start(start: dt.date, grain: str) -> dt.date:
    """The first day of the period after the one starting on `start`."""
    return shift(start, grain, 1)


def period_starts(first: dt.date, last: dt.date, grain: str) -> list[dt.date]:
    """Every period that intersects [first, last], by its start date."""
    if last < first:
        raise QueryError(f"the range ends ({last}) before it starts ({first})")
    starts, current = [], floor_date(first, grain)
    while current <= last:
        starts.append(current)
        current = next_start(current, grain)
    return starts


def shift(start: dt.date, grain: str, periods: int) -> dt.date:
    """The start of the period `periods` periods after (negative: before) the one at `start`."""
    check_grain(grain)
    try:
        if grain in ("day", "week"):
            return start + dt.timedelta(days=periods * (1 if grain == "day" else 7))
        months = _MONTHS[grain] * periods
        index = start.year * 12 + start.month - 1 + months
        return dt.date(index // 12, index % 12 + 1, 1)
    except (ValueError, OverflowError):
        raise QueryError(
            f"{periods:+d} {grain}(s) from {start} falls outside the calendar; "
            f"use dates between {FIRST_DAY} and {LAST_DAY}"
        ) from None


def count_periods(first: dt.date, last: dt.date, grain: str) -> int:
    """How many periods intersect [first, last], without listing them (0 when last < first)."""
    if last < first:
        return 0
    if check_grain(grain) == "day":
        return (last - first).days + 1
    if grain == "week":
        return (floor_date(last, grain) - floor_date(first, grain)).days // 7 + 1
    step = _MONTHS[grain]
    return (
        (last.year * 12 + last.month - 1) // step - (first.year * 12 + first.month - 1) // step + 1
    )


def add_period(value: ir.DateValue, grain: str) -> ir.DateValue:
    """`value` plus one period of `grain`, as an engine expression."""
    if check_grain(grain) in ("day", "week"):
        return value + ibis.interval(days=1 if grain == "day" else 7)
    return value + ibis.interval(months=_MONTHS[grain])


def calendar(first: dt.date, last: dt.date, grain: str) -> ir.Table:
    """A table of periods: period_index (0, 1, ...), period_start (inclusive), period_end
    (exclusive), last_day (period_end - 1 day), before_day (period_start - 1 day), days (in the
    period), and the first days of the 7- and 30-day windows that end on last_day."""
    starts = period_starts(first, last, grain)
    one_day = dt.timedelta(days=1)
    ends = [next_start(s, grain) for s in starts]
    return ibis.memtable(
        {
            "period_index": list(range(len(starts))),
            "period_start": starts,
            "period_end": ends,
            "last_day": [e - one_day for e in ends],
            "before_day": [s - one_day for s in starts],
            "days": [(e - s).days for s, e in zip(starts, ends, strict=True)],
            "week_from": [e - 7 * one_day for e in ends],
            "month_from": [e - 30 * one_day for e in ends],
        },
        schema={
            "period_index": "int64",
            "period_start": "date",
            "period_end": "date",
            "last_day": "date",
            "before_day": "date",
            "days": "int64",
            "week_from": "date",
            "month_from": "date",
        },
    )


def parse_period(text: str, grain: str) -> dt.date:
    """'2025-03' / '2025-Q1' / '2025' / '2025-03-17' -> the start of the period holding it."""
    value = text.strip()
    try:
        if len(value) == 4 and value.isdigit():
            day = dt.date(int(value), 1, 1)
        elif len(value) == 7 and value[4] == "-" and value[5] in "Qq":
            day = dt.date(int(value[:4]), 3 * (int(value[6]) - 1) + 1, 1)
        elif len(value) == 7:
            day = dt.date.fromisoformat(value + "-01")
        else:
            day = dt.date.fromisoformat(value)
    except ValueError:
        raise QueryError(
            f"cannot read the period {text!r}; write 2025, 2025-Q1, 2025-03 or 2025-03-17"
        ) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise QueryError(f"the period {text!r} lies outside {FIRST_DAY.year}-{LAST_DAY.year}")
    return floor_date(day, grain)


_TIMESTAMP = dtypes.Timestamp()


@ibis.udf.scalar.builtin(name="timezone", signature=((dtypes.string, _TIMESTAMP), _TIMESTAMP))
def _duckdb_timezone(zone, value):  # type: ignore[no-untyped-def]
    """DuckDB's timezone(zone, ts)."""


@ibis.udf.scalar.builtin(
    name="from_utc_timestamp", signature=((_TIMESTAMP, dtypes.string), _TIMESTAMP)
)
def _spark_from_utc(value, zone):  # type: ignore[no-untyped-def]
    """Spark's from_utc_timestamp(ts, zone)."""


def to_local(value: ir.TimestampValue, timezone: str, backend: Any) -> ir.TimestampValue:
    """Turn a naive-UTC timestamp into the naive wall-clock time of `timezone` on `backend`."""
    if timezone == "UTC":
        return value
    name = getattr(backend, "name", "")
    if name == "duckdb":
        utc = _duckdb_timezone("UTC", value)
        return _duckdb_timezone(timezone, utc).cast("timestamp")
    if name == "pyspark":
        return _spark_from_utc(value, timezone)
    raise QueryError(f"local timezones are not supported on the {name!r} backend; use UTC")


def on_local_days(events: ir.Table, first: dt.date | None, last: dt.date | None) -> ir.Table:
    """The events (naive-UTC `occurred_at`) that may fall on local days `first` to `last` (either
    open) in any timezone: a bound on the stored time a day wider on each side, and on the Hive
    `month` partitions when they are read from an export (`tenure export --partition-by month`),
    so that the engine skips the blocks and files of other days unread. The caller selects the
    exact local days."""
    if first is not None:
        since = first - dt.timedelta(days=1)
        events = events.filter(events.occurred_at >= dt.datetime.combine(since, dt.time()))
        if "month" in events.columns:
            events = events.filter(events.month >= f"{since:%Y-%m}")
    if last is not None:
        until = last + dt.timedelta(days=1)
        after = dt.datetime.combine(until + dt.timedelta(days=1), dt.time())
        events = events.filter(events.occurred_at < after)
        if "month" in events.columns:
            events = events.filter(events.month <= f"{until:%Y-%m}")
    return events
