"""Tables derived from the events and kept beside them (active user-days, sessions, page views
and features used per day), so that engagement metrics read one row per user-day, session or
page-day instead of every event.

A load that changes events updates the rollups: in its own transaction, only the partitions
(user-days, visitors) its inserted and updated rows fall in are recomputed, and of a visitor's
sessions only those from the day the load's rows reach back to (`Resume`); when a rollup was not
current before or the load rewrote much of the table, it is rebuilt whole after the commit. A setting a rollup
depends on rebuilds it (`Workspace.refresh_rollups`). A query reads a rollup only when it was
built from the events as they are now (their row count and their last load that changed rows)
with the query's timezone and definitions; otherwise the query computes the same expression from
the events, which is also what every engine other than the embedded DuckDB store does.

What a derived table was built from (`record`, `recorded`, `data_state`) is kept in one
bookkeeping table, which the revenue ledger (`revenue_ledger.py`) shares.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir

from tenure.data.loader import LOADS_TABLE, table_columns
from tenure.data.readers import quote
from tenure.engine.calendar import on_local_days, to_local
from tenure.metrics.definitions import Definitions
from tenure.metrics.query import Query
from tenure.metrics.tables import Tables

META_TABLE = "_tenure_rollups"


Step = Callable[[ir.Table, Definitions], ir.Table]


@dataclass(frozen=True)
class Resume:
    """How a load updates a rollup partitioned by visitor from a day on rather than over the
    visitor's whole history. `cuts(tables, touched)` gives, from the load's touched rows (old
    versions too, local time), one row per partition key with `from_day`: the stored rows of
    days before it stay, the rows from it are recomputed from the key's events from that day
    alone (and whatever `rows` needs besides, such as a session number to continue from).
    `rows(events, cuts, definitions)` gives the prepared rows of those events. `cuts` reads the
    stored rollup named `reads`, so it is used only when that rollup was current before the
    load."""

    cuts: Callable[[Tables, ir.Table], ir.Table]
    rows: Callable[[ir.Table, ir.Table, Definitions], ir.Table]
    reads: str


@dataclass(frozen=True)
class Rollup:
    """`build` turns events (with local time `at` and local `day`) into rows that carry
    `account_id` and `day`; `depends_on` names the definitions those rows change with. With
    `prepared`, `build` reads `prepared(events)` instead (events with their session, say), which
    a rebuild computes once for all the rollups that share it. `partition` gives, from events,
    the key columns (also columns of the rows) that confine an event's effect: rebuilding the
    rows of some keys from the events of those keys alone is exact. With `resume`, a load
    rebuilds those rows from a day on (see `Resume`)."""

    name: str
    build: Step
    depends_on: Callable[[Definitions], Any]
    partition: Callable[[ir.Table], dict[str, ir.Value]]
    prepared: Step | None = None
    resume: Resume | None = None

    @property
    def table(self) -> str:
        return f"_tenure_rollup_{self.name}"

    def from_events(self, events: ir.Table, definitions: Definitions) -> ir.Table:
        rows = events if self.prepared is None else self.prepared(events, definitions)
        return self.build(rows, definitions)


def with_local_time(events: ir.Table, tables: Tables) -> ir.Table:
    """Events with `at`, their wall-clock time in the workspace's timezone, and its `day`."""
    at = to_local(events.occurred_at, tables.timezone, tables.backend)
    return events.mutate(at=at, day=at.date())


def rows(query: Query, rollup: Rollup, events: Callable[[], ir.Table]) -> ir.Table:
    """The rollup's rows for the query's accounts and days: the stored table when it is current
    (rebuilt first when it is stale and the query counts by the workspace's own definitions),
    else computed from `events()`, the query's events."""

    definitions = query.definitions

    def usable(tables: Tables) -> bool:
        tables.table("events")  # a rollup is the events, summed: its readers read events
        if rollup.depends_on(definitions) == rollup.depends_on(tables.definitions):
            refresh(tables, (rollup,))
        return _matches(tables, rollup, definitions)

    def build() -> ir.Table:
        if not query.decide(f"rollup {rollup.name} {definitions!r}", usable):
            return rollup.from_events(events(), definitions)
        stored = query.tables.backend.table(rollup.table)
        first, last = query.window
        return query.restricted(stored.filter(stored.day >= first, stored.day <= last))

    result: ir.Table = query.memo(f"rollup:{rollup.name}", build)
    return result


def refresh(tables: Tables, rollups: tuple[Rollup, ...]) -> list[str]:
    """Rebuild those of `rollups` that do not match the events and the workspace's settings
    (nothing on a read-only or non-embedded store), in one transaction. Returns the names
    rebuilt."""
    if not tables.is_embedded or tables.read_only:
        return []
    stale = tuple(r for r in rollups if not _matches(tables, r, tables.definitions))
    if stale:
        con = tables.duckdb
        con.execute("BEGIN TRANSACTION")
        try:
            _rebuild(tables, stale)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return [r.name for r in stale]


