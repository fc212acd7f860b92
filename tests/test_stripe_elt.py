"""Stripe as Fivetran, Airbyte and dlt land it: the demo company's Stripe objects written as each
tool's warehouse tables in a DuckDB file, read back through Ibis by `stripe_elt` into the Stripe
transform, and the revenue catalog per month equals the demo loaded directly, to the cent."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import time
from pathlib import Path
from typing import Any

import pytest

import tenure
from tenure import demo
from tenure.data.contract import LOAD_ORDER
from tenure.demo.exporters import stripe_elt as exporter
from tenure.errors import TenureError
from tenure.metrics.revenue_catalog import REVENUE_METRICS
from tenure.sources import stripe_elt, sync
from tests.test_stripe import AS_OF, STRIPE_TABLES, _generate, _rows, _workspace

WRITERS = {
    "fivetran": exporter.fivetran_tables,
    "airbyte": exporter.airbyte_tables,
    "dlt": exporter.dlt_tables,
}
OTHER = tuple(t for t in LOAD_ORDER if t not in STRIPE_TABLES and t != "events")


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[demo.DemoResult, Path]:
    """A small demo company and a DuckDB warehouse holding its Stripe data in all three
    layouts, one schema each."""
    result, objects = _generate(tmp_path_factory.mktemp("demo"), accounts=60)
    warehouse = result.paths["accounts"].parent / "warehouse.duckdb"
    for layout, tables in WRITERS.items():
        exporter.write_duckdb(warehouse, f"stripe_{layout}", tables(objects))
    return result, warehouse


def run(ws: Any, url: str, layout: str, **options: str) -> sync.SyncReport:
    connector = stripe_elt.build(
        {"layout": layout, "schema": f"stripe_{layout}", "account_key": "metadata:account_id"}
        | options,
        url,
    )
    return sync.run(connector, f"stripe-{layout}", lambda: contextlib.nullcontext(ws))


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)):
        return (a is None or math.isnan(a)) and (b is None or math.isnan(b))
    return abs(float(a) - float(b)) < 0.005  # to the cent (and to 0.005 for ratios)


@pytest.mark.parametrize("layout", list(WRITERS))
def test_the_revenue_catalog_round_trips_through_each_layout(
    company: tuple[demo.DemoResult, Path], tmp_path: Path, layout: str
) -> None:
    result, warehouse = company
    with (
        _workspace(tmp_path / "direct.duckdb", result, (*OTHER, *STRIPE_TABLES)) as direct,
        _workspace(tmp_path / "synced.duckdb", result, OTHER) as synced,
    ):
        started = time.perf_counter()
        report = run(synced, f"duckdb:///{warehouse}", layout)
        seconds = time.perf_counter() - started
        print(
            f"\n{layout}: {report.records} records in {seconds:.2f} s = {report.records / seconds:.0f}/s"
        )
        assert report.rejected == 0
        names = [m.name for m in REVENUE_METRICS]
        since = dt.date(AS_OF.year - 3, AS_OF.month, 1)
        want = direct.metrics(names, start=since, end=AS_OF)
        got = synced.metrics(names, start=since, end=AS_OF)
        tables = {t: _rows(synced, t) for t in STRIPE_TABLES}
        again = run(synced, f"duckdb:///{warehouse}", layout)
        for table, load in again.loads.items():
            assert load.inserted == load.updated == load.rejected == 0, table
        assert {t: _rows(synced, t) for t in STRIPE_TABLES} == tables
    key = ["metric", "period_start"]
    merged = want.merge(got, on=key, how="outer", suffixes=("_want", "_got"), indicator=True)
    assert (merged["_merge"] == "both").all()
    wrong = merged[
        [not _same(a, b) for a, b in zip(merged.value_want, merged.value_got, strict=True)]
    ]
    assert wrong.empty, wrong[[*key, "value_want", "value_got"]].head(20).to_string()
    mrr = merged[merged.metric == "mrr"]
    assert (mrr.value_want.astype(float) > 0).sum() > 30  # years of revenue compared
    assert any(r[-1] == "refund" for r in tables["orders"])  # refunds came through the charges


def test_a_second_sync_reads_only_what_changed_after_the_sync_column(
    company: tuple[demo.DemoResult, Path], tmp_path: Path
) -> None:
    result, warehouse = company
    import duckdb

    with _workspace(tmp_path / "w.duckdb", result, ("fx_rates",)) as ws:
        first = run(ws, f"duckdb:///{warehouse}", "fivetran")
        again = run(ws, f"duckdb:///{warehouse}", "fivetran")
        assert sum(again.pulled.values()) == 0 < sum(first.pulled.values())
        con = duckdb.connect(str(warehouse))
        try:  # Fivetran lands a renamed customer in a later sync
            con.execute(
                "UPDATE stripe_fivetran.customer SET name = 'Renamed', "
                "_fivetran_synced = _fivetran_synced + INTERVAL 1 DAY "
                "WHERE id = (SELECT min(id) FROM stripe_fivetran.customer)"
            )
        finally:
            con.close()
        changed = run(ws, f"duckdb:///{warehouse}", "fivetran")
        assert changed.pulled["customers"] == 1 and changed.pulled["invoices"] == 0
        assert changed.loads["accounts"].updated == 1
        assert ("Renamed",) in ws.duckdb.execute("SELECT name FROM accounts").fetchall()


def test_the_warehouse_url_never_appears_in_an_error(tmp_path: Path) -> None:
    url = "postgres://tenure:s3cret-pa55@127.0.0.1:1/warehouse"
    with tenure.connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as ws:
        with pytest.raises(TenureError, match="stripe_elt: customers") as raised:
            run(ws, url, "airbyte")
        assert "s3cret" not in str(raised.value) and "127.0.0.1:1" not in str(raised.value)
        empty = f"duckdb:///{tmp_path / 'empty.duckdb'}"
        with pytest.raises(TenureError, match="stripe_elt: customers") as missing:
            run(ws, empty, "fivetran", schema="nowhere")
        assert "empty.duckdb" not in str(missing.value)
    assert "s3cret" not in repr(stripe_elt.build({"layout": "dlt"}, url))
    with pytest.raises(TenureError, match="layout"):
        stripe_elt.build({"layout": "stitch"}, url)
    with pytest.raises(TenureError, match="STRIPE_WAREHOUSE_URL"):
        stripe_elt.build({"layout": "dlt"}, None)
