"""End to end through `tenure sources`: the CLI adds a Stripe, a Zendesk and a HubSpot source
pointed at the local test servers (and Stripe again as Fivetran landed it in a warehouse), syncs
them, and `tenure metrics` / the workspace equals the demo company loaded directly; `tenure
sources list` shows what each sync pulled. The credentials come from environment variables."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure import demo
from tenure.cli import app as cli_app
from tenure.data.contract import LOAD_ORDER
from tenure.demo.exporters import hubspot as hubspot_export
from tenure.demo.exporters import stripe_elt as warehouse_export
from tenure.demo.exporters import zendesk as zendesk_export
from tenure.metrics.revenue_catalog import REVENUE_METRICS
from tests.hubspot_server import HubSpotServer
from tests.stripe_server import StripeServer
from tests.test_stripe import AS_OF, STRIPE_TABLES, _generate
from tests.zendesk_server import ZendeskServer

KEY = "sk_test_51E2eOnly" + "x7" * 12
EMAIL, ZENDESK_TOKEN = "agent@example.com", "zd-e2e-token-0123456789"
HUBSPOT_TOKEN = "pat-na1-e2e-0123456789"
SINCE = dt.date(AS_OF.year - 3, AS_OF.month, 1).isoformat()
SUPPORT = ["tickets", "fcr", "backlog", "resolution_hours_median", "csat"]
HUBSPOT_COLUMNS = "account_id, name, created_at, plan, country, channel, seats"


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[demo.DemoResult, Any]:
    return _generate(tmp_path_factory.mktemp("demo"), accounts=50)


@pytest.fixture(scope="module")
def direct(company: tuple[demo.DemoResult, Any], tmp_path_factory: pytest.TempPathFactory) -> str:
    result, _ = company
    url = f"duckdb:///{tmp_path_factory.mktemp('direct') / 'w.duckdb'}"
    with tenure.connect(url) as ws:
        for table in LOAD_ORDER:
            if table != "events":
                ws.load(table, result.paths[table])
    return url


@pytest.fixture
def app_db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


def workspace(tmp_path: Path, result: demo.DemoResult, name: str, *without: str) -> str:
    """A workspace with the demo's tables but those the source will load."""
    url = f"duckdb:///{tmp_path / f'{name}.duckdb'}"
    with tenure.connect(url) as ws:
        for table in LOAD_ORDER:
            if table != "events" and table not in without:
                ws.load(table, result.paths[table])
    return url


def cli(*args: str) -> str:
    result = CliRunner().invoke(cli_app, list(args))
    assert result.exit_code == 0, result.stderr
    return result.stdout


def metrics(db: str, names: list[str]) -> pd.DataFrame:
    text = cli("metrics", *names, "--from", SINCE, "--to", AS_OF.isoformat(), "--format", "csv",
               "--db", db)  # fmt: skip
    frame = pd.read_csv(io.StringIO(text))
    return frame.sort_values(["metric", "period_start"]).reset_index(drop=True)


def listed(app_db: str) -> dict[str, dict[str, Any]]:
    rows = json.loads(cli("sources", "list", "--format", "json", "--app-db", app_db))
    return {row["name"]: row for row in rows}


def assert_same_revenue(db: str, direct: str) -> None:
    names = [m.name for m in REVENUE_METRICS]
    want, got = metrics(direct, names), metrics(db, names)
    assert len(want) == len(got) and (want.value.fillna(0) > 0).sum() > 30
    assert (want[["metric", "period_start"]] == got[["metric", "period_start"]]).all().all()
    assert ((want.value.fillna(0) - got.value.fillna(0)).abs() < 0.005).all()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.setenv("E2E_STRIPE_KEY", KEY)
    monkeypatch.setenv("E2E_ZENDESK_TOKEN", ZENDESK_TOKEN)
    monkeypatch.setenv("E2E_HUBSPOT_TOKEN", HUBSPOT_TOKEN)
    yield monkeypatch