def current(tables: Tables, rollups: tuple[Rollup, ...]) -> tuple[Rollup, ...]:
    """Those of `rollups` that match the events and the workspace's settings now."""
    return tuple(r for r in rollups if _matches(tables, r, tables.definitions))


# Above this share of the events, a load rebuilds a rollup whole rather than by partition.
WHOLE_ABOVE = 0.2


def apply_load(tables: Tables, fresh: tuple[Rollup, ...], touched: str) -> None:
    """Update by partition, inside a load's transaction, the rollups that were current before
    the load (`fresh`), when the load is small. `touched` names a view of the event rows the
    load inserted or updated, old and new versions. The others are left stale, for a rebuild
    after the load commits (a whole rebuild is faster outside the load's transaction)."""
    con = tables.duckdb
    # count(*) always returns one row
    ((changed,),) = con.execute(f"SELECT count(*) FROM {touched}").fetchall()
    ((total,),) = con.execute("SELECT count(*) FROM events").fetchall()
    if fresh and changed <= WHOLE_ABOVE * total:
        _rebuild(tables, fresh, tables.backend.table(touched))


@dataclass(frozen=True)
class _Partial:
    """What a load recomputes of a rollup: the staged partition keys (with `from_day` when
    resumed), their key columns, the days they span (bounds that let the engine skip the blocks
    of other days) and the rows the rollup is built from."""

    keys: ir.Table
    match: tuple[str, ...]
    since: dt.date | None
    until: dt.date | None
    rows: ir.Table


class Staged:
    """Temporary tables for the parts of a build read more than once (named `prefix_0`, ...),
    dropped on exit, with the SQL that made each and the in-memory tables it names."""

    def __init__(self, tables: Tables, prefix: str) -> None:
        self.tables = tables
        self.prefix = prefix
        self.names: list[str] = []
        self.sql: list[str] = []
        self.memtables: list[ir.Table] = []

    def __enter__(self) -> Staged:
        return self

    def __call__(self, expression: ir.Table) -> ir.Table:
        self.memtables.extend(t.to_expr() for t in expression.op().find(ops.InMemoryTable))
        return self.run(typed_select(self.tables, expression))

    def run(self, sql: str) -> ir.Table:
        name = f"{self.prefix}_{len(self.names)}"
        # `sql` is compiled by Ibis from expressions (no user text is spliced into it)
        self.tables.duckdb.execute(f"CREATE OR REPLACE TEMP TABLE {quote(name)} AS {sql}")
        self.names.append(name)
        self.sql.append(sql)
        return self.tables.backend.table(name)

    def __exit__(self, *_: object) -> None:
        for name in self.names:
            self.tables.duckdb.execute(f"DROP TABLE IF EXISTS {quote(name)}")


def _rebuild(tables: Tables, rollups: tuple[Rollup, ...], touched: ir.Table | None = None) -> None:
    """Write `rollups` for the workspace's settings: whole, or with `touched` (event rows) only
    the partitions those rows fall in. Runs inside the caller's transaction."""
    con = tables.duckdb
    definitions = tables.definitions
    events = with_local_time(tables.table("events"), tables)
    stage = Staged(tables, "_tenure_rollup_stage")

    def days(keys: ir.Table, column: str) -> tuple[dt.date | None, dt.date | None]:
        if column not in keys.columns:
            return None, None
        query = f'SELECT min("{column}"), max("{column}") FROM {keys.get_name()}'
        ((since, until),) = con.execute(query).fetchall()
        return since, until

    def partial(rollup: Rollup, local: ir.Table) -> _Partial:
        match = tuple(rollup.partition(local))
        resume = rollup.resume
        if resume is not None and resume.reads in {r.name for r in rollups}:
            cuts = stage(resume.cuts(tables, local))
            since, _ = days(cuts, "from_day")
            rows = stage(resume.rows(on_local_days(events, since, None), cuts, definitions))
            return _Partial(cuts, match, since, None, rows)
        keys = stage(local.select(**rollup.partition(local)).distinct())
        since, until = days(keys, "day")
        source = _within(on_local_days(events, since, until), rollup.partition(events), keys)
        if rollup.prepared is not None:
            source = stage(rollup.prepared(source, definitions))
        return _Partial(keys, match, since, until, source)

    shared: dict[Any, Any] = {}
    with stage:
        for rollup in rollups:
            if touched is None:
                rows = events
                if rollup.prepared is not None:
                    if rollup.prepared not in shared:
                        shared[rollup.prepared] = stage(rollup.prepared(events, definitions))
                    rows = shared[rollup.prepared]
                _write(tables, rollup, rollup.build(rows, definitions))
                continue
            how = (rollup.resume or rollup.partition, rollup.prepared)
            if how not in shared:
                shared[how] = partial(rollup, with_local_time(touched, tables))
            found: _Partial = shared[how]
            _write(tables, rollup, rollup.build(found.rows, definitions), found)


def _within(events: ir.Table, key_values: dict[str, ir.Value], keys: ir.Table) -> ir.Table:
    """The events whose partition key is one of `keys` (NULL matching NULL)."""
    renamed = keys.rename({f"key_{k}": k for k in key_values})
    return events.semi_join(
        renamed, [value.identical_to(renamed[f"key_{k}"]) for k, value in key_values.items()]
    )


