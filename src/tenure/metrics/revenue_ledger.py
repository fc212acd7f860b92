"""The revenue ledger: one stored row per account and month, from which monthly revenue metrics
read instead of recomputing every subscription's paying stretches, billing periods and rates.

A row holds what `mrr.account_mrr` gives for the account and month (opening and closing MRR,
the movement and its lines, the FX impact, customer counts, cohort), the date it is scheduled
to stop paying (`mrr.scheduled_churn`), and the subscription segments at the month's end
(`segments_in_time`: paid plan, billing interval, billing currency). Accounts are independent
of each other in all of these, so a filter on accounts reads the same rows the computation
would give.

A subscriptions load that touches few accounts recomputes their rows in its own transaction.
The ledger is rebuilt whole whenever it no longer matches otherwise: after a larger load of
subscriptions or a load of exchange rates, after a change to a setting it is computed with (the
revenue policy, the timezone, the reporting currency), and when the month it covers up to has
come. A query reads it only when it matches the query: monthly grain, the same policy,
timezone and currency, months it covers and, under a past-due grace period, the same day;
every other query (and every engine other than the embedded store) computes the same rows from
the subscriptions.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandas as pd
import sqlglot as sg

from tenure.data.readers import quote
from tenure.engine.calendar import floor_date, shift
from tenure.engine.segments import SUBSCRIPTION_SEGMENTS
from tenure.metrics import compiled, rollups
from tenure.metrics.policy import RevenuePolicy
from tenure.metrics.query import Query
from tenure.metrics.tables import Tables

NAME = "revenue_ledger"
TABLE = "_tenure_revenue_ledger"
AHEAD_MONTHS = 12  # months past the current one that a build covers
READS = ("subscriptions", "fx_rates")
VERSION = 1  # of the ledger's columns and rules: a new one is rebuilt, never misread


def _signature(tables: Tables, policy: RevenuePolicy, as_of: dt.date) -> dict[str, object]:
    """What the rows depend on besides the data (as_of only under a past-due grace period)."""
    return {
        "version": VERSION,
        "timezone": tables.timezone,
        "currency": tables.reporting_currency,
        "policy": policy.describe(),
        "as_of": None if policy.past_due_days is None else as_of.isoformat(),
    }


def _serves(tables: Tables, policy: RevenuePolicy, last: dt.date, as_of: dt.date) -> bool:
    """Whether the stored ledger holds the months up to `last` as computed with `policy` and the
    workspace's settings, from the subscriptions and rates as they are now."""
    if not tables.is_embedded:
        return False
    tables.table("subscriptions")  # empty canonical tables where none were loaded
    tables.table("fx_rates")
    con = tables.duckdb
    found = _built(con)
    if found is None:
        return False
    signature, through, state = found
    return (
        signature == json.dumps(_signature(tables, policy, as_of), default=str)
        and through >= last.isoformat()  # ISO dates order as text
        and state == rollups.data_state(con, *READS)
    )


def rows(query: Query) -> ir.Table | None:
    """The stored rows of the query's accounts in its calendar (period 0, which only opens the
    first, included) with period_index and instant, or None when the query cannot read the
    ledger (it then computes them)."""
    if query.grain != "month" or not query.read_ledger or not query.tables.is_embedded:
        return None
    policy, last, as_of = query.policy, query.last, query.as_of
    name = f"revenue ledger {last} {as_of}"
    if not query.decide(name, lambda tables: _serves(tables, policy, last, as_of)):
        return None

    def build() -> ir.Table:
        stored = query.tables.backend.table(TABLE)
        periods = query.instants.select(
            l_index="period_index", l_start="period_start", instant="instant"
        )
        # Constant bounds, which DuckDB checks against each block's range of months.
        first = shift(query.computed_first, "month", -1)
        found = stored.filter(stored.period_start >= first, stored.period_start <= last)
        found = query.restricted(found)
        joined = found.join(periods, found.period_start == periods.l_start)
        return joined.mutate(period_index=joined.l_index).drop("l_index", "l_start")

    result: ir.Table = query.memo("ledger", build)
    return result


def serves_now(tables: Tables) -> bool:
    """Whether the ledger serves this month's queries with the workspace's policy."""
    day = dt.date.today()
    return _serves(tables, tables.policy, floor_date(day, "month"), day)


def refresh(tables: Tables) -> bool:
    """Rebuild the ledger when it does not serve this month's queries with the workspace's
    policy (nothing on a read-only or non-embedded store). Returns whether it was rebuilt."""
    if not tables.is_embedded or tables.read_only or serves_now(tables):
        return False
    day = dt.date.today()
    through = shift(floor_date(day, "month"), "month", AHEAD_MONTHS)
    con = tables.duckdb
    con.execute("BEGIN TRANSACTION")
    try:
        with rollups.Staged(tables, "_tenure_ledger_stage") as stage:
            rows = _rows_sql(tables, through, day, stage)
            con.execute(
                f'CREATE OR REPLACE TABLE {TABLE} AS {rows} ORDER BY "period_start", "account_id"'
            )
        _record(tables, through, day)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return True


# Above this share of the accounts with subscriptions, a load rebuilds the ledger whole.
WHOLE_ABOVE = 0.2


