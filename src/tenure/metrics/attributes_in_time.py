"""Account attributes in time: which value of an attribute a split reads for each row.

An attribute whose history (account_history) records a change for some account is read, for that
account, as the value in force at the end of the row's period: the period of a per-period row
(MRR, active accounts, retention) and, for a dated row (an active day, a ticket, an answer), the
period of its day. "In force at the end" is the latest change strictly before the period's end
instant (for a quarter still running, the end of the as-of day); before its first recorded change
an account has its first recorded value. Every other account, and every attribute without a
recorded change, reads the value in accounts as it is. Filters (`where`) always read the current
value: they choose accounts, as ChartMogul's customer filters do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir

from tenure.data.contract import ACCOUNT_HISTORY
from tenure.engine import calendar as cal
from tenure.engine.segments import SUBSCRIPTION_SEGMENTS, with_segments
from tenure.errors import TenureError
from tenure.metrics.tables import Tables

if TYPE_CHECKING:
    from tenure.metrics.query import Query

# The ends of time for the first and the last value of an account (engines without infinity).
EARLIEST = dt.datetime(1, 1, 1)
LATEST = dt.datetime(9999, 12, 31)
_INSTANT = "_pit_instant"


def changing(query: Query) -> tuple[str, ...]:
    """The query's account attributes whose history records a change (read per period)."""
    names = tuple(n for n in query.by if n not in SUBSCRIPTION_SEGMENTS)
    if not names:
        return ()
    found = query.decide(f"changing attributes {names}", lambda t: _changing(t, names))
    return tuple(n for n in names if n in found)


def _changing(tables: Tables, names: tuple[str, ...]) -> frozenset[str]:
    """Those of `names` with two different values recorded for some account."""
    try:
        history = tables.table(ACCOUNT_HISTORY.name)
    except TenureError:  # an engine other than the embedded store, without the table
        return frozenset()
    changed = _changed(history.filter(history.attribute.isin(names)), "attribute", "account_id")
    found = tables.backend.execute(changed.select("attribute").distinct())
    return frozenset(str(v) for v in found["attribute"])


def _changed(history: ir.Table, *keys: str) -> ir.Table:
    """The `keys` of history rows holding two different values (NULL counting as one)."""
    values = history.value.nunique() + ibis.cases((history.value.isnull().any(), 1), else_=0)
    per = history.group_by(*keys).aggregate(values=values)
    return per.filter(per.values > 1)


def _moved(query: Query, name: str) -> ir.Table:
    """moved_account: the accounts whose history records a change of the attribute."""

    def build() -> ir.Table:
        history = query.tables.table(ACCOUNT_HISTORY.name)
        h = history.filter(history.attribute == name)
        return _changed(h.mutate(moved_account=h.account_id), "moved_account").select(
            "moved_account"
        )

    result: ir.Table = query.memo(f"moved:{name}", build)
    return result


def intervals(query: Query, name: str) -> ir.Table:
    """pit_account, pit_value, pit_from, pit_to: the values of the attribute of every account of
    the query and the local instants each stands between: it is the value at an instant t with
    pit_from < t <= pit_to. An account whose history records a change has one row per recorded
    value (the first from the beginning of time, the last to its end), any other one row with
    its value in accounts, for all time."""

    def build() -> ir.Table:
        accounts = query.accounts
        kind = accounts.schema()[name]
        moved = _moved(query, name)
        history = query.tables.table(ACCOUNT_HISTORY.name)
        h = history.filter(history.attribute == name)
        h = h.semi_join(moved, h.account_id == moved.moved_account)
        since = query.local(h.valid_from).cast("timestamp")
        following = since.lead().over(group_by=h.account_id, order_by=since)
        first = since.min().over(group_by=h.account_id)
        earliest = ibis.literal(EARLIEST, type="timestamp")
        latest = ibis.literal(LATEST, type="timestamp")
        recorded = h.select(
            pit_account="account_id",
            pit_value=h.value.cast(kind),
            pit_from=ibis.cases((since == first, earliest), else_=since),
            pit_to=following.fill_null(latest),
        )
        still = accounts.anti_join(moved, accounts.account_id == moved.moved_account)
        constant = still.select(
            pit_account="account_id", pit_value=still[name], pit_from=earliest, pit_to=latest
        )
        return recorded.union(constant)

    result: ir.Table = query.memo(f"intervals:{name}", build)
    return result


