"""Benchmark: build the demo company at scale and load it, against a plain DuckDB insert.

Prints generation time, validated-load time, peak memory, and the ratio of Tenure's validated,
idempotent load of events.parquet to a plain `INSERT ... SELECT * FROM read_parquet` of the same
file, measured in the same run on the same machine.
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


def plain_insert_seconds(path: Path) -> float:
    con = duckdb.connect()
    started = time.perf_counter()
    con.execute("CREATE TABLE events AS SELECT * FROM read_parquet(?)", [str(path)])
    seconds = time.perf_counter() - started
    con.close()
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
        tenure_load = _events_load_seconds(folder, result.paths["events"])
        baseline = plain_insert_seconds(result.paths["events"])
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
            f"events.parquet into a fresh table: Tenure {tenure_load:.2f} s vs plain DuckDB "
            f"insert {baseline:.2f} s -> ratio {tenure_load / baseline:.1f}x"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _events_load_seconds(folder: Path, path: Path) -> float:
    with tenure.connect(f"duckdb:///{folder / 'fresh.duckdb'}") as ws:
        started = time.perf_counter()
        report = ws.load("events", path)
        seconds = time.perf_counter() - started
        assert report.inserted > 0
    return seconds


if __name__ == "__main__":
    main()
