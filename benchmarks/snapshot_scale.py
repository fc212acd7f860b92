"""Benchmark: the Accounts worklist from the account snapshot.

Builds a demo company (20,000 accounts and few events by default), trains churn prediction,
refreshes the account snapshot and times `read()` of the first page sorted by churn risk, against
scoring health and churn risk for every account on the request (what `/api/accounts` did).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import tenure
from tenure import demo
from tenure.errors import TenureError
from tenure.models import account_snapshot
from timing import best_of

AS_OF = dt.date(2026, 11, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--no-churn", action="store_true", help="skip training churn prediction")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="tenure-snapshot-"))
    try:
        with tenure.connect(f"duckdb:///{folder / 'bench.duckdb'}") as ws:
            started = time.perf_counter()
            demo.build(
                ws,
                folder / "data",
                accounts=args.accounts,
                events=args.events,
                seed=7,
                as_of=AS_OF,
            )
            print(f"demo company: {args.accounts:,} accounts, {args.events:,} events")
            print(f"  build and load:               {time.perf_counter() - started:8.2f} s")
            if not args.no_churn:
                started = time.perf_counter()
                try:
                    ws.train_churn(as_of=AS_OF)
                    print(f"  train churn:                  {time.perf_counter() - started:8.2f} s")
                except TenureError as exc:
                    print(f"  churn not trained: {exc}")
            started = time.perf_counter()
            rows = account_snapshot.refresh(ws, as_of=AS_OF)
            print(f"  refresh snapshot ({rows:,} rows): {time.perf_counter() - started:8.2f} s")
            started = time.perf_counter()
            account_snapshot.refresh(ws, as_of=AS_OF)
            print(f"  refresh again:                {time.perf_counter() - started:8.2f} s")

            def first_page() -> None:
                page, _ = account_snapshot.read(ws, sort="churn_probability", limit=50)
                assert len(page) == 50

            def filtered_page() -> None:
                account_snapshot.read(
                    ws, band="red", search="a", where="plan = 'growth'", sort="mrr", limit=50
                )

            print(f"  read first page by churn risk: {best_of(5, first_page):8.3f} s (best of 5)")
            print(f"  read filtered, searched page:  {best_of(5, filtered_page):8.3f} s")

            def on_request() -> None:
                ws.health(as_of=AS_OF)
                with contextlib.suppress(TenureError):  # no model: health only
                    ws.churn_risk(as_of=AS_OF)

            print(f"  scoring on the request (old):  {best_of(1, on_request):8.2f} s")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