def _signature(tables: Tables, rollup: Rollup, definitions: Definitions) -> str:
    """What the rows depend on besides the events: the timezone, the definitions the rollup
    reads, and the columns it writes (so that a new release's shape is rebuilt, not misread)."""
    shape = _shape(rollup, definitions, tables.table("events").schema())
    return json.dumps([tables.timezone, rollup.depends_on(definitions), shape], default=str)


@functools.cache
def _shape(rollup: Rollup, definitions: Definitions, events: Any) -> list[str]:
    table = ibis.table(events, name="events")
    local = table.mutate(at=table.occurred_at, day=table.occurred_at.date())
    return [
        f"{name} {dtype}" for name, dtype in rollup.from_events(local, definitions).schema().items()
    ]


def data_state(con: Any, *names: str) -> str:
    """What identifies the tables `names` as they are: each one's row count and the number and
    time of the loads that inserted or updated its rows."""
    states = []
    for name in names:
        (count,) = con.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()
        loads: tuple[Any, ...] = (0, None)
        if table_columns(con, LOADS_TABLE):
            loads = con.execute(
                f"SELECT count(*), max(loaded_at) FROM {LOADS_TABLE} "
                "WHERE table_name = ? AND inserted + updated > 0",
                [name],
            ).fetchone()
        states.append(f"{count} rows, {loads[0]} loads, last {loads[1]}")
    return "; ".join(states)


def recorded(con: Any, name: str) -> tuple[str, str] | None:
    """The (signature, data state) a derived table named `name` was last built with."""
    if not table_columns(con, META_TABLE):
        return None
    found = con.execute(
        f"SELECT signature, events_state FROM {META_TABLE} WHERE name = ?", [name]
    ).fetchone()
    return None if found is None else (found[0], found[1])


def record(con: Any, name: str, signature: str, state: str) -> None:
    """Note what the derived table `name` was built from, inside the caller's transaction."""
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {META_TABLE} (name VARCHAR PRIMARY KEY, "
        "signature VARCHAR, events_state VARCHAR, built_at TIMESTAMP)"
    )
    con.execute(
        f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?, ?, now()::TIMESTAMP)",
        [name, signature, state],
    )


def _matches(tables: Tables, rollup: Rollup, definitions: Definitions) -> bool:
    """Whether the stored rollup was built from the events as they are, with `definitions`."""
    if not tables.is_embedded:
        return False
    tables.table("events")  # an empty events table where none was loaded
    con = tables.duckdb
    found = recorded(con, rollup.name)
    return found == (_signature(tables, rollup, definitions), data_state(con, "events"))


def typed_select(tables: Tables, expression: ir.Table) -> str:
    """The expression's SQL with integer columns as BIGINT: DuckDB sums BIGINTs into HUGEINTs,
    which Ibis types as int64 (so it drops a cast to it) and which are several times slower to
    sum again. The in-memory tables it names (a calendar) are made visible on the connection."""
    for memtable in expression.op().find(ops.InMemoryTable):
        tables.backend._register_in_memory_tables(memtable.to_expr())
    columns = ", ".join(
        f'CAST("{name}" AS BIGINT) AS "{name}"' if dtype.is_integer() else f'"{name}"'
        for name, dtype in expression.schema().items()
    )
    return f"SELECT {columns} FROM ({tables.backend.compile(expression)})"


def _write(
    tables: Tables, rollup: Rollup, expression: ir.Table, partial: _Partial | None = None
) -> None:
    """Store the rollup's rows (replacing the table, or with `partial` only the rows of its
    partition keys, from their `from_day` when resumed) and its bookkeeping row, inside the
    caller's transaction."""
    con = tables.duckdb
    sql = typed_select(tables, expression)
    if partial is None:
        # In day order, so that a query over recent days skips the blocks of older ones (a
        # later load's rows, appended, are mostly its recent days).
        con.execute(f'CREATE OR REPLACE TABLE {rollup.table} AS {sql} ORDER BY "day"')
    else:
        same = [f'r."{k}" IS NOT DISTINCT FROM k."{k}"' for k in partial.match]
        if "from_day" in partial.keys.columns:
            same.append('r."day" >= k."from_day"')
        # The same bounds as constants, which the engine checks against each block's range.
        bounds = [("day >= ?", partial.since), ("day <= ?", partial.until)]
        outer = "".join(f"r.{cond} AND " for cond, value in bounds if value is not None)
        con.execute(
            f"DELETE FROM {rollup.table} r WHERE {outer}EXISTS "
            f"(SELECT 1 FROM {partial.keys.get_name()} k WHERE {' AND '.join(same)})",
            [value for _, value in bounds if value is not None],
        )
        con.execute(f"INSERT INTO {rollup.table} {sql}")
    signature = _signature(tables, rollup, tables.definitions)
    record(con, rollup.name, signature, data_state(con, "events"))
