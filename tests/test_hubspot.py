"""The HubSpot connector through the real `hubspot-api-client` against a local CRM API serving the
demo company's accounts: accounts and their attributes equal the demo's, re-syncs change nothing,
an interrupted sync resumes, 429s are retried, and the token never shows."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import tenure
from tenure import demo
from tenure.demo.exporters import hubspot as exporter
from tenure.errors import TenureError
from tenure.sources import hubspot as connector_module
from tenure.sources import staging, sync
from tenure.workspace import Workspace

from .hubspot_server import HubSpotServer

TOKEN = "pat-na1-secret-0123456789"
COLUMNS = "account_id, name, created_at, owner, industry, plan, country, channel, seats"
OPTIONS = {"account_key": "tenure_account_id", "properties": "plan,country,channel,seats"}


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    demo.generate(out, accounts=300, events=1_000, seed=11, as_of=dt.date(2025, 6, 30))
    return out


@pytest.fixture
def server(demo_dir: Path) -> Iterator[HubSpotServer]:
    with HubSpotServer(exporter.export(demo_dir), TOKEN) as running:
        yield running


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with tenure.connect(f"duckdb:///{tmp_path / 'h.duckdb'}") as workspace:
        yield workspace


def run(ws: Workspace, server: HubSpotServer, token: str = TOKEN) -> sync.SyncReport:
    built = connector_module.build({**OPTIONS, "base_url": server.url}, token)
    return sync.run(built, "hubspot", lambda: contextlib.nullcontext(ws))


def accounts(ws: Workspace) -> list[tuple[Any, ...]]:
    return ws.duckdb.execute(f"SELECT {COLUMNS} FROM accounts ORDER BY account_id").fetchall()


def test_accounts_and_attributes_equal_the_demo(
    ws: Workspace, server: HubSpotServer, demo_dir: Path, tmp_path: Path
):
    started = time.perf_counter()
    report = run(ws, server)
    seconds = time.perf_counter() - started
    print(
        f"\nhubspot: {report.records} records in {seconds:.2f} s = {report.records / seconds:.0f}/s"
    )
    assert report.rejected == 0
    with tenure.connect(f"duckdb:///{tmp_path / 'direct.duckdb'}") as direct:
        direct.load("accounts", demo_dir / "accounts.parquet")
        want = accounts(direct)
    assert len(want) == 300
    assert accounts(ws) == want
    extra = ws.duckdb.execute(
        "SELECT count(*) FILTER (lifecycle_stage = 'customer' AND lifecycle_stage_since = "
        "created_at AND owner_email LIKE '%@example.com' AND domain LIKE '%.example.com') "
        "FROM accounts"
    ).fetchone()
    assert extra == (300,)


def test_a_rerun_changes_nothing(ws: Workspace, server: HubSpotServer):
    run(ws, server)
    before = accounts(ws)
    again = run(ws, server)
    assert again.pulled["companies"] == 300  # full pulls, see the module docstring
    load = again.loads["accounts"]
    assert load.inserted == load.updated == load.rejected == 0
    assert accounts(ws) == before


def test_an_interrupted_sync_resumes(ws: Workspace, server: HubSpotServer):
    server.fail_after_pages = 2
    with pytest.raises(TenureError, match="HTTP 500"):
        run(ws, server)
    assert staging.counts(ws.duckdb, "hubspot")["companies"] == 100
    server.fail_after_pages = None
    resumed = run(ws, server)
    assert resumed.pulled["companies"] == 200
    assert len(accounts(ws)) == 300


def test_rate_limits_are_retried(ws: Workspace, server: HubSpotServer):
    server.throttle(2, retry_after=1)
    report = run(ws, server)
    assert server.throttled == 2
    assert report.pulled["companies"] == 300


def test_a_bad_token_is_refused_without_showing_it(ws: Workspace, server: HubSpotServer):
    wrong = "pat-na1-wrong-9876543210"
    with pytest.raises(TenureError) as refused:
        run(ws, server, wrong)
    message = str(refused.value)
    assert "401" in message and "INVALID_AUTHENTICATION" in message
    assert wrong not in message and TOKEN not in message
    assert TOKEN not in repr(connector_module.build(OPTIONS, TOKEN))
    with pytest.raises(TenureError, match="HUBSPOT_ACCESS_TOKEN"):
        connector_module.build(OPTIONS, None)
