"""Tables derived from the events and kept beside them (active user-days, sessions, page views
and features used per day), so that engagement metrics read one row per user-day, session or
page-day instead of every event.

A rollup is rebuilt after a load that changes the events and after a setting it depends on
changes (`Workspace.refresh_rollups`). A query reads it only when it was built from the events as
they are now (their row count and their last load that changed rows) with the query's timezone
and definitions; otherwise the query computes the same expression from the events, which is also
what every engine other than the embedded DuckDB store does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis.expr.types as ir

from tenure.data.loader import LOADS_TABLE, table_columns
from tenure.engine.calendar import to_local
from tenure.metrics.definitions import Definitions
from tenure.metrics.query import Query

META_TABLE = "_tenure_rollups"


Step = Callable[[ir.Table, Definitions], ir.Table]


@dataclass(frozen=True)
class Rollup:
    """`build` turns events (with local time `at` and local `day`) into rows that carry
    `account_id` and `day`; `depends_on` names the definitions those rows change with. With
    `prepared`, `build` reads `prepared(events)` instead (events with their session, say), which
    a refresh computes once for all the rollups that share it."""

    name: str
    build: Step
    depends_on: Callable[[Definitions], Any]
    prepared: Step | None = None

    @property
    def table(self) -> str:
        return f"_tenure_rollup_{self.name}"

    def from_events(self, events: ir.Table, definitions: Definitions) -> ir.Table:
        rows = events if self.prepared is None else self.prepared(events, definitions)
        return self.build(rows, definitions)


def with_local_time(events: ir.Table, tables: Any) -> ir.Table:
    """Events with `at`, their wall-clock time in the workspace's timezone, and its `day`."""
    at = to_local(events.occurred_at, tables.timezone, tables.backend)
    return events.mutate(at=at, day=at.date())


def rows(query: Query, rollup: Rollup, events: Callable[[], ir.Table]) -> ir.Table:
    """The rollup's rows for the query's accounts and days: the stored table when it is current
    (rebuilt first when it is stale and the query counts by the workspace's own definitions),
    else computed from `events()`, the query's events."""

    def build() -> ir.Table:
        tables, definitions = query.tables, query.definitions
        if _signature(tables, rollup, definitions) == _signature(
            tables, rollup, tables.definitions
        ):
            refresh(tables, (rollup,))
        if not _matches(tables, rollup, definitions):
            return rollup.from_events(events(), definitions)
        stored = tables.backend.table(rollup.table)
        first, last = query.window
        return query.restricted(stored.filter(stored.day >= first, stored.day <= last))

    result: ir.Table = query.memo(f"rollup:{rollup.name}", build)
    return result


def refresh(tables: Any, rollups: tuple[Rollup, ...]) -> list[str]:
    """Rebuild those of `rollups` that do not match the events and the workspace's settings
    (nothing on a read-only or non-embedded store). Returns the names rebuilt."""
    if not tables.is_embedded or tables.read_only:
        return []
    definitions = tables.definitions
    stale = [r for r in rollups if not _matches(tables, r, definitions)]
    events = with_local_time(tables.table("events"), tables)
    staged: dict[Step, str] = {}
    try:
        for rollup in stale:
            rows = events
            if rollup.prepared is not None:
                if rollup.prepared not in staged:
                    name = f"_tenure_rollup_stage_{len(staged)}"
                    sql = _typed_select(tables, rollup.prepared(events, definitions))
                    tables.duckdb.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")
                    staged[rollup.prepared] = name
                rows = tables.backend.table(staged[rollup.prepared])
            _store(tables, rollup, rollup.build(rows, definitions))
    finally:
        for name in staged.values():
            tables.duckdb.execute(f"DROP TABLE IF EXISTS {name}")
    return [r.name for r in stale]


def _signature(tables: Any, rollup: Rollup, definitions: Definitions) -> str:
    return json.dumps([tables.timezone, rollup.depends_on(definitions)], default=str)


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


def _matches(tables: Any, rollup: Rollup, definitions: Definitions) -> bool:
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


def _typed_select(tables: Any, expression: ir.Table) -> str:
    """The expression's SQL with integer columns as BIGINT: DuckDB sums BIGINTs into HUGEINTs,
    which Ibis types as int64 (so it drops a cast to it) and which are several times slower to
    sum again."""
    columns = ", ".join(
        f'CAST("{name}" AS BIGINT) AS "{name}"' if dtype.is_integer() else f'"{name}"'
        for name, dtype in expression.schema().items()
    )
    return f"SELECT {columns} FROM ({tables.backend.compile(expression)})"


def _store(tables: Any, rollup: Rollup, expression: ir.Table) -> None:
    """Write the rollup and its bookkeeping row in one transaction."""
    con = tables.duckdb
    sql = _typed_select(tables, expression)
    state = _events_state(con)
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {META_TABLE} (name VARCHAR PRIMARY KEY, "
        "signature VARCHAR, events_state VARCHAR, built_at TIMESTAMP)"
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TABLE {rollup.table} AS {sql}")
        con.execute(
            f"INSERT OR REPLACE INTO {META_TABLE} VALUES (?, ?, ?, now()::TIMESTAMP)",
            [rollup.name, _signature(tables, rollup, tables.definitions), state],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
