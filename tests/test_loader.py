from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tenure.errors import ContractError, MappingError, SourceError
from tenure.workspace import Workspace

from .conftest import read_rejects

Write = Callable[[str, str], Path]

SUBS_HEADER = "subscription_id,account_id,plan,started_at,ended_at,billing_period,amount,quantity,discount,currency\n"
FX = "date,currency,rate_to_reporting\n2024-01-01,EUR,1.1\n2024-01-01,JPY,0.0068\n"


def rows(ws: Workspace, table: str, order: str) -> list[dict[str, object]]:
    frame = ws.table(table).order_by(order).to_pandas()
    return frame.to_dict("records")  # type: ignore[no-any-return]


def test_each_rejection_reason_is_written_line_by_line(ws: Workspace, write: Write) -> None:
    ws.load("fx_rates", write("fx.csv", FX))
    path = write(
        "subs.csv",
        SUBS_HEADER
        + "S1,A1,pro,2024-01-15,,monthly,100,1,0,USD\n"  # 2 good
        + "S2,,pro,2024-01-15,,1,100,1,0,USD\n"  # 3 missing key
        + "S3,A3,pro,15/01/2024,,1,100,1,0,USD\n"  # 4 unparseable timestamp
        + "S4,A4,pro,2024-03-01,2024-02-01,1,100,1,0,USD\n"  # 5 end before start
        + "S5,A5,pro,2024-01-15,,1,-100,1,0,USD\n"  # 6 negative amount
        + "S6,A6,pro,2024-01-15,,1,100,1,0,GBP\n"  # 7 currency without a rate
        + "S7,A7,pro,2024-01-15,,1,100,1,0,US$\n"  # 8 not a currency
        + "S8,A8,pro,2024-01-15,,1,100,1,0,USD\n"  # 9 duplicate id, different content
        + "S8,A8,pro,2024-01-15,,1,200,1,0,USD\n"  # 10
        + "S9,A9,pro,2024-01-15,,1,1.234.5,1,0,USD\n"  # 11 not a number
        + "S10,A10,pro,2024-01-15,,1,10,1,1.5,EUR\n"  # 12 discount above 1
        + "S11,A11,pro,2024-01-15,,fortnightly,10,1,0,EUR\n"  # 13 billing period
        + "S12,A12,pro,2024-01-15,,1,10\n",  # 14 short row
    )
    report = ws.load("subscriptions", path)
    assert (report.inserted, report.rejected, report.unchanged) == (1, 12, 0)
    assert report.rejects_path == path.with_name("subs.csv.rejects.csv")
    lines = read_rejects(report.rejects_path)
    got = [(r["line"], r["column"], r["value"], r["reason"]) for r in lines]
    assert got == [
        ("3", "account_id", "", "missing required value"),
        (
            "4",
            "started_at",
            "15/01/2024",
            "cannot read as a timestamp; use ISO 8601 such as 2024-03-15 or 2024-03-15T09:30:00Z",
        ),
        ("5", "ended_at", "2024-02-01", "ended_at is before started_at"),
        ("6", "amount", "-100", "must be >= 0"),
        (
            "7",
            "currency",
            "GBP",
            "no exchange rate to the reporting currency USD; load fx_rates for this currency first",
        ),
        ("8", "currency", "US$", "not an ISO 4217 currency code"),
        ("9", "subscription_id", "S8", "duplicate key with different content (lines 9, 10)"),
        ("10", "subscription_id", "S8", "duplicate key with different content (lines 9, 10)"),
        (
            "11",
            "amount",
            "1.234.5",
            "cannot read as a decimal number (use . for decimals, no thousands separators)",
        ),
        ("12", "discount", "1.5", "must be <= 1"),
        (
            "13",
            "billing_period",
            "fortnightly",
            "cannot read as a billing period: a whole number of billing units, or monthly / "
            "quarterly / annual",
        ),
        ("14", "", "S12,A12,pro,2024-01-15,,1,10", "expected 10 fields as in the header, found 7"),
    ]
    assert all(r["file"] == str(path) for r in lines)
    stored = rows(ws, "subscriptions", "subscription_id")
    assert [r["subscription_id"] for r in stored] == ["S1"]
    assert stored[0]["amount"] == Decimal("100") and stored[0]["billing_period"] == 1


