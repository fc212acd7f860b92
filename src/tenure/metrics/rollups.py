"""Tables derived from the events and kept beside them (active user-days, sessions, page views
and features used per day), so that engagement metrics read one row per user-day, session or
page-day instead of every event.

A load that changes events updates the rollups: in its own transaction, only the partitions
(user-days, visitors) its inserted and updated rows fall in are recomputed; when a rollup was not
current before or the load rewrote much of the table, it is rebuilt whole after the commit. A setting a rollup
depends on rebuilds it (`Workspace.refresh_rollups`). A query reads a rollup only when it was
built from the events as they are now (their row count and their last load that changed rows)
with the query's timezone and definitions; otherwise the query computes the same expression from
the events, which is also what every engine other than the embedded DuckDB store does.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from tenure.data.loader import LOADS_TABLE, table_columns
from tenure.engine.calendar import to_local
from tenure.metrics.definitions import Definitions
from tenure.metrics.query import Query
from tenure.metrics.tables import Tables

META_TABLE = "_tenure_rollups"


Step = Callable[[ir.Table, Definitions], ir.Table]


@dataclass(frozen=True)
class Rollup:
    """`build` turns events (with local time `at` and local `day`) into rows that carry
    `account_id` and `day`; `depends_on` names the definitions those rows change with. With
    `prepared`, `build` reads `prepared(events)` instead (events with their session, say), which
    a rebuild computes once for all the rollups that share it. `partition` gives, from events,
    the key columns (also columns of the rows) that confine an event's effect: rebuilding the
    rows of some keys from the events of those keys alone is exact."""

    name: str
    build: Step
    depends_on: Callable[[Definitions], Any]
    partition: Callable[[ir.Table], dict[str, ir.Value]]
    prepared: Step | None = None

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


def _rebuild(tables: Tables, rollups: tuple[Rollup, ...], touched: ir.Table | None = None) -> None:
    """Write `rollups` for the workspace's settings: whole, or with `touched` (event rows) only
    the partitions those rows fall in. Runs inside the caller's transaction."""
    con = tables.duckdb
    definitions = tables.definitions
    events = with_local_time(tables.table("events"), tables)
    temporary: list[str] = []

    def stage(expression: ir.Table) -> ir.Table:
        name = f"_tenure_rollup_stage_{len(temporary)}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {_typed_select(tables, expression)}")
        temporary.append(name)
        return tables.backend.table(name)

    staged: dict[Any, ir.Table] = {}
    try:
        for rollup in rollups:
            keys: ir.Table | None = None
            source = events
            if touched is not None:
                keys = staged.get(rollup.partition)
                if keys is None:
                    local = with_local_time(touched, tables)
                    keys = staged[rollup.partition] = stage(
                        local.select(**rollup.partition(local)).distinct()
                    )
                source = _within(events, rollup.partition(events), keys)
            rows = source
            if rollup.prepared is not None:
                shared = (rollup.prepared, rollup.partition if touched is not None else None)
                if shared not in staged:
                    staged[shared] = stage(rollup.prepared(source, definitions))
                rows = staged[shared]
            _write(tables, rollup, rollup.build(rows, definitions), keys)
    finally:
        for name in temporary:
            con.execute(f"DROP TABLE IF EXISTS {name}")


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


def _events_state(con: Any) -> str:
    """What identifies the events as they are: their row count and the number and time of the
    loads that inserted or updated events."""
    (count,) = con.execute("SELECT count(*) FROM events").fetchone()
    loads: tuple[Any, ...] = (0, None)
    if table_columns(con, LOADS_TABLE):
        loads = con.execute(
            f"SELECT count(*), max(loaded_at) FROM {LOADS_TABLE} "
            "WHERE table_name = 'events' AND inserted + updated > 0"
        ).fetchone()
    return f"{count} rows, {loads[0]} loads, last {loads[1]}"


def _matches(tables: Tables, rollup: Rollup, definitions: Definitions) -> bool:
    """Whether the stored rollup was built from the events as they are, with `definitions`."""
    if not tables.is_embedded:
        return False
    tables.table("events")  # an empty events table where none was loaded
    con = tables.duckdb
    if not table_columns(con, META_TABLE):
        return False
    found = con.execute(
        f"SELECT signature, events_state FROM {META_TABLE} WHERE name = ?", [rollup.name]
    ).fetchone()
    return bool(found == (_signature(tables, rollup, definitions), _events_state(con)))


def _typed_select(tables: Tables, expression: ir.Table) -> str:
    """The expression's SQL with integer columns as BIGINT: DuckDB sums BIGINTs into HUGEINTs,
    which Ibis types as int64 (so it drops a cast to it) and which are several times slower to
    sum again."""
    columns = ", ".join(
        f'CAST("{name}" AS BIGINT) AS "{name}"' if dtype.is_integer() else f'"{name}"'
        for name, dtype in expression.schema().items()
    )
    return f"SELECT {columns} FROM ({tables.backend.compile(expression)})"


def _write(tables: Tables, rollup: Rollup, expression: ir.Table, keys: ir.Table | None) -> None:
    """Store the rollup's rows (replacing the table, or with `keys` only the rows of those
    partition keys) and its bookkeeping row, inside the caller's transaction."""
    con = tables.duckdb
    sql = _typed_select(tables, expression)
    if keys is None:
        # In day order, so that a query over recent days skips the blocks of older ones (a
        # later load's rows, appended, are mostly its recent days).
        con.execute(f'CREATE OR REPLACE TABLE {rollup.table} AS {sql} ORDER BY "day"')
    else:
        same = " AND ".join(f'r."{k}" IS NOT DISTINCT FROM k."{k}"' for k in keys.columns)
        keyed = keys.get_name()
        con.execute(
            f"DELETE FROM {rollup.table} r WHERE EXISTS (SELECT 1 FROM {keyed} k WHERE {same})"
        )
        con.execute(f"INSERT INTO {rollup.table} {sql}")
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {META_TABLE} (name VARCHAR PRIMARY KEY, "
        "signature VARCHAR, events_state VARCHAR, built_at TIMESTAMP)"
    )
    con.execute(
        f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?, ?, now()::TIMESTAMP)",
        [rollup.name, _signature(tables, rollup, tables.definitions), _events_state(con)],
    )
