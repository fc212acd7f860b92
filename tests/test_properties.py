"""Invariants of loading, over random data: no row is lost or counted twice."""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tenure

ids = st.text(alphabet="AB12'\",;", min_size=1, max_size=4)
amounts = st.decimals(min_value=-50, max_value=10_000, places=2, allow_nan=False)
row = st.tuples(ids, amounts, st.sampled_from(["one_time", "refund", "subscription"]))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=st.lists(row, max_size=12), second=st.lists(row, max_size=12))
def test_counts_always_reconcile_and_reloads_are_idempotent(first: list, second: list) -> None:
    with tenure.connect("duckdb://") as ws:
        stored: dict[str, object] = {}
        for batch in (first, second, second):
            frame = pd.DataFrame(
                {
                    "order_id": [r[0] for r in batch],
                    "account_id": "A1",
                    "ordered_at": "2024-01-01",
                    "amount": [str(r[1]) for r in batch],
                    "currency": "USD",
                    "kind": [r[2] for r in batch],
                },
                columns=["order_id", "account_id", "ordered_at", "amount", "currency", "kind"],
            )
            if batch:
                report = ws.load("orders", frame)
                assert report.rows_read == len(batch)
                accounted = report.inserted + report.updated + report.unchanged
                assert accounted + report.duplicates + report.rejected == report.rows_read
                by_id: dict[str, set] = {}
                for r in batch:
                    by_id.setdefault(r[0], set()).add(r)
                for key, versions in by_id.items():
                    # Invalid rows are rejected first; a key left with one version loads,
                    # a key with several different valid versions is ambiguous and rejected.
                    valid = {v for v in versions if v[1] >= 0 or v[2] == "refund"}
                    if len(valid) == 1:
                        stored[key] = next(iter(valid))
            assert ws.row_counts()["orders"] == len(stored)
        last = ws.load("orders", frame) if second else None
        if last is not None:
            assert last.inserted == last.updated == 0
