"""Past one machine: a store's tables exported as month partitions, and a sample of the catalog
on Apache Spark (local mode here; `SPARK_MASTER` for a cluster) against the embedded DuckDB
store, over the last three months.

Prints the export's time, each engine's time for the sample, and checks that both give the same
numbers. Without --db it builds a demo company of --events events first; for 100M events, build
the store once (`tenure demo --events 100000000 --db duckdb:///big.duckdb`) and pass it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

import tenure
from tenure import demo

AS_OF = dt.date(2026, 11, 1)
SAMPLE = ["mrr", "customers", "customer_churn_rate", "dau", "mau", "shares", "feature_events"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", help="an embedded store, duckdb:///path (default: a demo)")
    parser.add_argument("--events", type=int, default=2_000_000, help="the demo's events")
    parser.add_argument("--folder", type=Path, help="where to export (default: a temp folder)")
    parser.add_argument("--end", type=dt.date.fromisoformat, default=dt.date(2026, 10, 1))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tenure-bench-"))
    try:
        args.folder = args.folder or work / "export"
        if args.db is None:
            args.db = f"duckdb:///{work / 'demo.duckdb'}"
            with tenure.connect(args.db) as ws:
                demo.build(
                    ws, work / "data", accounts=5_000, events=args.events, seed=7, as_of=AS_OF
                )
        _compare(args)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _compare(args: argparse.Namespace) -> None:
    start = (pd.Timestamp(args.end) - pd.DateOffset(months=2)).date()
    options = {"start": start, "end": args.end}
    with tenure.connect(args.db) as duck:
        if not (args.folder / "events.parquet").exists():
            started = time.perf_counter()
            duck.export(args.folder, partition_by="month")
            print(f"export, month partitions: {time.perf_counter() - started:.1f} s", flush=True)
        (events,) = duck.duckdb.execute("SELECT count(*) FROM events").fetchone()
        started = time.perf_counter()
        left = duck.metrics(SAMPLE, **options)  # type: ignore[arg-type]
        duck_seconds = time.perf_counter() - started
    spark = tenure.connect(f"pyspark://{args.folder.resolve()}")
    started = time.perf_counter()
    right = spark.metrics(SAMPLE, **options)  # type: ignore[arg-type]
    spark_seconds = time.perf_counter() - started
    keys = ["metric", "period_start"]
    left, right = (f.sort_values(keys).reset_index(drop=True) for f in (left, right))
    for a, b in zip(left["value"], right["value"], strict=True):
        assert (a is None and b is None) or abs(float(a) - float(b)) <= 1e-6 * max(
            1.0, abs(float(a))
        ), (a, b)
    print(
        f"{len(SAMPLE)} metrics ({', '.join(SAMPLE)}), monthly {start:%Y-%m}..{args.end:%Y-%m}, "
        f"{events:,} events: DuckDB {duck_seconds:.1f} s, Spark local {spark_seconds:.1f} s "
        f"({spark_seconds / duck_seconds:.1f}x); the same {len(left)} values"
    )


if __name__ == "__main__":
    main()
