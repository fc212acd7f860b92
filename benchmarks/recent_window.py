"""Old data must not slow new questions: the engagement metrics over the last three months of a
store holding one year of events, against the same question on a store holding ten years.

Both stores hold the same year of events (the `engagement_scale.py` generator, 10M events by
default). The large store also holds nine earlier years of the same shape (9 x 10M events),
loaded first, as a company accumulates them. Every engagement metric of the catalog is computed
monthly over the last three months of that year (their trailing windows read six months more)
on each store, alternately; the ratio large / small is the figure (target: within 1.5x).
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
from engagement_scale import EVENTS
from tenure.data import loader
from tenure.data.contract import contract_for
from tenure.metrics.usage_catalog import USAGE_METRICS
from timing import best_of

FIRST, LAST = dt.date(2026, 8, 1), dt.date(2026, 10, 1)
YEAR_DAYS = 364  # the generator's span: 364 days from 2025-11-01


def _fill(ws: tenure.Workspace, events: int, older_years: int) -> float:
    """Insert `older_years` shifted copies of the year, oldest first, then the year itself;
    then build the rollups as a load does. Returns the rollup build's seconds."""
    con = ws.duckdb
    loader.ensure_table(con, contract_for("events"))
    for years_back in range(older_years, -1, -1):
        shifted = EVENTS.replace("$events", str(events))
        if years_back:
            for key in ("E", "S", "V"):  # new events, sessions and visitors; same users
                shifted = shifted.replace(f"'{key}' ||", f"'{key}{years_back}_' ||")
            shifted = shifted.replace(
                "TIMESTAMP '2025-11-01'",
                f"TIMESTAMP '2025-11-01' - INTERVAL {years_back * YEAR_DAYS} DAY",
            )
        con.execute(shifted)
    started = time.perf_counter()
    ws.refresh_rollups()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000, help="events per year")
    parser.add_argument("--years", type=int, default=10, help="years in the large store")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--keep", type=Path, help="build the stores in this folder once and reuse them"
    )
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="tenure-bench-"))
    built = (folder / "large.duckdb").exists()
    try:
        _measure(folder, args, reuse=built)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


def _measure(folder: Path, args: argparse.Namespace, *, reuse: bool) -> None:
    names = [m.name for m in USAGE_METRICS if m.area == "engagement"]
    with (
        tenure.connect(f"duckdb:///{folder / 'small.duckdb'}") as small,
        tenure.connect(f"duckdb:///{folder / 'large.duckdb'}") as large,
    ):
        if not reuse:
            small_rollups = _fill(small, args.events, 0)
            large_rollups = _fill(large, args.events, args.years - 1)
            print(f"rollups built in {small_rollups:.1f} s and {large_rollups:.1f} s")
        print(
            f"data: {args.events:,} events a year; small store 1 year, large store "
            f"{args.years} years ({args.events * args.years:,} events)",
            flush=True,
        )
        pd.testing.assert_frame_equal(  # the same answers: the older years are outside the window
            small.metrics(names, start=FIRST, end=LAST),
            large.metrics(names, start=FIRST, end=LAST),
            check_dtype=False,
        )
        times = {"small": [], "large": []}
        for _ in range(args.runs):  # alternate, so that a busy spell hits both
            for label, ws in (("small", small), ("large", large)):
                times[label].append(
                    best_of(1, lambda ws=ws: ws.metrics(names, start=FIRST, end=LAST))
                )
        fast, slow = min(times["small"]), min(times["large"])
        print(
            f"{len(names)} engagement metrics, monthly over {FIRST:%Y-%m}..{LAST:%Y-%m}: "
            f"1 year {fast:.3f} s, {args.years} years {slow:.3f} s -> ratio "
            f"{slow / fast:.2f}x (target <= 1.5x)"
        )


if __name__ == "__main__":
    main()