def test_quoted_newlines_keep_exact_line_numbers(ws: Workspace, write: Write) -> None:
    path = write(
        "accounts.csv",
        'account_id,name,created_at\nA1,"Rossi\n& Figli",2024-01-01\nA2,Sakura,yesterday\n',
    )
    report = ws.load("accounts", path)
    assert [(r.line, r.column) for r in report.rejects] == [(4, "created_at")]
    assert rows(ws, "accounts", "account_id")[0]["name"] == "Rossi\n& Figli"


def test_other_tables_rules(ws: Workspace, write: Write) -> None:
    events = write(
        "events.csv",
        "event_id,occurred_at,name,user_id,anonymous_id,properties,duration_s\n"
        'E1,2024-01-01T10:00:00Z,login,U1,,"{""a"": 1}",3\n'
        "E2,2024-01-01T10:00:00Z,login,,,,\n"
        "E3,2024-01-01T10:00:00Z,login,U1,,{oops,\n"
        "E4,2024-01-01T10:00:00Z,login,U1,,,-2\n",
    )
    report = ws.load("events", events)
    assert [(r.line, r.column, r.reason) for r in report.rejects] == [
        (3, "user_id", "an event needs a user_id or an anonymous_id"),
        (4, "properties", "not valid JSON"),
        (5, "duration_s", "must be >= 0"),
    ]
    surveys = write(
        "nps.csv",
        "response_id,survey,score,responded_at\nR1,nps,10,2024-01-01\nR2,nps,11,2024-01-01\n"
        "R3,csat,0,2024-01-01\nR4,poll,1,2024-01-01\nR5,custom,7,2024-01-01\n",
    )
    report = ws.load("survey_responses", surveys)
    assert [(r.line, r.column, r.reason) for r in report.rejects] == [
        (3, "score", "score is outside the survey scale"),
        (4, "score", "score is outside the survey scale"),
        (5, "survey", "must be one of: nps, csat, ces, custom"),
        (6, "score", "score is outside the survey scale"),
    ]
    stored = rows(ws, "survey_responses", "response_id")
    assert (stored[0]["scale_min"], stored[0]["scale_max"]) == (0, 10)
    tickets = write(
        "tickets.csv",
        "ticket_id,channel,opened_at,resolved_at,status,contacts,confirmed_resolved\n"
        "T1,Chat,2024-01-02,2024-01-03,resolved,1,yes\nT2,chat,2024-01-02,2024-01-01,resolved,1,\n"
        "T3,chat,2024-01-02,,pending,1,\nT4,chat,2024-01-02,,open,0,maybe\n",
    )
    report = ws.load("tickets", tickets)
    assert [(r.line, r.column, r.reason) for r in report.rejects] == [
        (3, "resolved_at", "resolved_at is before opened_at"),
        (4, "status", "must be one of: open, resolved, abandoned"),
        (5, "confirmed_resolved", "cannot read as true or false"),
        (5, "contacts", "must be >= 1"),
    ]
    assert rows(ws, "tickets", "ticket_id")[0]["confirmed_resolved"] is True
    costs = write(
        "costs.csv",
        "period_start,period_end,category,amount,currency\n2024-01-01,2024-01-31,support,10,USD\n"
        "2024-01-01,2023-12-31,support,10,USD\n2024-01-01,2024-01-31,lunch,10,USD\n",
    )
    report = ws.load("costs", costs)
    assert [(r.line, r.column) for r in report.rejects] == [(3, "period_end"), (4, "category")]
    fx = write("fx.csv", "date,currency,rate_to_reporting\n2024-01-01,EUR,0\n2024-01-01,EUR,1.1\n")
    report = ws.load("fx_rates", fx)
    # Row 2 is already rejected for its rate, so row 3 is no longer a conflicting duplicate.
    assert [(r.line, r.reason) for r in report.rejects] == [(2, "must be > 0")]
    assert report.inserted == 1