def test_stripe_through_the_cli_equals_the_demo(
    company: tuple[demo.DemoResult, Any], direct: str, app_db: str, tmp_path: Path, env: Any
) -> None:
    result, objects = company
    db = workspace(tmp_path, result, "stripe", *STRIPE_TABLES)
    server = StripeServer(objects, KEY)
    with server.running():
        out = cli("sources", "add", "stripe", "--option", f"base_url={server.url}",
                  "--option", "account_key=metadata:account_id", "--secret-env", "E2E_STRIPE_KEY",
                  "--manual", "--app-db", app_db)  # fmt: skip
        assert "credential: $E2E_STRIPE_KEY" in out
        out = cli("sources", "sync", "stripe", "--db", db, "--app-db", app_db)
        assert f"pulled {len(objects['customers'])} customers" in out
    assert_same_revenue(db, direct)
    row = listed(app_db)["stripe"]
    expected = sum(len(objects[s]) for s in ("customers", "products", "prices", "coupons"))
    expected += sum(len(objects[s]) for s in ("subscriptions", "invoices", "refunds"))
    assert (row["status"], row["records"], row["rejects"]) == ("ok", expected, 0)
    assert row["loaded"] > 0


def test_stripe_from_a_warehouse_through_the_cli_equals_the_demo(
    company: tuple[demo.DemoResult, Any], direct: str, app_db: str, tmp_path: Path
) -> None:
    result, objects = company
    warehouse = tmp_path / "warehouse.duckdb"
    warehouse_export.write_duckdb(warehouse, "stripe", warehouse_export.fivetran_tables(objects))
    db = workspace(tmp_path, result, "billing", *STRIPE_TABLES)
    out = cli("sources", "add", "stripe", "--name", "billing", "--from-db",
              f"duckdb:///{warehouse}", "--schema", "stripe", "--option",
              "account_key=metadata:account_id", "--manual", "--app-db", app_db)  # fmt: skip
    assert "(stripe_elt, manual, credential: kept in the secrets file)" in out
    assert str(warehouse) not in out
    cli("sources", "sync", "billing", "--db", db, "--app-db", app_db)
    assert_same_revenue(db, direct)
    assert listed(app_db)["billing"]["status"] == "ok"


def test_zendesk_and_hubspot_through_the_cli_equal_the_demo(
    company: tuple[demo.DemoResult, Any], direct: str, app_db: str, tmp_path: Path, env: Any
) -> None:
    result, _ = company
    demo_dir = result.paths["accounts"].parent
    support = workspace(tmp_path, result, "support", "tickets", "survey_responses")
    desk = zendesk_export.export(demo_dir)
    with ZendeskServer(desk, EMAIL, ZENDESK_TOKEN) as server:
        cli("sources", "add", "zendesk", "--option", "subdomain=acme", "--option",
            f"email={EMAIL}", "--option", f"base_url={server.url}", "--option",
            f"confirmed_field={zendesk_export.CONFIRMED_FIELD}", "--secret-env",
            "E2E_ZENDESK_TOKEN", "--manual", "--app-db", app_db)  # fmt: skip
        cli("sources", "sync", "zendesk", "--db", support, "--app-db", app_db)
    pd.testing.assert_frame_equal(metrics(support, SUPPORT), metrics(direct, SUPPORT))

    crm = f"duckdb:///{tmp_path / 'crm.duckdb'}"
    companies = hubspot_export.export(demo_dir)
    with HubSpotServer(companies, HUBSPOT_TOKEN) as server:
        cli("sources", "add", "hubspot", "--option", f"base_url={server.url}", "--option",
            "account_key=tenure_account_id", "--option", "properties=plan,country,channel,seats",
            "--secret-env", "E2E_HUBSPOT_TOKEN", "--manual", "--app-db", app_db)  # fmt: skip
        cli("sources", "sync", "hubspot", "--db", crm, "--app-db", app_db)
    query = f"SELECT {HUBSPOT_COLUMNS} FROM accounts ORDER BY account_id"
    with tenure.connect(crm) as got, tenure.connect(direct) as want:
        assert got.duckdb.execute(query).fetchall() == want.duckdb.execute(query).fetchall()

    rows = listed(app_db)
    assert rows["zendesk"]["records"] == sum(len(v) for v in desk.values())
    assert rows["hubspot"]["records"] == sum(len(v) for v in companies.values())
    assert all(r["status"] == "ok" and r["rejects"] == 0 for r in rows.values())
