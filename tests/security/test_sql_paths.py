"""Finding 6: a path or a name from a user never becomes SQL.

Every place that hands a user's path or name to DuckDB gets one holding `'`, `"`, `;`, `--` and a
newline, and one crafted to break out of a quoted literal into a `COPY` (the probe's `pwned2.csv`):
the data must arrive intact and no file may appear that the command did not mean to write."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure.cli import app
from tenure.data.mapping import Mapping
from tenure.workspace import Workspace

# Ibis's DuckDB to_parquet wrote COPY (...) TO {path!r}: repr() escapes ' as \' when the path also
# holds ", which SQL does not understand, so this name ended the literal and ran its own COPY.
INJECTED = "x' (FORMAT parquet); COPY (SELECT 1 AS a) TO $$pwned2.csv$$ (FORMAT csv); --\""
ODD = "odd '\" ; -- \n name"
NAMES = pytest.mark.parametrize("name", [INJECTED, ODD], ids=["injected", "odd"])
ACCOUNTS = "account_id,created_at,plan\nA1,2024-01-01,pro\nA2,2024-02-01,free\n"


def files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def accounts(ws: Workspace) -> list[tuple[str, str]]:
    frame = ws.table("accounts").order_by("account_id").to_pandas()
    return list(zip(frame["account_id"], frame["plan"], strict=True))


@NAMES
def test_cli_export_to_a_hostile_folder(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = f"duckdb:///{tmp_path / 'w.duckdb'}"
    source = tmp_path / "accounts.csv"
    source.write_text(ACCOUNTS, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(app, ["load", "accounts", str(source), "--db", db]).exit_code == 0
    before = files(tmp_path)
    result = runner.invoke(app, ["export", str(tmp_path / name), "--db", db])
    assert result.exit_code == 0, result.output
    written = {f"{name}/{t}.parquet" for t in ("accounts", "account_history", "fx_rates")}
    assert files(tmp_path) - before == {name} | written  # no pwned2.csv, no stray folder
    exported = pd.read_parquet(tmp_path / name / "accounts.parquet")
    assert list(exported["account_id"]) == ["A1", "A2"]


@NAMES
@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_load_from_a_hostile_path_with_rejects_beside_it(
    name: str, fmt: str, ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / name
    folder.mkdir()
    source = folder / f"{name}.{fmt}"
    rows = [
        {"account_id": "A1", "created_at": "2024-01-01", "plan": "pro"},
        {"account_id": "A2", "created_at": "2024-02-01", "plan": "free"},
        {"account_id": "A3", "created_at": "never", "plan": "pro"},
    ]
    if fmt == "csv":
        source.write_text(ACCOUNTS + "A3,never,pro\n", encoding="utf-8")
    elif fmt == "jsonl":
        source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        pd.DataFrame(rows).to_parquet(source)
    report = ws.load("accounts", source)
    assert (report.inserted, report.rejected) == (2, 1)
    assert accounts(ws) == [("A1", "pro"), ("A2", "free")]
    rejects = folder / f"{name}.{fmt}.rejects.csv"
    assert report.rejects_path == rejects and "never" in rejects.read_text(encoding="utf-8")
    assert files(tmp_path) == {name, f"{name}/{source.name}", f"{name}/{rejects.name}"}


@NAMES
def test_cli_load_with_a_hostile_rejects_path_and_store_path(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / name
    folder.mkdir()
    source = tmp_path / "accounts.csv"
    source.write_text(ACCOUNTS + "A3,never,pro\n", encoding="utf-8")
    db = f"duckdb:///{folder / (name + '.duckdb')}"
    rejects = folder / (name + ".csv")
    result = CliRunner().invoke(
        app, ["load", "accounts", str(source), "--rejects", str(rejects), "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "never" in rejects.read_text(encoding="utf-8")
    assert files(tmp_path) - {"accounts.csv"} == {
        name,
        f"{name}/{rejects.name}",
        f"{name}/{name}.duckdb",
    }
    with tenure.connect(db) as ws:
        assert accounts(ws) == [("A1", "pro"), ("A2", "free")]


def test_hostile_column_names_and_mapping_values_stay_data(ws: Workspace) -> None:
    """Source column names reach SQL as quoted identifiers, mapping values as escaped literals."""
    name = "Customer \"ID' ; --\n"
    frame = pd.DataFrame(
        {
            name: ["A1", "A2"],
            "created_at": ["2024-01-01", "2024-01-02"],
            "name": ["x'); DROP TABLE accounts; --", "plain"],
        }
    )
    mapping = Mapping(
        columns={name: "account_id"},
        values={"name": {"x'); DROP TABLE accounts; --": 'it\'s "quoted" ; --\nsafe'}},
    )
    report = ws.load("accounts", frame, mapping=mapping)
    assert (report.inserted, report.rejected) == (2, 0)
    stored = ws.table("accounts").order_by("account_id").to_pandas()
    assert list(stored["name"]) == ['it\'s "quoted" ; --\nsafe', "plain"]
    assert ws.has_table("accounts") and ws.has_table("fx_rates")