def test_refunds_are_stored_negative_and_other_negatives_rejected(
    ws: Workspace, write: Write
) -> None:
    path = write(
        "orders.csv",
        "order_id,account_id,ordered_at,amount,currency,kind\n"
        "O1,A1,2024-01-01,50.25,USD,one_time\nO2,A1,2024-01-05,50.25,USD,refund\n"
        "O3,A1,2024-01-06,-3,USD,one_time\nO4,A1,2024-01-06,9.99,usd,\n",
    )
    report = ws.load("orders", path)
    assert [(r.line, r.reason) for r in report.rejects] == [
        (4, "negative amount is only allowed for refunds")
    ]
    stored = rows(ws, "orders", "order_id")
    assert [r["amount"] for r in stored] == [Decimal("50.25"), Decimal("-50.25"), Decimal("9.99")]
    assert stored[2]["kind"] == "one_time" and stored[2]["currency"] == "USD"


def test_reload_is_idempotent_and_corrections_update(ws: Workspace, write: Write) -> None:
    first = write(
        "a.csv", "account_id,name,created_at,plan\nA1,One,2024-01-01,pro\nA2,Two,2024-01-02,basic\n"
    )
    assert ws.load("accounts", first).inserted == 2
    again = ws.load("accounts", first)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)
    fixed = write(
        "b.csv",
        "account_id,name,created_at,plan\nA1,One,2024-01-01,enterprise\nA3,Three,2024-01-03,pro\n",
    )
    report = ws.load("accounts", fixed)
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 0)
    assert ws.row_counts()["accounts"] == 3
    assert {r["account_id"]: r["plan"] for r in rows(ws, "accounts", "account_id")} == {
        "A1": "enterprise",
        "A2": "basic",
        "A3": "pro",
    }
    log = ws.loads()
    assert list(log["inserted"]) == [2, 0, 1] and list(log["updated"]) == [0, 0, 1]


