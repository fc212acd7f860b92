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
