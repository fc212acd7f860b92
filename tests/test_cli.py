from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tenure.cli import app

runner = CliRunner()


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'cli.duckdb'}"


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_load_prints_counts_and_rejects(db: str, write: Callable[[str, str], Path]) -> None:
    path = write("accounts.csv", "account_id,created_at,plan\nA1,2024-01-01,pro\nA2,someday,pro\n")
    code, text = run("load", "accounts", str(path), "--db", db)
    assert code == 0
    assert "1 inserted, 0 updated, 0 unchanged, 1 rejected" in text
    assert "someday" in text and "rejects written to" in text
    code, text = run("load", "accounts", str(path), "--db", db)
    assert code == 0 and "0 inserted, 0 updated, 1 unchanged, 1 rejected" in text


def test_nothing_loadable_exits_1_and_unreadable_exits_2(
    db: str, write: Callable[[str, str], Path]
) -> None:
    code, _ = run(
        "load", "accounts", str(write("a.csv", "account_id,created_at\nA1,never\n")), "--db", db
    )
    assert code == 1
    for args in (
        ("load", "accounts", "/nonexistent/file.csv"),
        ("load", "planets", str(write("p.csv", "x\n1\n"))),
        ("load", "accounts", str(write("b.csv", "id\n1\n"))),
    ):
        code, text = run(*args, "--db", db)
        assert code == 2, args
        assert text.startswith("error: ") and "Traceback" not in text


def test_demo_report_contract_config(db: str, tmp_path: Path) -> None:
    code, text = run(
        "demo",
        "--accounts",
        "40",
        "--events",
        "1000",
        "--as-of",
        "2026-11-01",
        "--out",
        str(tmp_path / "demo"),
        "--db",
        db,
    )
    assert code == 0, text
    assert "peak memory" in text and "events" in text
    code, text = run("report", "--db", db)
    assert code == 0 and "1,000" in text and "survey_responses" in text
    code, text = run("contract", "subscriptions")
    assert code == 0 and "billing_period" in text
    code, text = run("config", "reporting_currency", "eur", "--db", db)
    assert (code, text.strip()) == (0, "reporting_currency = EUR")
    code, text = run("config", "reporting_currency", "EURO", "--db", db)
    assert code == 2 and "ISO 4217" in text
    code, text = run("loads", "--db", db)
    assert code == 0 and "fx_rates" in text
    code, text = run("demo", "--as-of", "yesterday", "--db", db)
    assert code == 2 and "not a date" in text


def test_metrics_drill_cohorts_and_export_commands(db: str, tmp_path: Path) -> None:
    import tenure
    from tests.books import load_book, sub

    with tenure.connect(db) as ws:
        load_book(ws, [sub("A", 100, "2025-01-01", "2025-03-10"), sub("B", 40, "2025-01-01")])
    code, text = run(
        "metrics",
        "mrr",
        "customers",
        "--from",
        "2025-02",
        "--to",
        "2025-03",
        "--format",
        "csv",
        "--db",
        db,
    )
    assert code == 0, text
    assert "mrr,2025-02-01,140.000000,140.000000," in text
    assert "mrr,2025-03-01,40.000000,40.000000," in text
    code, text = run("drill", "mrr_churned", "--period", "2025-03", "--format", "json", "--db", db)
    assert code == 0 and '"account_id":"A"' in text.replace(" ", "") and "-100" in text
    code, text = run("cohorts", "--from", "2025-01", "--to", "2025-03", "--db", db)
    assert code == 0 and "100.00" in text
    code, text = run("metrics", "list", "--format", "csv")
    assert code == 0 and "customer_churn_rate_period_total" in text
    code, text = run("metrics", "mrr", "--by", "colour", "--db", db)
    assert code == 2 and "unknown segment attribute 'colour'" in text
    code, text = run("metrics", "mrr", "--format", "parquet", "--db", db)
    assert code == 2 and "--output" in text
    code, text = run("export", str(tmp_path / "pq"), "--db", db)
    assert code == 0 and (tmp_path / "pq" / "subscriptions.parquet").exists()


def test_survey_response_rates_by_segment(db: str, tmp_path: Path) -> None:
    import json

    import pandas as pd

    import tenure
    from tenure.app import surveys
    from tenure.app.store import Store, Survey

    with tenure.connect(db) as ws:
        accounts = [
            {"account_id": a, "created_at": pd.Timestamp("2025-01-01"), "plan": p}
            for a, p in (("A1", "pro"), ("A2", "pro"), ("A3", "basic"))
        ]
        ws.load("accounts", pd.DataFrame(accounts))
        app_db = f"sqlite:///{tmp_path / 'app.db'}"
        store = Store(app_db)
        with store.session() as session:
            survey = Survey(
                name="NPS", kind="nps", question="Recommend us?", scale_min=0, scale_max=10
            )
            session.add(survey)
            session.flush()
            number = survey.id
        tokens = {
            a: surveys.invite(store, number, account_id=a, user_id=None) for a in ("A1", "A2", "A3")
        }
        surveys.answer(store, ws, tokens["A1"], 9, None)
        store.dispose()
    code, text = run(
        "surveys", "rates", "--by", "plan", "--format", "json", "--db", db, "--app-db", app_db
    )
    assert code == 0, text
    rates = {
        r["plan"]: (r["invitations"], r["responses"], r["response_rate"]) for r in json.loads(text)
    }
    assert rates == {"basic": (1, 0, 0.0), "pro": (2, 1, 50.0)}
    code, text = run("surveys", "rates", "--by", "colour", "--db", db, "--app-db", app_db)
    assert code != 0 and "valid: " in text
