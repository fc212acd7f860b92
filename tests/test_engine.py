from __future__ import annotations

import datetime as dt

import ibis
import pandas as pd
import pytest

from tenure.engine import calendar
from tenure.engine.connection import duckdb_path
from tenure.engine.filters import parse_filter
from tenure.engine.segments import attribute_columns, with_segments
from tenure.errors import QueryError, TenureError
from tenure.workspace import Workspace


def test_urls() -> None:
    assert duckdb_path("duckdb:///tenure.duckdb") == "tenure.duckdb"
    assert duckdb_path("duckdb:////var/data/t.duckdb") == "/var/data/t.duckdb"
    assert duckdb_path("duckdb://") == ":memory:"
    assert duckdb_path("pyspark://") is None
    with pytest.raises(TenureError, match="malformed URL"):
        duckdb_path("duckdb://relative")


@pytest.mark.parametrize(
    ("grain", "day", "start", "following"),
    [
        ("day", "2025-03-17", "2025-03-17", "2025-03-18"),
        ("week", "2025-03-19", "2025-03-17", "2025-03-24"),  # ISO weeks start on Monday
        ("month", "2025-12-31", "2025-12-01", "2026-01-01"),
        ("quarter", "2025-08-15", "2025-07-01", "2025-10-01"),
        ("year", "2024-02-29", "2024-01-01", "2025-01-01"),
    ],
)
def test_period_arithmetic_matches_the_engine(
    ws: Workspace, grain: str, day: str, start: str, following: str
) -> None:
    d = dt.date.fromisoformat(day)
    assert calendar.floor_date(d, grain) == dt.date.fromisoformat(start)
    assert calendar.next_start(dt.date.fromisoformat(start), grain) == dt.date.fromisoformat(
        following
    )
    engine = ws.backend.execute(
        calendar.truncate(ibis.timestamp(dt.datetime.combine(d, dt.time(23, 59))), grain)
    )
    assert pd.Timestamp(engine).date() == dt.date.fromisoformat(start)


def test_calendar_table_and_periods() -> None:
    starts = calendar.period_starts(dt.date(2025, 1, 15), dt.date(2025, 4, 1), "month")
    assert starts == [dt.date(2025, m, 1) for m in (1, 2, 3, 4)]
    quarters = calendar.calendar(dt.date(2025, 1, 1), dt.date(2025, 12, 31), "quarter")
    table = ibis.duckdb.connect().execute(quarters)
    assert list(table["period_end"].astype(str)) == [
        "2025-04-01",
        "2025-07-01",
        "2025-10-01",
        "2026-01-01",
    ]
    assert calendar.parse_period("2025-Q3", "quarter") == dt.date(2025, 7, 1)
    assert calendar.parse_period("2025-03", "month") == dt.date(2025, 3, 1)
    assert calendar.parse_period("2025", "year") == dt.date(2025, 1, 1)
    with pytest.raises(QueryError, match="choose one of: day, week, month, quarter, year"):
        calendar.check_grain("fortnight")
    with pytest.raises(QueryError, match="cannot read the period"):
        calendar.parse_period("March", "month")
    with pytest.raises(QueryError, match="ends"):
        calendar.period_starts(dt.date(2025, 2, 1), dt.date(2025, 1, 1), "day")


def test_local_time_moves_events_across_period_boundaries(ws: Workspace) -> None:
    utc = ibis.timestamp(dt.datetime(2025, 3, 31, 22, 30))  # 1 April 07:30 in Tokyo
    local = calendar.to_local(utc, "Asia/Tokyo", ws.backend)
    assert pd.Timestamp(ws.backend.execute(local)) == pd.Timestamp("2025-04-01 07:30")
    assert pd.Timestamp(ws.backend.execute(calendar.truncate(local, "month"))).month == 4
    assert calendar.to_local(utc, "UTC", ws.backend) is utc


