"""A day's new events into a large store, against a plain insert of the same rows.

From a store built by `tenure demo` (e.g. 100M events), the latest N events become "tomorrow":
the same users and accounts, one day later, with new event and session ids. Tenure's validated
load of that file into the store (merge by key, rollups updated for the user-days and visitors it
touches) is timed against a plain DuckDB `INSERT INTO ... SELECT * FROM read_parquet` of the same
file into a plain copy of the store's events, in the same file. The store gains the N events.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

import tenure

TOMORROW = """
SELECT * REPLACE (
    'next-' || event_id AS event_id,
    occurred_at + INTERVAL 1 DAY AS occurred_at,
    'next-' || session_id AS session_id
)
FROM events ORDER BY occurred_at DESC LIMIT ?
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True, help="a demo store, duckdb:///path (it gains rows)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="tenure-bench-"))
    try:
        tomorrow = work / "tomorrow.parquet"
        with tenure.connect(args.db) as ws:
            con = ws.duckdb
            pq.write_table(con.execute(TOMORROW, [args.rows]).to_arrow_table(), tomorrow)
            (stored,) = con.execute("SELECT count(*) FROM events").fetchone()
            # A plain copy of the events, in the same store file.
            con.execute("CREATE OR REPLACE TABLE _bench_plain_events AS SELECT * FROM events")
            started = time.perf_counter()
            con.execute(
                "INSERT INTO _bench_plain_events SELECT * FROM read_parquet(?)", [str(tomorrow)]
            )
            baseline = time.perf_counter() - started
            con.execute("DROP TABLE _bench_plain_events")
            started = time.perf_counter()
            report = ws.load("events", tomorrow)
            ours = time.perf_counter() - started
        assert report.inserted == args.rows and report.rejected == 0, report
        print(
            f"{args.rows:,} new events into a store of {stored:,}: Tenure {ours:.2f} s (validated, "
            f"merged by key, rollups updated) vs plain DuckDB insert {baseline:.2f} s -> ratio "
            f"{ours / baseline:.1f}x (target <= 3x)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
