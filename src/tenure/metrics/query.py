"""One metric request: grain, periods, segments, filter and policy, plus the building blocks
every source needs (the calendar, filtered facts, local time, currency conversion)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

import ibis
import ibis.expr.datatypes as dtypes
import ibis.expr.types as ir

from tenure.engine import calendar as cal
from tenure.engine.filters import parse_filter
from tenure.engine.segments import check_segments
from tenure.metrics import attributes_in_time
from tenure.metrics.definitions import Definitions
from tenure.metrics.policy import RevenuePolicy
from tenure.metrics.tables import Tables

# Money per row (per subscription, account and period): six decimals in a 64-bit DECIMAL, which
# engines add much faster than 128-bit ones. Sums over many accounts widen to DECIMAL(38, 6).
MONEY = dtypes.Decimal(18, 6)
ZERO = ibis.literal(Decimal(0), type=MONEY)
PARTIAL_GRAINS = ("quarter", "year")  # read at today's end while running (month and finer: at
# the period's end, which counts what is already known about the rest of the period)


def money(value: ir.NumericValue) -> ir.DecimalValue:
    """Round a double-precision amount to six decimals and store it as DECIMAL, so that every sum
    from here on is exact. The rounding is spelled out (floor(x * 1e6 + 0.5)) rather than left to
    each engine's ROUND, so DuckDB and Spark agree on every tie: IEEE doubles are the same
    everywhere, and 128-bit decimal products are ten times slower in DuckDB."""
    micros = (value.cast("float64") * 1_000_000 + 0.5).floor()
    return (micros / 1_000_000).cast(MONEY)


def convert(amount: ir.NumericValue, rate: ir.NumericValue) -> ir.DecimalValue:
    """An amount times its exchange rate, rounded to six decimals (within half a millionth)."""
    return money(amount.cast("float64") * rate.cast("float64"))


def optional_column(table: ir.Table, name: str, kind: str) -> ir.Value:
    """A column added to the contract later: NULL where an older store or export lacks it."""
    return table[name] if name in table.columns else ibis.null().cast(kind)


def flag(condition: ir.BooleanValue) -> ir.IntegerValue:
    return ibis.cases((condition, 1), else_=0).cast("int64")


def union_sum(parts: list[ir.Table], keys: list[str], measures: dict[str, str]) -> ir.Table:
    """Parts that each carry some of the measures (name -> type), stacked and summed: one row
    per key, 0 for a measure a key has in no part."""
    aligned = [
        part.select(
            *keys,
            **{
                m: (part[m] if m in part.columns else ibis.literal(0)).cast(t)
                for m, t in measures.items()
            },
        )
        for part in parts
    ]
    union = aligned[0]
    for part in aligned[1:]:
        union = union.union(part)
    return union.group_by(keys).aggregate(**{m: union[m].sum() for m in measures})


@dataclass
class Query:
    """What to compute; `lookback` extra periods before `first` feed trailing windows."""

    tables: Tables
    grain: str
    first: dt.date
    last: dt.date
    by: tuple[str, ...] = ()
    where: str | None = None
    policy: RevenuePolicy = field(default_factory=RevenuePolicy)
    lookback: int = 0
    definitions: Definitions = field(default_factory=Definitions)
    # Splits by a column of the facts themselves (page, feature, channel, survey, ...), not of
    # the account; sources without the column are repeated on each of its values.
    dims: tuple[str, ...] = ()
    # Today: a quarter or year not yet over is measured at the end of this day (see `partial`),
    # and the `status` column of subscriptions describes it.
    as_of: dt.date = field(default_factory=dt.date.today)
    # Whether revenue may be read from the stored revenue ledger (False while building it).
    read_ledger: bool = True
    # While updating the ledger for some accounts: `only_account` rows naming them.
    only: ir.Table | None = None
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)
    # The choices the data made while the expression was built (see `decide`), shared with the
    # company-wide part of the same request.
    decisions: dict[str, tuple[Callable[[Tables], Hashable], Hashable]] = field(
        default_factory=dict, repr=False
    )

    def __post_init__(self) -> None:
        cal.check_grain(self.grain)
        self.first = cal.floor_date(self.first, self.grain)
        self.last = cal.floor_date(self.last, self.grain)
        accounts = self.tables.table("accounts")
        self.by = tuple(check_segments(accounts, self.by))
        if self.where is not None:
            parse_filter(self.where, accounts)  # fails early with the valid columns

    def company(self) -> Query:
        """The same request for the whole company: no segments, no filter."""
        if not self.by and not self.dims and self.where is None:
            return self
        whole: Query = self.memo(
            "company", lambda: replace(self, by=(), where=None, dims=(), _memo={})
        )
        return whole

    def memo(self, key: str, build: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def decide(self, name: str, judge: Callable[[Tables], Hashable]) -> Any:
        """A choice the data makes for the expression being built (a rollup is current, an
        attribute has a history), judged once per request and recorded: a compiled query is
        reused only while each of its choices is judged the same way (`compiled.py`). `judge`
        reads nothing of the query but what `shape` holds, so it can be judged again later."""
        if name not in self.decisions:
            self.decisions[name] = (judge, judge(self.tables))
        return self.decisions[name][1]

    def shape(self) -> tuple[Hashable, ...]:
        """Everything of the request, besides the metrics and the data, that its expression
        depends on."""
        return (
            self.grain,
            self.first,
            self.last,
            self.by,
            self.dims,
            self.where,
            self.lookback,
            self.as_of,
            self.policy,
            self.definitions,
            self.tables.reporting_currency,
            self.tables.timezone,
            self.read_ledger,
        )

    # -- periods ------------------------------------------------------------------------------
    @property
    def computed_first(self) -> dt.date:
        """The first period whose values are computed (before `first` when windows look back)."""
        return cal.shift(self.first, self.grain, -self.lookback)

    def run(self, expr: ir.Expr) -> Any:
        """Execute on this workspace's connection. An expression over in-memory tables only
        (the calendar) would otherwise run on Ibis's one process-wide connection, which the
        threads of a server must never share."""
        return self.tables.backend.execute(expr)

    @property
    def calendar(self) -> ir.Table:
        """Every period computed, plus one before the first: its end is the first opening balance."""
        return self.memo(
            "calendar",
            lambda: cal.calendar(
                cal.shift(self.computed_first, self.grain, -1), self.last, self.grain
            ),
        )

    @property
    def partial(self) -> tuple[dt.date, dt.date] | None:
        """(period_start, as_of) when the last period is a quarter or year still running on
        `as_of`: its balances (MRR, customers) are read at the end of `as_of`, not at the
        period's end. The one place that says which period is partial; results record it in
        attrs["partial_period"]."""
        if self.grain not in PARTIAL_GRAINS:
            return None
        if self.last <= self.as_of < cal.next_start(self.last, self.grain) - dt.timedelta(days=1):
            return self.last, self.as_of
        return None

    @property
    def instants(self) -> ir.Table:
        """The calendar with `instant`: the timestamp at which each period's balances are read
        (the period's end, or the end of `as_of` for the partial period)."""

        def build() -> ir.Table:
            periods = self.calendar
            return periods.mutate(instant=self.read_at(periods.period_start, periods.period_end))

        return self.memo("instants", build)

    def read_at(self, start: ir.DateValue, end: ir.DateValue) -> ir.TimestampValue:
        """The instant at which the period from `start` to `end` (exclusive) is read: its end,
        or the end of `as_of` for the partial period."""
        close = end.cast("timestamp")
        partial = self.partial
        if partial is None:
            return close
        cut = ibis.literal(dt.datetime.combine(partial[1] + dt.timedelta(days=1), dt.time()))
        return ibis.cases((start == partial[0], cut), else_=close)

    @property
    def months_per_period(self) -> float:
        return {"day": 12 / 365, "week": 12 / 52, "month": 1.0, "quarter": 3.0, "year": 12.0}[
            self.grain
        ]

    @property
    def window(self) -> tuple[dt.date, dt.date]:
        """The first and last day that any period or trailing 30-day window of it covers."""
        first = cal.shift(self.computed_first, self.grain, -1) - dt.timedelta(days=30)
        return first, cal.next_start(self.last, self.grain) - dt.timedelta(days=1)

    def in_period(self, rows: ir.Table, day: str = "day") -> ir.Table:
        """Rows with the period their `day` falls in (period_index, period_start, last_day,
        days): an equality join on the truncated day, which engines run as a hash join; rows
        outside the calendar drop out."""
        periods = self.calendar.select("period_index", "period_start", "last_day", "days")
        keyed = rows.mutate(in_period=cal.truncate(rows[day], self.grain))
        return keyed.join(periods, keyed.in_period == periods.period_start).drop("in_period")

    def account_keys(self, *dims: str) -> list[str]:
        """Keys of per-account rows, with those of `dims` that the query splits by."""
        return ["account_id", "period_index", "period_start", *[d for d in dims if d in self.dims]]

    def local(self, value: ir.TimestampValue) -> ir.TimestampValue:
        return cal.to_local(value, self.tables.timezone, self.tables.backend)

    # -- accounts and facts ---------------------------------------------------------------------
    @property
    def accounts(self) -> ir.Table:
        """Accounts, restricted by the filter."""
        accounts = self.tables.table("accounts")
        if self.where is None:
            return accounts
        return accounts.filter(parse_filter(self.where, accounts))

    def facts(self, name: str) -> ir.Table:
        """A fact table restricted to the filtered accounts (and to `only`)."""
        table = self.restricted(self.tables.table(name))
        if self.only is None:
            return table
        return table.semi_join(self.only, table.account_id == self.only.only_account)

    def restricted(self, table: ir.Table) -> ir.Table:
        """Rows (with account_id) of the filtered accounts."""
        if self.where is None:
            return table
        keep = self.accounts.select(kept_account="account_id")
        return table.semi_join(keep, table.account_id == keep.kept_account)

    def with_segments(self, rows: ir.Table, day: str | None = None) -> ir.Table:
        """Attach the segment attributes of each row's account (NULL for unknown accounts), each
        as it stood at the end of the row's period: the period of its `period_index`, or of its
        local date column `day` (see attributes_in_time)."""
        return attributes_in_time.attach(self, rows, day)

    # -- money ----------------------------------------------------------------------------------
    def with_rate(self, rows: ir.Table, day: str) -> ir.Table:
        """Add `rate`: units of the reporting currency per unit of `currency` on the date `day`
        (the latest fx_rates row on or before it; 1 for the reporting currency; NULL if none)."""
        fx = self.tables.table("fx_rates")
        intervals = fx.select(
            fx_currency="currency",
            valid_from="date",
            valid_to=fx.date.lead().over(group_by=fx.currency, order_by=fx.date),
            fx_rate="rate_to_reporting",
        )
        keys = rows.select(key_currency="currency", key_day=day).distinct()
        matched = keys.join(
            intervals,
            [
                keys.key_currency == intervals.fx_currency,
                intervals.valid_from <= keys.key_day,
                intervals.valid_to.isnull() | (intervals.valid_to > keys.key_day),
            ],
        ).select("key_currency", "key_day", "fx_rate")
        joined = rows.left_join(
            matched, [rows.currency == matched.key_currency, rows[day] == matched.key_day]
        )
        one = ibis.literal(Decimal(1), type=dtypes.Decimal(18, 8))
        rate = ibis.cases(
            (joined.currency == self.tables.reporting_currency, one), else_=joined.fx_rate
        )
        return joined.mutate(rate=rate).drop("key_currency", "key_day", "fx_rate")