@pytest.fixture
def accounts(ws: Workspace) -> ibis.Table:
    frame = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3", "A4"],
            "created_at": ["2024-01-01"] * 4,
            "plan": ["pro", "basic", "pro", None],
            "country": ["JP", "IT", "TH", "JP"],
            "seats": [10, 2, 30, 5],
        }
    )
    ws.load("accounts", frame)
    return ws.table("accounts")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plan = 'pro'", ["A1", "A3"]),
        ("plan = 'pro' AND seats >= 20", ["A3"]),
        ("country IN ('JP', 'IT') AND NOT seats < 5", ["A1", "A4"]),
        ("plan IS NULL OR seats BETWEEN 2 AND 3", ["A2", "A4"]),
        ("plan IS NOT NULL AND country <> 'JP'", ["A2", "A3"]),
        ("country LIKE 'T%'", ["A3"]),
        ("(seats > 1) = TRUE", ["A1", "A2", "A3", "A4"]),
    ],
)
def test_filters(accounts: ibis.Table, text: str, expected: list[str]) -> None:
    picked = (
        accounts.filter(parse_filter(text, accounts)).order_by("account_id").account_id.to_list()
    )
    assert picked == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tier = 'pro'", "unknown column 'tier' in filter; valid: account_id"),
        ("plan = 'pro'; DROP TABLE accounts", "is not allowed in a filter|cannot read the filter"),
        ("plan IN (SELECT plan FROM accounts)", "sub-queries are not allowed"),
        ("upper(plan) = 'PRO'", "is not allowed in a filter"),
        ("plan = ", "cannot read the filter"),
        ("seats", "is not a condition"),
        ("a.plan = 'x'", "without a table prefix"),
        ("", "empty filter"),
    ],
)
def test_bad_filters_say_why(accounts: ibis.Table, text: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        parse_filter(text, accounts)
    assert accounts.count().execute() == 4


def test_segments(accounts: ibis.Table) -> None:
    assert attribute_columns(accounts) == ["plan", "country", "seats"]
    facts = ibis.memtable({"account_id": ["A1", "A2", "A9"], "mrr": [10, 20, 30]})
    joined = with_segments(facts, accounts, ["country"]).order_by("account_id").execute()
    assert list(joined.columns) == ["account_id", "mrr", "country"]
    assert joined["country"].tolist()[:2] == ["JP", "IT"] and pd.isna(joined["country"].iloc[2])
    with pytest.raises(
        QueryError, match="unknown segment attribute 'region'; valid: plan, country, seats"
    ):
        with_segments(facts, accounts, ["region"])


def test_filters_take_quoted_identifiers_and_columns_named_like_keywords(ws: Workspace) -> None:
    frame = pd.DataFrame(
        {
            "account_id": ["A1", "A2", "A3"],
            "created_at": ["2024-01-01"] * 3,
            "case": ["c1", "c2", "c1"],
            "order": [1, 2, 3],
            "sales owner": ["Ann", "Bob", "Bob"],
            "Tier": ["gold", "gold", "tin"],
        }
    )
    ws.load("accounts", frame)
    accounts = ws.table("accounts")

    def picked(text: str) -> list[str]:
        chosen = accounts.filter(parse_filter(text, accounts))
        return list(chosen.order_by("account_id").account_id.to_list())

    assert picked("\"case\" = 'c1'") == ["A1", "A3"]
    assert picked('"case" = \'c1\' AND "order" >= 2') == ["A3"]
    # The loader stores attribute names in snake case ("sales owner" -> sales_owner, Tier -> tier).
    assert picked("\"sales_owner\" IN ('Bob') AND NOT \"case\" = 'c2'") == ["A3"]
    assert picked("Tier = 'gold'") == ["A1", "A2"]  # unquoted: case-insensitive, as in SQL
    with pytest.raises(
        QueryError, match="'case' is an SQL keyword: write the column in double quotes, \"case\""
    ):
        parse_filter("case = 'c1'", accounts)
    with pytest.raises(QueryError) as unknown:
        parse_filter("owner = 'Ann'", accounts)
    assert str(unknown.value).endswith(
        'valid: account_id, name, created_at, valid_from, "case", order, sales_owner, tier'
    )
    with pytest.raises(QueryError, match=r"unknown column 'Ann' in filter \(text goes in single"):
        parse_filter('sales_owner = "Ann"', accounts)
    with pytest.raises(QueryError, match="unknown column 'Tier'"):
        parse_filter("\"Tier\" = 'gold'", accounts)  # quoted: exact