def test_a_failed_load_leaves_nothing_behind(
    ws: Workspace, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenure.data import loader

    path = write("a.csv", "account_id,created_at\nA1,2024-01-01\nA2,2024-01-02\n")
    merge = loader._Run._merge

    def merge_then_crash(*args: object, **options: object) -> None:
        merge(*args, **options)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(loader._Run, "_merge", merge_then_crash)
    with pytest.raises(RuntimeError):
        ws.load("accounts", path)
    assert ws.row_counts()["accounts"] == 0
    assert len(ws.loads()) == 0
    monkeypatch.undo()
    assert ws.load("accounts", path).inserted == 2
    assert ws.load("accounts", path).unchanged == 2


def test_attributes_become_typed_segment_columns(ws: Workspace, write: Write) -> None:
    path = write(
        "a.csv",
        "account_id,created_at,Plan Tier,seats,score\nA1,2024-01-01,pro,10,1.5\nA2,2024-01-01,basic,,2\n",
    )
    report = ws.load("accounts", path)
    assert report.new_attributes == ["plan_tier", "seats", "score"]
    schema = ws.table("accounts").schema()
    assert (str(schema["plan_tier"]), str(schema["seats"]), str(schema["score"])) == (
        "string",
        "int64",
        "float64",
    )
    bad = ws.load("accounts", write("b.csv", "account_id,created_at,seats\nA3,2024-01-01,many\n"))
    assert [(r.column, r.reason) for r in bad.rejects] == [
        ("seats", "cannot read as BIGINT, the type this attribute already has")
    ]
    # A later file without an attribute leaves the stored attribute alone.
    ws.load("accounts", write("c.csv", "account_id,created_at\nA1,2024-01-01\n"))
    assert rows(ws, "accounts", "account_id")[0]["plan_tier"] == "pro"


def test_other_tables_ignore_extra_columns(ws: Workspace, write: Write) -> None:
    report = ws.load(
        "fx_rates",
        write("fx.csv", "date,currency,rate_to_reporting,source\n2024-01-01,EUR,1.1,ecb\n"),
    )
    assert report.ignored_columns == ["source"] and report.inserted == 1


def test_mapping_file_and_timezones(ws: Workspace, write: Write) -> None:
    mapping = write(
        "map.yaml", "columns:\n  Customer: account_id\n  Since: created_at\ntimezone: Asia/Tokyo\n"
    )
    path = write("a.csv", "Customer,Since\nA1,2024-03-01 09:00:00\nA2,2024-03-01T09:00:00+01:00\n")
    report = ws.load("accounts", path, mapping=mapping)
    assert report.inserted == 2
    stored = rows(ws, "accounts", "account_id")
    assert stored[0]["created_at"] == pd.Timestamp("2024-03-01 00:00:00")  # 09:00 JST = 00:00 UTC
    assert stored[1]["created_at"] == pd.Timestamp("2024-03-01 08:00:00")  # the offset wins


def test_bad_mapping_and_timezone_are_clear(ws: Workspace, write: Write) -> None:
    with pytest.raises(MappingError, match="not a column of fx_rates"):
        ws.load("fx_rates", write("f.csv", FX), mapping=write("m.yaml", "columns:\n  x: rate\n"))
    with pytest.raises(MappingError, match=r"line \d+: not valid YAML"):
        ws.load("fx_rates", write("f.csv", FX), mapping=write("m.yaml", "columns:\n  - [\n"))
    with pytest.raises(ContractError, match="unknown timezone 'Mars/Olympus'"):
        ws.load("fx_rates", write("f.csv", FX), timezone="Mars/Olympus")


def test_whole_file_problems_are_one_line_errors(
    ws: Workspace, write: Write, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="no such file"):
        ws.load("accounts", tmp_path / "missing.csv")
    with pytest.raises(ContractError, match=r"missing required column\(s\) created_at"):
        ws.load("accounts", write("a.csv", "account_id\nA1\n"))
    with pytest.raises(SourceError, match="the file is empty"):
        ws.load("accounts", write("e.csv", ""))
    with pytest.raises(SourceError, match="appears twice"):
        ws.load("accounts", write("d.csv", "account_id,account_id,created_at\n"))
    (tmp_path / "latin1.csv").write_bytes(
        "account_id,created_at\nA\xe9,2024-01-01\n".encode("latin-1")
    )
    with pytest.raises(SourceError, match="not UTF-8"):
        ws.load("accounts", tmp_path / "latin1.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match="not a readable Parquet file"):
        ws.load("accounts", tmp_path / "bad.parquet")
    with pytest.raises(SourceError, match="cannot tell the format"):
        ws.load("accounts", write("a.xlsx", ""))


def test_all_rows_rejected_means_nothing_loaded(ws: Workspace, write: Write) -> None:
    report = ws.load("accounts", write("a.csv", "account_id,created_at\nA1,never\n,2024-01-01\n"))
    assert report.nothing_loaded and report.rejected == 2


def test_stale_rejects_file_is_emptied_not_deleted_when_a_load_is_clean(
    ws: Workspace, write: Write
) -> None:
    path = write("a.csv", "account_id,created_at\nA1,never\n")
    assert ws.load("accounts", path).rejects_path is not None
    path.write_text("account_id,created_at\nA1,2024-01-01\n")
    assert ws.load("accounts", path).rejects_path is None
    stale = path.with_name("a.csv.rejects.csv")
    assert stale.read_text() == "file,line,column,value,reason\n" and read_rejects(stale) == []


def test_json_lines(ws: Workspace, write: Write) -> None:
    lines = [
        json.dumps(
            {
                "event_id": "E1",
                "occurred_at": "2024-01-01T00:00:00Z",
                "name": "share",
                "user_id": "U1",
                "properties": {"channel": "slack"},
                "duration_s": 2,
            }
        ),
        "",
        "{not json",
        json.dumps(["a list"]),
        json.dumps(
            {
                "event_id": "E2",
                "occurred_at": "2024-01-01",
                "name": "login",
                "anonymous_id": "x",
                "extra": True,
            }
        ),
    ]
    report = ws.load("events", write("e.jsonl", "\n".join(lines) + "\n"))
    assert (report.inserted, report.rejected) == (2, 2)
    assert [(r.line, r.reason[:14]) for r in report.rejects] == [
        (3, "malformed JSON"),
        (4, "a line must be"),
    ]
    stored = rows(ws, "events", "event_id")
    assert json.loads(str(stored[0]["properties"])) == {"channel": "slack"}
    assert report.ignored_columns == ["extra"]


def test_parquet_typed_and_text_columns(ws: Workspace, tmp_path: Path) -> None:
    table = pa.table(
        {
            "order_id": ["O1", "O2", "O3"],
            "account_id": ["A1", "A1", None],
            "ordered_at": pa.array(
                [dt.datetime(2024, 1, 1, 12), dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 3)]
            ),
            "amount": [12.5, 8.0, 1.0],
            "currency": ["USD", "USD", "USD"],
        }
    )
    pq.write_table(table, tmp_path / "orders.parquet")
    report = ws.load("orders", tmp_path / "orders.parquet")
    assert (report.inserted, report.line_label) == (2, "row")
    assert [(r.line, r.column) for r in report.rejects] == [(3, "account_id")]
    rejects = read_rejects(tmp_path / "orders.parquet.rejects.csv")
    assert list(rejects[0]) == ["file", "row", "column", "value", "reason"]
    assert rows(ws, "orders", "order_id")[0]["amount"] == Decimal("12.5")


def test_pandas_and_polars_frames(ws: Workspace) -> None:
    frame = pd.DataFrame(
        {
            "account_id": ["A1", "A2"],
            "created_at": pd.to_datetime(["2024-01-01", "2024-01-02"]).tz_localize("Europe/Rome"),
            "region": ["EU", "EU"],
        }
    )
    report = ws.load("accounts", frame)
    assert report.inserted == 2 and report.rejects_path is None
    assert rows(ws, "accounts", "account_id")[0]["created_at"] == pd.Timestamp(
        "2023-12-31 23:00:00"
    )
    polars_frame = pl.DataFrame(
        {"account_id": ["A3", None], "created_at": ["2024-02-01", "2024-02-02"]}
    )
    report = ws.load("accounts", polars_frame)
    assert (report.inserted, [(r.line, r.column) for r in report.rejects]) == (
        1,
        [(2, "account_id")],
    )
    mixed = pd.DataFrame({"account_id": ["A4", 5], "created_at": ["2024-02-01", "2024-02-02"]})
    assert ws.load("accounts", mixed).inserted == 2


def test_user_text_is_data_never_sql(ws: Workspace, write: Write) -> None:
    hostile = "A1'); DROP TABLE accounts; --"
    path = write("a.csv", f'account_id,created_at,"we""ird"\n"{hostile}",2024-01-01,x\n')
    assert ws.load("accounts", path).inserted == 1
    assert rows(ws, "accounts", "account_id")[0]["account_id"] == hostile
    assert "we_ird" in ws.table("accounts").columns


def test_a_mapping_reads_emoji_as_scores(ws: Workspace, write: Write) -> None:
    mapping = write(
        "smileys.yaml",
        'values:\n  score: {"😀": 5, "🙂": 4, "😐": 3, "🙁": 2, "😞": 1}\n',
    )
    path = write(
        "csat.csv",
        "response_id,survey,score,responded_at\n"
        "R1,csat,😀,2026-01-05\nR2,csat, 🙁 ,2026-01-05\nR3,csat,4,2026-01-05\nR4,csat,🤷,2026-01-05\n",
    )
    report = ws.load("survey_responses", path, mapping=mapping)
    assert (report.inserted, report.rejected) == (3, 1)
    (reject,) = report.rejects
    assert (reject.line, reject.column, reject.value) == (5, "score", "🤷")
    scores = {r["response_id"]: r["score"] for r in rows(ws, "survey_responses", "response_id")}
    assert scores == {"R1": 5.0, "R2": 2.0, "R3": 4.0}
    frame = ws.metrics(["csat"], start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 1))
    assert frame.iloc[0]["value"] == pytest.approx(200 / 3)  # 😀 and 4 are top-two boxes
    with pytest.raises(MappingError, match="'values' names mood, not columns of survey_responses"):
        ws.load("survey_responses", path, mapping=write("m.yaml", "values:\n  mood: {a: 1}\n"))
