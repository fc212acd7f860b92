"""Benchmark: build the demo company at scale and load it, against a plain DuckDB insert.

Prints generation time, validated-load time, peak memory, and, measured in the same run on the
same machine:
- the ratio of Tenure's validated, idempotent load of events.parquet into a fresh table (one pass
  of validation per chunk, appended without a join; then the four event rollups built) to a plain
  `CREATE TABLE AS SELECT * FROM read_parquet` of the same file into a DuckDB database file, as
  Tenure's store is, without and with the rollups (the same insert into an in-memory database,
  which writes nothing to disk, is printed beside it);
- the ratio of an increment (the last tenth of events.parquet into a store holding the first nine
  tenths; merged by key, rollups updated by partition) to a plain `INSERT INTO ... SELECT * FROM
  read_parquet` of those rows into the same nine tenths.
Loads run in chunks of $TENURE_LOAD_CHUNK_ROWS rows (default 2,000,000).
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import shutil
import tempfile
import time
from pathlib import Path

import duckdb

import tenure
from tenure import demo
from tenure.data import loader


def plain_insert_seconds(path: Path, database: Path | None = None) -> float:
    """A plain `CREATE TABLE AS` of the file into `database` (a new file), else into memory."""
    con = duckdb.connect(str(database) if database else ":memory:")
    started = time.perf_counter()
    con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [str(path)])
    seconds = time.perf_counter() - started
    con.close()
    if database:
        database.unlink()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--accounts", type=int, default=20_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tenure-bench-"))
    try:
        with tenure.connect(f"duckdb:///{folder / 'bench.duckdb'}") as ws:
            result = demo.build(
                ws,
                folder / "data",
                accounts=args.accounts,
                events=args.events,
                seed=7,
                as_of=dt.date(2026, 11, 1),
            )
            events_report = next(r for r in result.reports if r.table == "events")
            assert events_report.rejected == 0
            started = time.perf_counter()
            reload = ws.load("events", result.paths["events"])
            reload_seconds = time.perf_counter() - started
            assert reload.unchanged == args.events
        # The plain insert before and after Tenure's load, averaged: a shared machine's load
        # varies within a run.
        events, plain_file = result.paths["events"], folder / "plain.duckdb"
        first = plain_insert_seconds(events, plain_file), plain_insert_seconds(events)
        tenure_load, rollups = _events_load_seconds(folder, events)
        baseline = (first[0] + plain_insert_seconds(events, plain_file)) / 2
        in_memory = (first[1] + plain_insert_seconds(events)) / 2
        increment, plain_increment, rows = _increment_seconds(folder, result.paths["events"])
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"demo company: {args.accounts:,} accounts, {args.events:,} events")
        print("  rows: " + ", ".join(f"{k} {v:,}" for k, v in result.rows.items()))
        print(f"  generate (all tables, Parquet): {result.seconds_generate:8.1f} s")
        print(f"  validated load (all tables):    {result.seconds_load:8.1f} s")
        print(
            f"  idempotent re-load of events:   {reload_seconds:8.1f} s (all {args.events:,} unchanged)"
        )
        print(f"  peak memory (RSS):              {peak_mb:8,.0f} MB")
        print(
            f"events.parquet into a fresh table: Tenure {tenure_load:.2f} s + rollups "
            f"{rollups:.2f} s vs plain DuckDB insert into a database file {baseline:.2f} s -> "
            f"ratio {tenure_load / baseline:.1f}x, {(tenure_load + rollups) / baseline:.1f}x "
            f"with rollups (into memory: {in_memory:.2f} s, {tenure_load / in_memory:.1f}x)"
        )
        print(
            f"increment of {rows:,} events: Tenure {increment:.2f} s (rollups included) vs plain "
            f"DuckDB insert {plain_increment:.2f} s -> ratio {increment / plain_increment:.1f}x"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _events_load_seconds(folder: Path, path: Path) -> tuple[float, float]:
    """The validated load into a fresh store, then the rollups it builds (what `ws.load` does)."""
    with tenure.connect(f"duckdb:///{folder / 'fresh.duckdb'}") as ws:
        started = time.perf_counter()
        report = loader.load(ws.duckdb, "events", path, reporting_currency=ws.reporting_currency)
        seconds = time.perf_counter() - started
        assert report.inserted > 0 and report.rejected == 0
        started = time.perf_counter()
        assert ws.refresh_rollups()
        rollups = time.perf_counter() - started
    return seconds, rollups


def _increment_seconds(folder: Path, path: Path) -> tuple[float, float, int]:
    """The last tenth of `path` loaded into a store holding the rest, by Tenure and by a plain
    insert; returns both times and the increment's rows."""
    con = duckdb.connect()
    (rows,) = con.execute("SELECT count(*) FROM read_parquet(?)", [str(path)]).fetchone() or (0,)
    cut = rows - rows // 10
    number = duckdb.ColumnExpression("file_row_number")
    for name, rows_wanted in (("base", number < cut), ("increment", number >= cut)):
        part = con.read_parquet(str(path), file_row_number=True).filter(rows_wanted)
        columns = [duckdb.ColumnExpression(c) for c in part.columns if c != "file_row_number"]
        part.order("file_row_number").select(*columns).write_parquet(
            str(folder / f"{name}.parquet")
        )
    con.close()
    base, increment = folder / "base.parquet", folder / "increment.parquet"
    with tenure.connect(f"duckdb:///{folder / 'daily.duckdb'}") as ws:
        ws.load("events", base)
        started = time.perf_counter()
        report = ws.load("events", increment)
        seconds = time.perf_counter() - started
        assert report.inserted == rows - cut
    plain_seconds = 0.0
    for attempt in range(2):  # the mean of two, as for the fresh load
        plain = duckdb.connect(str(folder / f"plain{attempt}.duckdb"))
        plain.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [str(base)])
        started = time.perf_counter()
        plain.execute("INSERT INTO events SELECT * FROM read_parquet(?)", [str(increment)])
        plain_seconds += (time.perf_counter() - started) / 2
        plain.close()
    return seconds, plain_seconds, rows - cut


if __name__ == "__main__":
    main()
