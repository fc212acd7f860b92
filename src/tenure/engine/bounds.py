"""How large a result a request may ask for, estimated before the engine computes it.

A metrics result has one row per period, segment and metric; the periods follow from the
calendar, the segments from a distinct count of the `by` columns (cheap next to the query). A
request over the limit is refused with a QueryError that says how to narrow it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence

import ibis.expr.types as ir

from tenure.engine.calendar import check_grain, count_periods, floor_date, shift
from tenure.engine.segments import SUBSCRIPTION_SEGMENTS
from tenure.errors import QueryError

CELLS_ENV = "TENURE_MAX_CELLS"
DEFAULT_CELLS = 100_000


def max_cells() -> int:
    """The limit: $TENURE_MAX_CELLS if it is a positive whole number, else 100,000."""
    text = os.environ.get(CELLS_ENV, "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_CELLS


def check_by(by: Sequence[str]) -> list[str]:
    """`by` without repeats: a name given twice is refused (it would split by itself)."""
    seen: set[str] = set()
    for name in by:
        if name in seen:
            raise QueryError(f"{name!r} is named twice in `by`; name each segment once")
        seen.add(name)
    return list(by)


def result_periods(start: dt.date | None, end: dt.date | None, grain: str) -> int:
    """The periods a metrics request covers (default range: the twelve periods up to today,
    as the metric engine reads it)."""
    last = end or dt.date.today()
    first = start or shift(floor_date(last, check_grain(grain)), grain, -11)
    if last < first:
        raise QueryError(f"the range ends ({last}) before it starts ({first})")
    return count_periods(first, last, grain)


def check_cells(periods: int, metrics: int, segments: int = 1, *, what: str = "metrics") -> None:
    """Refuse a result of more than `max_cells()` periods x segments x metrics."""
    limit = max_cells()
    cells = periods * max(metrics, 1) * max(segments, 1)
    if cells > limit:
        raise QueryError(
            f"this {what} request asks for {cells:,} values ({periods:,} periods x "
            f"{max(segments, 1):,} segments x {max(metrics, 1)} metrics); the limit is {limit:,}: "
            "choose a shorter range (from/to), a coarser grain, fewer `by` segments or fewer "
            "metrics"
        )


# The subscriptions' columns each built-in subscription segment is read from (see
# tenure.metrics.segments_in_time): an account's value is one subscription's.
PAID_SEGMENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "paid_plan": ("plan",),
    "billing_interval": ("billing_unit", "billing_period"),
    "billing_currency": ("currency",),
}
assert set(PAID_SEGMENT_COLUMNS) == set(SUBSCRIPTION_SEGMENTS)


def segment_count(
    tables: Sequence[ir.Table], by: Sequence[str], subscriptions: ir.Table | None = None
) -> int:
    """An upper bound of the segments `by` splits into: the distinct combinations of the
    columns one table holds together (accounts' attributes), times the distinct values of each
    column found elsewhere (a fact dimension), times for each built-in subscription segment
    (paid_plan, ...) the distinct values among `subscriptions` (its plans, ...), each plus one
    for NULL."""
    count = 1
    for name in by:  # these shadow a loaded accounts column of the same name
        if name in PAID_SEGMENT_COLUMNS and subscriptions is not None:
            columns = PAID_SEGMENT_COLUMNS[name]
            count *= int(subscriptions.select(*columns).distinct().count().execute()) + 1
    remaining = [c for c in by if c not in PAID_SEGMENT_COLUMNS]
    for table in tables:
        here = [c for c in remaining if c in table.columns]
        if not here:
            continue
        count *= int(table.select(*here).distinct().count().execute()) + 1
        remaining = [c for c in remaining if c not in here]
    return count  # a name no table holds is left to the metric engine to refuse
