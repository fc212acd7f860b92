"""Data quality at load: money rows need an exchange rate on their day, rows naming unknown
accounts are reported (or rejected with --strict)."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app
from tenure.data.contract import contract_for
from tenure.workspace import Workspace

from .conftest import read_rejects

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

Write = Callable[[str, str], Path]
runner = CliRunner()

FX = "date,currency,rate_to_reporting\n2024-02-01,EUR,1.1\n2024-03-01,EUR,1.2\n2024-01-01,JPY,0.0068\n"
SUBS = "subscription_id,account_id,plan,started_at,trial_ends_at,amount,currency\n"
ORDERS = "order_id,account_id,ordered_at,amount,currency,kind\n"
COSTS = "period_start,period_end,category,amount,currency\n"


def _rejects(ws: Workspace, table: str, path: Path) -> dict[str, tuple[str, str]]:
    report = ws.load(table, path)
    assert report.rejects_path is not None or report.rejected == 0
    return {
        r["line"]: (r["column"], r["reason"])
        for r in (read_rejects(report.rejects_path) if report.rejects_path else [])
    }


def test_money_rows_before_the_first_rate_of_their_currency_are_rejected(
    ws: Workspace, write: Write
) -> None:
    ws.load("fx_rates", write("fx.csv", FX))
    subs = write(
        "subs.csv",
        SUBS
        + "S1,A1,pro,2024-01-05,,100,EUR\n"  # 2: before the first EUR rate
        + "S2,A1,pro,2024-02-01,,100,EUR\n"  # 3: on the first rate's day
        + "S3,A1,pro,2024-01-05,2024-02-10,100,EUR\n"  # 4: pays from the trial's end: fine
        + "S4,A1,pro,2023-06-01,,100,USD\n"  # 5: the reporting currency needs no rate
        + "S5,A1,pro,2023-06-01,,0,EUR\n"  # 6: free: nothing to convert
        + "S6,A1,pro,2024-01-31T23:59:00,,100,EUR\n",  # 7: the day before
    )
    assert _rejects(ws, "subscriptions", subs) == {
        "2": ("started_at", "no EUR rate on or before 2024-01-05; earliest is 2024-02-01"),
        "7": ("started_at", "no EUR rate on or before 2024-01-31; earliest is 2024-02-01"),
    }
    assert sorted(ws.table("subscriptions").to_pandas()["subscription_id"]) == [
        "S2",
        "S3",
        "S4",
        "S5",
    ]

    orders = write(
        "orders.csv",
        ORDERS
        + "O1,A1,2024-01-31T10:00:00,20,EUR,one_time\n"  # 2
        + "O2,A1,2024-02-01T00:00:00,20,EUR,one_time\n"
        + "O3,A1,2023-12-31T10:00:00,5,JPY,refund\n",  # 4
    )
    assert _rejects(ws, "orders", orders) == {
        "2": ("ordered_at", "no EUR rate on or before 2024-01-31; earliest is 2024-02-01"),
        "4": ("ordered_at", "no JPY rate on or before 2023-12-31; earliest is 2024-01-01"),
    }
    costs = write(
        "costs.csv",
        COSTS + "2024-01-01,2024-01-31,support,100,EUR\n2024-02-01,2024-02-29,support,100,EUR\n",
    )
    assert _rejects(ws, "costs", costs) == {
        "2": ("period_start", "no EUR rate on or before 2024-01-01; earliest is 2024-02-01")
    }
    # What loaded can be queried: no row fails later for a missing rate.
    result = ws.metrics(["mrr", "revenue"], start=dt.date(2024, 2, 1), end=dt.date(2024, 3, 1))
    assert result.loc[result["metric"] == "mrr", "value"].tolist() == [320, 340]  # 110 + 110 + 100


def test_the_rate_day_is_read_in_the_reporting_timezone(ws: Workspace, write: Write) -> None:
    """An order at 2024-02-01 03:00 UTC falls on 31 January in New York, where the metrics
    convert it, so it needs a rate of that day."""
    ws.load("fx_rates", write("fx.csv", FX))
    ws.set_setting("timezone", "America/New_York")
    orders = write("orders.csv", ORDERS + "O1,A1,2024-02-01T03:00:00Z,20,EUR,one_time\n")
    assert _rejects(ws, "orders", orders) == {
        "2": ("ordered_at", "no EUR rate on or before 2024-01-31; earliest is 2024-02-01")
    }


def test_rows_naming_unknown_accounts_warn_or_with_strict_are_rejected(
    ws: Workspace, write: Write
) -> None:
    ws.load(
        "accounts", write("accounts.csv", "account_id,created_at\nA1,2024-01-01\nA2,2024-01-01\n")
    )
    lines = "".join(
        f"O{i},{account},2024-02-01,10,USD,one_time\n"
        for i, account in enumerate(["A1", "A9006", "A9001", "A9002", "A9001", "A9003", "A9004"])
    )
    path = write("orders.csv", ORDERS + lines + "O9,A9005,2024-02-01,10,USD,one_time\n")
    report = ws.load("orders", path)
    assert (report.inserted, report.rejected, report.unknown_accounts) == (8, 0, 7)
    assert report.warnings == [
        "7 rows name accounts not in the accounts table: A9001, A9002, A9003, A9004, A9005, ..."
    ]
    events = write(
        "events.csv",
        "event_id,occurred_at,name,user_id,account_id\n"
        "E1,2024-02-01,login,U1,A2\nE2,2024-02-01,login,U1,\nE3,2024-02-01,login,U1,A7\n",
    )
    assert ws.load("events", events).warnings == [
        "1 row names an account not in the accounts table: A7"
    ]
    assert (
        ws.load("accounts", write("more.csv", "account_id,created_at\nA3,2024-01-01\n")).warnings
        == []
    )

    strict = write(
        "strict.csv",
        ORDERS + "S1,A1,2024-02-01,1,USD,one_time\nS2,A9001,2024-02-01,1,USD,one_time\n",
    )
    report = ws.load("orders", strict, strict=True)
    assert (report.inserted, report.rejected, report.warnings) == (1, 1, [])
    assert [(r.line, r.column, r.value, r.reason) for r in report.rejects] == [
        (
            3,
            "account_id",
            "A9001",
            "account A9001 is not in the accounts table; load accounts first",
        )
    ]


def test_load_command_prints_the_warning_and_strict_rejects(tmp_path: Path, write: Write) -> None:
    db = f"duckdb:///{tmp_path / 'q.duckdb'}"
    path = write("orders.csv", ORDERS + "O1,A9001,2024-02-01,10,USD,one_time\n")
    loose = runner.invoke(app, ["load", "orders", str(path), "--db", db])
    assert loose.exit_code == 0, loose.output
    assert "warning: 1 row names an account not in the accounts table: A9001" in loose.output
    strict = runner.invoke(
        app,
        ["load", "orders", str(path), "--strict", "--db", db, "--rejects", str(tmp_path / "r.csv")],
    )
    assert strict.exit_code == 1, strict.output  # every row rejected
    assert "account A9001 is not in the accounts table" in " ".join(strict.output.split())
    assert read_rejects(tmp_path / "r.csv")[0]["reason"] == (
        "account A9001 is not in the accounts table; load accounts first"
    )


def test_ingest_route_returns_the_warning(tmp_path: Path, store: Store) -> None:
    from tenure.api.app import create_app

    with tenure.connect(f"duckdb:///{tmp_path / 'api.duckdb'}") as ws:
        client = TestClient(create_app(ws, store, base_url="http://testserver"))
        editor = {"Authorization": f"Bearer {create_key(store, 'editor', 'editor')}"}
        rows = [
            {
                "event_id": "E1",
                "occurred_at": (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat(),
                "name": "login",
                "user_id": "U1",
                "account_id": "A404",
            }
        ]
        response = client.post("/api/ingest/events", headers=editor, json={"rows": rows})
        assert response.status_code == 200, response.text
        assert response.json()["warnings"] == [
            "1 row names an account not in the accounts table: A404"
        ]


@pytest.mark.parametrize("table", ["users", "subscriptions", "survey_responses", "tickets"])
def test_every_table_with_an_account_id_is_checked(ws: Workspace, table: str) -> None:
    row = {**contract_for(table).example, "account_id": "A404"}
    if "currency" in row:
        row["currency"] = "USD"
    report = ws.load(table, pd.DataFrame([row]))
    assert report.rejected == 0, report.rejects
    assert report.warnings == ["1 row names an account not in the accounts table: A404"]
