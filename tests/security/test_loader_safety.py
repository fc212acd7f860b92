"""Finding 9: a load never loses or destroys data.

`--rejects` never overwrites or deletes a file the loader did not write; one huge value, a NUL
character or a timestamp far in the future rejects its own row, with its line, and the rest loads."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure.cli import app
from tenure.data import loader
from tenure.errors import SourceError
from tenure.workspace import Workspace

from ..conftest import read_rejects

GOOD = "account_id,created_at\nA1,2024-01-01\nA2,2024-01-02\n"
HUGE = "x" * (10 * 1024 * 1024)  # the probe's 10 MB field


def ids(ws: Workspace) -> list[str]:
    return list(ws.table("accounts").order_by("account_id").to_pandas()["account_id"])


def test_rejects_path_never_overwrites_or_deletes_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = f"duckdb:///{tmp_path / 'w.duckdb'}"
    notes = tmp_path / "notes.csv"
    notes.write_text("my,own\ndata,here\n", encoding="utf-8")
    runner = CliRunner()
    for text in (GOOD, GOOD + "A3,never\n"):  # a clean load and one with rejects
        source = tmp_path / "accounts.csv"
        source.write_text(text, encoding="utf-8")
        result = runner.invoke(
            app, ["load", "accounts", str(source), "--rejects", str(notes), "--db", db]
        )
        assert result.exit_code == 2
        assert result.output.strip() == (
            f"error: {notes} exists and is not a rejects file; choose another --rejects"
        )
        assert notes.read_text(encoding="utf-8") == "my,own\ndata,here\n"
    folder = tmp_path / "folder"
    folder.mkdir()
    result = runner.invoke(
        app, ["load", "accounts", str(source), "--rejects", str(folder), "--db", db]
    )
    assert result.exit_code == 2 and folder.is_dir()
    with tenure.connect(db) as ws:  # a refused load loads nothing
        assert ws.row_counts()["accounts"] == 0


def test_a_rejects_file_is_replaced_and_a_clean_load_deletes_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "accounts.csv"
    rejects = tmp_path / "mine.csv"
    source.write_text(GOOD + "A3,never\n", encoding="utf-8")
    assert ws.load("accounts", source, rejects_path=rejects).rejects_path == rejects
    source.write_text(GOOD + "A4,someday\n", encoding="utf-8")
    ws.load("accounts", source, rejects_path=rejects)  # an earlier rejects file: replaced
    assert [r["value"] for r in read_rejects(rejects)] == ["someday"]
    source.write_text(GOOD, encoding="utf-8")
    assert ws.load("accounts", source, rejects_path=rejects).rejects_path is None
    assert rejects.exists() and read_rejects(rejects) == []  # emptied, not deleted
    beside = tmp_path / "accounts.csv.rejects.csv"
    beside.write_text("precious\n", encoding="utf-8")  # someone's file at the default path
    with pytest.raises(SourceError, match="exists and is not a rejects file"):
        ws.load("accounts", source)
    assert beside.read_text(encoding="utf-8") == "precious\n"


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "frame"])
def test_one_huge_value_rejects_its_row_and_the_rest_loads(
    fmt: str, ws: Workspace, tmp_path: Path
) -> None:
    rows = [
        {"account_id": "A1", "created_at": "2024-01-01", "name": "one"},
        {"account_id": "A2", "created_at": "2024-01-02", "name": HUGE},
        {"account_id": "A3", "created_at": "2024-01-03", "name": "three"},
    ]
    source: Path | pd.DataFrame
    if fmt == "csv":
        source = tmp_path / "a.csv"
        source.write_text(
            "account_id,created_at,name\n"
            + "".join(f"{r['account_id']},{r['created_at']},{r['name']}\n" for r in rows),
            encoding="utf-8",
        )
    elif fmt == "jsonl":
        source = tmp_path / "a.jsonl"
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        source = pd.DataFrame(rows)
    rejects = tmp_path / "rejects.csv"
    report = ws.load("accounts", source, rejects_path=rejects)
    assert (report.inserted, report.rejected) == (2, 1) and ids(ws) == ["A1", "A3"]
    ((line, column, value, reason),) = [
        (r.line, r.column, r.value, r.reason) for r in report.rejects
    ]
    assert (line, column) == (3 if fmt == "csv" else 2, "name")
    assert reason == f"a value of {len(HUGE)} bytes, over the limit of 1000000 (max_field_length)"
    assert value is not None and len(value) <= loader.SHOWN_VALUE_CHARS + 1
    assert rejects.stat().st_size < 5000  # the file shows the row, not the 10 MB


def test_the_field_limit_is_a_parameter(ws: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text(
        "account_id,created_at,name\nA1,2024-01-01,abcdefghijklm\nA2,2024-01-01,abcdefghijkl\n"
    )
    report = loader.load(
        ws.duckdb, "accounts", source, reporting_currency="USD", max_field_length=12
    )
    assert [(r.line, r.column) for r in report.rejects] == [(2, "name")]


def test_nul_characters_reject_their_row(ws: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "a.csv"
    source.write_text(
        "account_id,created_at,plan\nA1,2024-01-01,pro\nA\x002,2024-01-01,pro\nA3,2024-01-01,p\x00ro\n",
        encoding="utf-8",
    )
    report = ws.load("accounts", source)
    assert ids(ws) == ["A1"]
    assert [(r.line, r.column, r.value, r.reason) for r in report.rejects] == [
        (3, "account_id", "A\\02", "contains a NUL character (shown as \\0)"),
        (4, "plan", "p\\0ro", "contains a NUL character (shown as \\0)"),
    ]


def test_timestamps_beyond_the_horizon_are_rejected(ws: Workspace, tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    soon = (now + dt.timedelta(days=180)).strftime("%Y-%m-%d")
    far = (now + dt.timedelta(days=400)).strftime("%Y-%m-%d")
    typo = "20224-01-01"  # a typo DuckDB reads as the year 20224
    source = tmp_path / "a.csv"
    source.write_text(
        f"account_id,created_at\nA1,2024-01-01\nA2,{soon}\nA3,{far}\nA4,9999-12-31\nA5,{typo}\n"
    )
    report = ws.load("accounts", source)
    assert ids(ws) == ["A1", "A2"]
    reasons = {r.line: r.reason for r in report.rejects}
    assert sorted(reasons) == [4, 5, 6]
    assert "beyond the loader's horizon; check the year" in reasons[4] == reasons[5] == reasons[6]
    horizon = (now + dt.timedelta(days=365)).strftime("%Y-%m-%d")
    assert reasons[4].startswith(f"later than {horizon}")
    report = loader.load(
        ws.duckdb, "accounts", source, reporting_currency="USD", horizon=dt.timedelta(days=30)
    )
    assert sorted({r.line for r in report.rejects}) == [3, 4, 5, 6]
    report = loader.load(ws.duckdb, "accounts", source, reporting_currency="USD", horizon=None)
    assert report.rejects == [] and ids(ws) == ["A1", "A2", "A3", "A4", "A5"]
