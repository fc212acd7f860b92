"""Zendesk as Fivetran and Airbyte land it: the demo's support desk written as their warehouse
tables in a DuckDB file, read back through Ibis by `zendesk_elt` into the Zendesk transform, and
the support catalog equals the demo loaded directly. Airbyte's tables hold the API objects, so
first-response times agree to the minute as through the API; Fivetran's comments carry the exact
first reply, so everything agrees exactly."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import tenure
from tenure import demo
from tenure.data.contract import LOAD_ORDER
from tenure.demo.exporters import zendesk as api
from tenure.demo.exporters import zendesk_elt as elt
from tenure.errors import TenureError
from tenure.sources import sync, zendesk_elt
from tenure.workspace import Workspace

START, END = dt.date(2022, 1, 1), dt.date(2025, 6, 1)
EXACT = ["tickets", "fcr", "backlog", "backlog_age_days", "resolution_hours_median"]
EXACT += ["resolution_hours_p90", "csat"]
MINUTES = ["first_response_hours_median", "first_response_hours_p90"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    demo.generate(out, accounts=150, events=1_000, seed=3, as_of=dt.date(2025, 6, 30))
    return out


@pytest.fixture(scope="module")
def warehouse(demo_dir: Path) -> Path:
    path = demo_dir / "warehouse.duckdb"
    elt.write_duckdb(path, "zendesk", elt.fivetran_tables(demo_dir))
    elt.write_duckdb(path, "zendesk_airbyte", elt.airbyte_tables(demo_dir))
    return path


@pytest.fixture(scope="module")
def direct(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    path = tmp_path_factory.mktemp("direct") / "w.duckdb"
    with tenure.connect(f"duckdb:///{path}") as ws:
        for table in LOAD_ORDER:
            ws.load(table, demo_dir / f"{table}.parquet")
        yield ws


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with tenure.connect(f"duckdb:///{tmp_path / 'z.duckdb'}") as workspace:
        yield workspace


def run(ws: Workspace, warehouse: Path, layout: str, schema: str) -> sync.SyncReport:
    options = {"layout": layout, "schema": schema, "confirmed_field": str(api.CONFIRMED_FIELD)}
    connector = zendesk_elt.build(options, f"duckdb:///{warehouse}")
    return sync.run(connector, f"zendesk-{layout}", lambda: contextlib.nullcontext(ws))


def metrics(ws: Workspace, names: list[str], **kwargs: Any) -> pd.DataFrame:
    frame = ws.metrics(names, start=START, end=END, **kwargs)
    return frame.sort_values(["metric", "period_start"]).reset_index(drop=True)


@pytest.mark.parametrize(
    ("layout", "schema", "first_response_tolerance"),
    [("fivetran", "zendesk", 0.0), ("airbyte", "zendesk_airbyte", 0.5 / 60)],
)
def test_the_support_catalog_round_trips(
    ws: Workspace,
    warehouse: Path,
    direct: Workspace,
    layout: str,
    schema: str,
    first_response_tolerance: float,
):
    started = time.perf_counter()
    report = run(ws, warehouse, layout, schema)
    seconds = time.perf_counter() - started
    print(
        f"\n{layout}: {report.records} records in {seconds:.2f} s = {report.records / seconds:.0f}/s"
    )
    assert report.rejected == 0
    pd.testing.assert_frame_equal(metrics(ws, EXACT), metrics(direct, EXACT))
    required = {"definitions": direct.definitions.__class__(fcr_confirmation="required")}
    pd.testing.assert_frame_equal(
        metrics(ws, ["fcr"], **required), metrics(direct, ["fcr"], **required)
    )
    want, got = metrics(direct, MINUTES), metrics(ws, MINUTES)
    assert (want.value - got.value).abs().max() <= first_response_tolerance + 1e-9
    again = run(ws, warehouse, layout, schema)
    for table, load in again.loads.items():
        assert load.inserted == load.updated == load.rejected == 0, table


def test_a_missing_table_is_one_line_without_the_url(ws: Workspace, warehouse: Path):
    with pytest.raises(TenureError, match="zendesk_elt: organizations") as raised:
        run(ws, warehouse, "fivetran", "nowhere")
    assert str(warehouse) not in str(raised.value)
    with pytest.raises(TenureError, match="layout"):
        zendesk_elt.build({"layout": "stitch"}, "duckdb://")