def value_at(query: Query, rows: ir.Table, name: str, instant: str, into: str) -> ir.Table:
    """`rows` with `into`: the attribute `name` of each row's account in force at the local
    timestamp in column `instant` (NULL for unknown accounts)."""
    found = intervals(query, name)
    at = rows[instant]
    rows = rows.left_join(
        found,
        [rows.account_id == found.pit_account, found.pit_from < at, at <= found.pit_to],
    )
    return rows.mutate(**{into: rows.pit_value}).drop(
        "pit_account", "pit_value", "pit_from", "pit_to"
    )


def period_end(query: Query, day: ir.DateValue) -> ir.TimestampValue:
    """The local instant at which the period of `day` (in the query's grain) is read, as
    `Query.instants` reads each period of the calendar."""
    start = cal.truncate(day, query.grain)
    return query.read_at(start, cal.add_period(start, query.grain))


def with_period_end(query: Query, rows: ir.Table, into: str, before: int = 0) -> ir.Table:
    """`rows` with `into`: the instant at which the period `before` periods before the row's
    `period_index` is read (`Query.instants`; 0: the row's own period)."""
    ends = query.instants.select(pit_index=query.instants.period_index + before, pit_at="instant")
    rows = rows.left_join(ends, rows.period_index == ends.pit_index)
    return rows.mutate(**{into: rows.pit_at}).drop("pit_index", "pit_at")


def attach(
    query: Query, rows: ir.Table, day: str | None = None, names: Sequence[str] | None = None
) -> ir.Table:
    """Attach the query's segment attributes (or those of `names`) to rows with account_id: per
    the module's text, at the end of the period of the row's `period_index`, or of its local
    date `day` when given. Rows with neither (a lifetime's counts) read the current value."""
    by = query.by if names is None else tuple(names)
    if not by:
        return rows
    moving = tuple(n for n in changing(query) if n in by)
    static = [n for n in by if n not in moving]
    rows = with_segments(rows, query.accounts, static)
    if not moving:
        return rows
    if day is not None:
        rows = rows.mutate(**{_INSTANT: period_end(query, rows[day])})
    elif "period_index" in rows.columns:
        rows = with_period_end(query, rows, _INSTANT)
    else:  # the current values
        return with_segments(rows, query.accounts, moving)
    for name in moving:
        rows = value_at(query, rows, name, _INSTANT, name)
    return rows.drop(_INSTANT)


def moved_accounts(query: Query) -> ir.Table:
    """moved_account: the accounts with a recorded change of any of the query's attributes."""
    moving = changing(query)
    assert moving, "only a split by a changing attribute has moved accounts"
    changed = _moved(query, moving[0])
    for name in moving[1:]:
        changed = changed.union(_moved(query, name))
    return changed


def split_moved(query: Query, rows: ir.Table) -> tuple[ir.Table, ir.Table]:
    """`rows` of the accounts that did not move, and those of the accounts that did."""
    moved = moved_accounts(query)
    return (
        rows.anti_join(moved, rows.account_id == moved.moved_account),
        rows.semi_join(moved, rows.account_id == moved.moved_account),
    )


def combinations(query: Query) -> ir.Table:
    """Every combination of the query's attributes an account has at some period's end: the
    current ones, and those of the accounts with a recorded change at each computed period."""
    current = query.accounts.select(*query.by).distinct()
    moving = changing(query)
    if not moving:
        return current
    _, moved = split_moved(query, query.accounts.select("account_id"))
    grid = moved.cross_join(query.calendar.select("period_index"))
    return current.union(attach(query, grid).select(*query.by).distinct())
