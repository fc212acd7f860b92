"""Engagement metrics at scale: 10M events over 12 months (100k users in 20k accounts, 1M
sessions, half with a session_id and half sessionised by the inactivity gap).

Every engagement metric of the catalog, monthly over the 12 months, against a baseline measured in
the same run: one plain DuckDB query that scans the events table once (events, distinct users,
distinct sessions and total duration per month). The metrics read the event rollups (active
user-days, sessions, page views and features used per day) that a load builds; building them is
timed on its own, as part of what a load of these events costs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

import tenure
from tenure.data import loader
from tenure.data.contract import contract_for
from tenure.metrics.usage_catalog import USAGE_METRICS
from timing import best_of

FIRST, LAST = dt.date(2025, 11, 1), dt.date(2026, 10, 1)
EVENTS = """
INSERT INTO events
SELECT
    'E' || i AS event_id,
    TIMESTAMP '2025-11-01' + to_seconds((hash(i // 10) % (364 * 86400))::BIGINT)
        + to_seconds((i % 10) * 90) AS occurred_at,
    CASE
        WHEN i % 50 = 0 THEN 'visit'
        WHEN i % 50 = 1 THEN 'share'
        WHEN i % 50 < 14 THEN 'feature_used'
        WHEN i % 50 < 18 THEN 'task_completed'
        ELSE 'page_view'
    END AS name,
    CASE WHEN i % 50 = 0 THEN NULL ELSE 'A' || (i // 500) END AS account_id,
    CASE WHEN i % 50 = 0 THEN NULL ELSE 'U' || (i // 100) END AS user_id,
    CASE WHEN i % 50 = 0 THEN 'V' || (i // 10) END AS anonymous_id,
    CASE WHEN (i // 100) % 2 = 0 THEN 'S' || (i // 10) END AS session_id,
    CASE WHEN i % 50 BETWEEN 2 AND 13 THEN 'f' || (hash(i) % 12) END AS feature,
    CASE WHEN i % 50 >= 18 THEN '/p' || (hash(i) % 40) END AS page,
    (hash(i) % 120)::DOUBLE AS duration_s,
    CASE WHEN i % 50 = 1 THEN '{"channel": "' || ['slack', 'x', 'email'][1 + i % 3] || '"}' END
        AS properties
FROM range($events) t(i)
"""
BASELINE = """
SELECT date_trunc('month', occurred_at) AS month, count(*) AS events,
       count(DISTINCT user_id) AS users, count(DISTINCT session_id) AS sessions,
       sum(duration_s) AS seconds
FROM events GROUP BY 1
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tenure-bench-") as tmp:
        folder = Path(tmp)
        with tenure.connect(f"duckdb:///{folder / 'bench.duckdb'}") as ws:
            con = ws.duckdb
            loader.ensure_table(con, contract_for("events"))
            con.execute(EVENTS.replace("$events", str(args.events)))
            print(f"data: {args.events:,} events over 12 months", flush=True)
            started = time.perf_counter()
            built = ws.refresh_rollups()
            rollups = time.perf_counter() - started
            baseline = best_of(args.runs, lambda: con.execute(BASELINE).fetch_df())
            names = [m.name for m in USAGE_METRICS if m.area == "engagement"]
            ours = best_of(args.runs, lambda: ws.metrics(names, start=FIRST, end=LAST))
            print(f"baseline single DuckDB scan of events: {baseline:.3f} s")
            print(f"rollups built at load ({', '.join(built)}): {rollups:.1f} s")
            print(
                f"{len(names)} engagement metrics, monthly x 12: {ours:.3f} s = "
                f"{ours / baseline:.1f}x baseline (target <= 5x)"
            )


if __name__ == "__main__":
    main()