def apply_load(tables: Tables, touched: str) -> None:
    """Inside a subscriptions load's transaction, with the ledger serving before it: recompute
    the rows of the accounts whose subscriptions the load inserted or updated (`touched` names
    a view of those rows, old and new versions). A load that touches many accounts leaves the
    ledger stale instead, for a whole rebuild after it commits."""
    con = tables.duckdb
    found = _built(con)
    if found is None:
        return
    through = dt.date.fromisoformat(found[1])
    with rollups.Staged(tables, "_tenure_ledger_stage") as stage:
        keys = stage(tables.backend.table(touched).select(only_account="account_id").distinct())
        changed = tables.backend.execute(keys.count())
        total = tables.backend.execute(tables.table("subscriptions").account_id.nunique())
        if changed > WHOLE_ABOVE * total:
            return
        day = dt.date.today()
        rows = _rows_sql(tables, through, day, stage, only=keys)
        delete = sg.delete(TABLE).where(
            sg.column("account_id").isin(sg.select("only_account").from_(keys.get_name()))
        )
        con.execute(delete.sql("duckdb"))
        con.execute(f"INSERT INTO {quote(TABLE)} BY NAME {rows}")  # rows: SQL compiled by Ibis
    _record(tables, through, day)


def _built(con: Any) -> tuple[str, str, str] | None:
    """What the stored ledger was built with: its signature, the last month it covers (ISO)
    and the data state; None when it was never built."""
    found = rollups.recorded(con, NAME)
    if found is None:
        return None
    signature, _, through = found[0].rpartition(" through ")
    return signature, through, found[1]


def _record(tables: Tables, through: dt.date, day: dt.date) -> None:
    signature = json.dumps(_signature(tables, tables.policy, day), default=str)
    state = rollups.data_state(tables.duckdb, *READS)
    rollups.record(tables.duckdb, NAME, f"{signature} through {through.isoformat()}", state)


@dataclass(frozen=True)
class LedgerSql:
    """A build's statements as compiled once: the staged parts' SQL in order, the rows' SQL
    (reading them), and the in-memory tables (the calendar) they name."""

    stages: tuple[str, ...]
    rows: str
    memtables: tuple[ir.Table, ...]


def _rows_sql(
    tables: Tables,
    through: dt.date,
    as_of: dt.date,
    stage: rollups.Staged,
    only: ir.Table | None = None,
) -> str:
    """Stage the parts of the ledger rows of every account (or of the `only_account`s of
    `only`, staged already) and return the SQL of the rows. Building and compiling the
    expressions takes longer than running them on a small store, so the process keeps the SQL by
    everything it depends on (the tables' columns, the settings, the months: the SQL names the
    store's tables, not their rows) and runs it again for the next build of the same shape (a
    daily load's, say)."""
    earliest = tables.backend.execute(tables.table("subscriptions").started_at.min())
    known = earliest is not None and not pd.isna(earliest)
    # From the month before the first start's (in UTC): any timezone's local month of it.
    start = shift(
        floor_date(pd.Timestamp(earliest).date() if known else as_of, "month"), "month", -1
    )
    key = (
        NAME,
        json.dumps(_signature(tables, tables.policy, as_of), default=str),
        tuple(str(tables.table(name).schema()) for name in READS),
        start,
        through,
        tuple(stage.names),
    )
    found = compiled.SHARED.get(key)
    if isinstance(found, LedgerSql):
        for memtable in found.memtables:
            tables.backend._register_in_memory_tables(memtable)
        for sql in found.stages:
            stage.run(sql)
        return found.rows
    first, named = len(stage.sql), len(stage.memtables)
    rows = _expression(tables, start, through, as_of, stage, only)
    sql = rollups.typed_select(tables, rows)
    memtables = [
        *stage.memtables[named:],
        *(t.to_expr() for t in rows.op().find(ops.InMemoryTable)),
    ]
    compiled.SHARED.put(key, LedgerSql(tuple(stage.sql[first:]), sql, tuple(memtables)))
    return sql


def _expression(
    tables: Tables,
    start: dt.date,
    through: dt.date,
    as_of: dt.date,
    stage: rollups.Staged,
    only: ir.Table | None = None,
) -> ir.Table:
    """The ledger rows of every account (or of the `only_account`s of `only`) from `start` to
    `through`, computed."""
    from tenure.metrics import mrr, segments_in_time

    query = Query(
        tables,
        "month",
        start,
        through,
        policy=tables.policy,
        definitions=tables.definitions,
        as_of=as_of,
        read_ledger=False,
        only=only,
    )
    # The parts read more than once, computed once each; the paid segments only where the
    # account has a row (they rank within each account and month).
    found = query._memo["account_mrr"] = stage(mrr.account_mrr(query))
    at = segments_in_time.paid_at(query)
    keys = found.select(k_account="account_id", k_index="period_index")
    where = [at.account_id == keys.k_account, at.period_index == keys.k_index]
    query._memo["paid_at"] = stage(at.semi_join(keys, where))
    ending = mrr.scheduled_churn(query).select(
        c_account="account_id", c_index="period_index", churn_on="churn_on"
    )
    found = found.left_join(
        ending, [found.account_id == ending.c_account, found.period_index == ending.c_index]
    ).drop("c_account", "c_index")
    for segment in SUBSCRIPTION_SEGMENTS:
        values = segments_in_time.values(query, segment).select(
            v_account="account_id", v_index="period_index", **{segment: "value"}
        )
        found = found.left_join(
            values, [found.account_id == values.v_account, found.period_index == values.v_index]
        ).drop("v_account", "v_index")
    return found.drop("period_index")
