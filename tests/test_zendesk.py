"""The Zendesk connector through the real `zenpy` client against a local Zendesk API serving the
demo company's support desk: the support catalog round-trips, re-syncs change nothing, an
interrupted sync resumes, 429s are waited out, and the token never shows.

What cannot round-trip, and is left out on purpose: Zendesk reports the first reply time in whole
minutes, so first-response times agree to half a minute (not to the second); a good/bad rating
cannot carry a 1-5 score, so the CSAT share round-trips and the mean score does not; NPS and CES
are not Zendesk data; tickets_per_account needs the revenue tables.
"""

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
from tenure.demo.exporters import zendesk as exporter
from tenure.errors import TenureError
from tenure.metrics.definitions import Definitions
from tenure.sources import staging, sync, zendesk
from tenure.workspace import Workspace

from .zendesk_server import ZendeskServer

EMAIL, TOKEN = "agent@example.com", "zd-secret-token-0123456789"
AS_OF = dt.date(2025, 6, 30)
START, END = dt.date(2022, 1, 1), dt.date(2025, 6, 1)
EXACT = ["tickets", "fcr", "backlog", "backlog_age_days", "resolution_hours_median"]
EXACT += ["resolution_hours_p90", "csat"]
MINUTES = ["first_response_hours_median", "first_response_hours_p90"]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    demo.generate(out, accounts=200, events=1_000, seed=7, as_of=AS_OF)
    return out


@pytest.fixture(scope="module")
def direct(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    path = tmp_path_factory.mktemp("direct") / "w.duckdb"
    with tenure.connect(f"duckdb:///{path}") as ws:
        for table in LOAD_ORDER:
            ws.load(table, demo_dir / f"{table}.parquet")
        yield ws


@pytest.fixture
def server(demo_dir: Path) -> Iterator[ZendeskServer]:
    with ZendeskServer(exporter.export(demo_dir), EMAIL, TOKEN) as running:
        yield running


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with tenure.connect(f"duckdb:///{tmp_path / 'z.duckdb'}") as workspace:
        yield workspace


def connector(server: ZendeskServer, token: str = TOKEN) -> zendesk.ZendeskConnector:
    options = {
        "subdomain": "acme",
        "email": EMAIL,
        "base_url": server.url,
        "page_size": "100",
        "confirmed_field": str(exporter.CONFIRMED_FIELD),
    }
    built = zendesk.build(options, token)
    assert isinstance(built, zendesk.ZendeskConnector)
    return built


def run(ws: Workspace, server: ZendeskServer) -> sync.SyncReport:
    return sync.run(connector(server), "zendesk", lambda: contextlib.nullcontext(ws))


def metrics(ws: Workspace, names: list[str], **kwargs: Any) -> pd.DataFrame:
    frame = ws.metrics(names, start=START, end=END, **kwargs)
    return frame.sort_values(["metric", "period_start"]).reset_index(drop=True)


def tickets(ws: Workspace) -> list[tuple[Any, ...]]:
    return ws.duckdb.execute("SELECT * FROM tickets ORDER BY ticket_id").fetchall()


def test_the_support_catalog_round_trips(ws: Workspace, server: ZendeskServer, direct: Workspace):
    started = time.perf_counter()
    report = run(ws, server)
    seconds = time.perf_counter() - started
    print(
        f"\nzendesk: {report.records} records in {seconds:.2f} s = {report.records / seconds:.0f}/s"
    )
    assert report.rejected == 0
    assert report.pulled["tickets"] == len(server.data["tickets"])
    for definitions in (Definitions(), Definitions(fcr_confirmation="required")):
        want = metrics(direct, EXACT, definitions=definitions)
        got = metrics(ws, EXACT, definitions=definitions)
        assert len(want) > 100
        pd.testing.assert_frame_equal(got, want)
    want, got = metrics(direct, MINUTES), metrics(ws, MINUTES)
    assert (want.value - got.value).abs().max() <= 0.5 / 60
    by_channel = metrics(ws, ["fcr"], by=["ticket_channel"])
    assert set(by_channel.ticket_channel) == {"phone", "chat", "email"}


def test_a_rerun_changes_nothing(ws: Workspace, server: ZendeskServer):
    run(ws, server)
    before = tickets(ws)
    again = run(ws, server)
    assert again.pulled["tickets"] == 0
    for table, load in again.loads.items():
        assert load.inserted == load.updated == load.rejected == 0, table
    assert tickets(ws) == before


def test_an_interrupted_sync_resumes_to_the_same_result(
    ws: Workspace, server: ZendeskServer, tmp_path: Path
):
    server.fail_after_pages = 3
    with pytest.raises(TenureError, match="HTTP 500"):
        run(ws, server)
    assert staging.counts(ws.duckdb, "zendesk")["tickets"] == 300
    server.fail_after_pages = None
    resumed = run(ws, server)
    assert resumed.pulled["tickets"] == len(server.data["tickets"]) - 300
    with tenure.connect(f"duckdb:///{tmp_path / 'whole.duckdb'}") as whole:
        run(whole, server)
        assert tickets(ws) == tickets(whole)


def test_rate_limits_are_waited_out(ws: Workspace, server: ZendeskServer):
    server.throttle(2, retry_after=1)
    report = run(ws, server)
    assert server.throttled == 2
    assert report.pulled["tickets"] == len(server.data["tickets"])


def test_a_bad_token_is_refused_without_showing_it(ws: Workspace, server: ZendeskServer):
    wrong = "zd-wrong-token-9876543210"
    with pytest.raises(TenureError) as refused:
        sync.run(connector(server, wrong), "zendesk", lambda: contextlib.nullcontext(ws))
    message = str(refused.value)
    assert "401" in message and "authenticate" in message
    assert wrong not in message and TOKEN not in message
    assert TOKEN not in repr(connector(server))


def test_options_are_checked():
    with pytest.raises(TenureError, match="subdomain"):
        zendesk.build({"email": EMAIL}, TOKEN)
    with pytest.raises(TenureError, match="ZENDESK_API_TOKEN"):
        zendesk.build({"subdomain": "acme", "email": EMAIL}, None)
    with pytest.raises(TenureError, match="account_key"):
        zendesk.build({"subdomain": "acme", "email": EMAIL, "account_key": "name"}, TOKEN)
    assert set(zendesk.OPTIONS) >= {"subdomain", "email", "base_url"}
