"""The account snapshot: its figures agree with the metric catalog, health and churn models, its
subscription terms are exact on a hand-made company, and reads filter, search, sort and page in
the engine with user text treated as text."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import tenure
from tenure import demo
from tenure.errors import QueryError, TenureError
from tenure.models import account_snapshot as snapshot
from tenure.workspace import Workspace
from tests.books import _load, day, load_book, sub
from tests.conftest import AS_OF

DemoWs = tuple[Workspace, demo.DemoResult]
BOOK_DAY = dt.date(2026, 11, 1)


def _by_account(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("account_id").sort_index()


# -- the demo company ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_snapshot(demo_ws: DemoWs) -> pd.DataFrame:
    ws, _ = demo_ws
    assert snapshot.refresh(ws, as_of=AS_OF) == ws.table("accounts").count().execute()
    page, total = snapshot.read(ws, limit=100_000)
    assert total == len(page)
    return _by_account(page)


def test_mrr_equals_the_drill_per_account_and_the_metric_in_total(
    demo_ws: DemoWs, demo_snapshot: pd.DataFrame
) -> None:
    ws, _ = demo_ws
    month = (AS_OF - dt.timedelta(days=1)).strftime("%Y-%m")  # its end is the snapshot instant
    drill = ws.drill("mrr", month).set_index("account_id")["mrr_end"]
    paying = demo_snapshot[demo_snapshot["paying"]]
    assert len(paying) > 100
    assert paying["mrr"].to_dict() == drill.to_dict()  # exact Decimals, not just to the cent
    assert all(isinstance(v, Decimal) for v in demo_snapshot["mrr"])
    assert (demo_snapshot.loc[~demo_snapshot["paying"], "mrr"] == 0).all()
    assert (demo_snapshot["arr"] == demo_snapshot["mrr"] * 12).all()
    start = dt.date.fromisoformat(month + "-01")
    metric = ws.metrics(["mrr"], start=start, end=start)
    assert Decimal(str(metric["value"].iloc[0])).quantize(Decimal("0.01")) == sum(
        demo_snapshot["mrr"]
    ).quantize(Decimal("0.01"))


def test_health_and_band_equal_the_health_model(
    demo_ws: DemoWs, demo_snapshot: pd.DataFrame
) -> None:
    ws, _ = demo_ws
    health = _by_account(ws.health(as_of=AS_OF))
    paying = demo_snapshot[demo_snapshot["paying"]]
    assert list(paying.index) == list(health.index)
    pd.testing.assert_series_equal(paying["health"], health["health"], check_names=False)
    assert (paying["band"] == health["band"]).all()
    pd.testing.assert_series_equal(paying["trend"], health["trend"], check_names=False)
    others = demo_snapshot[~demo_snapshot["paying"]]
    assert others["health"].isna().all() and others["band"].isna().all()
    # Drivers are the pulled_down_by components, in words.
    counts = health["pulled_down_by"].map(lambda t: len([c for c in t.split(",") if c.strip()]))
    assert paying["health_drivers"].map(len).tolist() == counts.tolist()
    phrases = {p for drivers in paying["health_drivers"] for p in drivers}
    assert phrases and not any("_" in p for p in phrases)  # no raw feature codes
    assert any(p.startswith("active on ") and p.endswith(" of the last 30") for p in phrases)
    # Components: each score_<name> column of the health model, with its weight, in words.
    names = [c for c in health.columns if c.startswith("score_")]
    for account, components in paying["health_components"].items():
        assert [f"score_{c['component']}" for c in components] == names
        scores = [c["score"] for c in components]
        assert scores == pytest.approx(health.loc[account, names].astype(float).tolist())
        assert all(c["weight"] > 0 and c["measure"] for c in components)
    assert others["health_components"].isna().all()
    assert "health_components" not in snapshot.SORTABLE


def test_churn_columns_come_from_the_stored_model(
    demo_ws: DemoWs, demo_snapshot: pd.DataFrame
) -> None:
    ws, _ = demo_ws
    con = ws.duckdb
    had_models = "tenure_models" in ws.backend.list_tables()
    assert not had_models or con.execute(
        "SELECT count(*) FROM tenure_models WHERE name = 'churn'"
    ).fetchone() == (0,), "another test stored a churn model in the shared demo workspace"
    assert demo_snapshot["churn_probability"].isna().all()
    assert demo_snapshot["churn_drivers"].isna().all()
    try:
        ws.train_churn(as_of=AS_OF)
        risk = _by_account(ws.churn_risk(as_of=AS_OF))
        built = _by_account(snapshot.build(ws, as_of=AS_OF))
    finally:
        if had_models:
            con.execute("DELETE FROM tenure_models WHERE name = 'churn'")
        else:
            con.execute("DROP TABLE tenure_models")
    paying = built[built["paying"]]
    pd.testing.assert_series_equal(
        paying["churn_probability"], risk["churn_probability"], check_names=False
    )
    codes = risk["drivers"].map(lambda t: len([c for c in t.split(",") if c.strip()]))
    assert paying["churn_drivers"].map(len).tolist() == codes.tolist()
    assert any(
        "cancellation pending" in d or "no activity for" in " ".join(d)
        for d in paying["churn_drivers"]
    )
    assert built.loc[~built["paying"], "churn_probability"].isna().all()


def test_refresh_twice_gives_the_same_rows_and_no_staging_tables(demo_ws: DemoWs) -> None:
    ws, _ = demo_ws
    snapshot.refresh(ws, as_of=AS_OF)
    first = ws.backend.table(snapshot.SNAPSHOT_TABLE).order_by("account_id").to_pandas()
    snapshot.refresh(ws, as_of=AS_OF)
    second = ws.backend.table(snapshot.SNAPSHOT_TABLE).order_by("account_id").to_pandas()
    assert (second["refreshed_at"] > first["refreshed_at"]).all()
    pd.testing.assert_frame_equal(
        first.drop(columns="refreshed_at"), second.drop(columns="refreshed_at")
    )
    assert not [t for t in ws.backend.list_tables() if "staging" in t]
    info = snapshot.status(ws)
    assert info is not None and info["as_of"] == AS_OF and info["accounts"] == len(second)
    assert info["loads"] == len(ws.loads()) and info["stale"] is False


def test_band_filter_and_sort_on_the_demo(demo_ws: DemoWs, demo_snapshot: pd.DataFrame) -> None:
    ws, _ = demo_ws
    page, total = snapshot.read(ws, band="red", sort="health", descending=False, limit=10)
    red = demo_snapshot[demo_snapshot["band"] == "red"]
    assert total == len(red) > 10 and len(page) == 10
    assert (page["band"] == "red").all()
    expected = red.reset_index().sort_values(["health", "account_id"])["account_id"][:10]
    assert page["account_id"].tolist() == expected.tolist()


# -- a hand-made company ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def book() -> Iterator[Workspace]:
    """As of 2026-11-01:
    A upgraded starter -> pro on 2026-06-15 (monthly): paid plan pro, renews 2026-11-15;
    B annual, trial until 2025-03-24: renews 2027-03-24;
    C monthly from 2026-01-05, cancelled 2026-10-20, not ended: churns 2026-11-05;
    D cancelled with ended_at 2026-12-31: churns then;
    E two subscriptions, one cancelled: no scheduled churn, renews with the other;
    F ended in 2026: not paying; G no subscription;
    H every 2 weeks from 2026-10-01: renews 2026-11-12; I monthly from 2026-09-01: renews today.
    """
    with tenure.connect("duckdb://") as ws:
        accounts = {
            "A": {"name": "Acme 100% Corp", "plan": "starter", "owner": "ann"},
            "B": {"name": "O'Brien_Co", "plan": "pro", "owner": "bob"},
            "C": {"name": "Cedar", "plan": "pro", "owner": "ann"},
            "D": {"name": "Delta", "plan": "pro", "owner": "bob"},
            "E": {"name": "Echo", "plan": "pro", "owner": "ann"},
            "F": {"name": "Fjord", "plan": "pro", "owner": "bob"},
            "G": {"name": "Gamma", "plan": "pro", "owner": "ann"},
            "H": {"name": "Hotel", "plan": "pro", "owner": "bob"},
            "I": {"name": "India", "plan": "pro", "owner": "ann"},
        }
        load_book(
            ws,
            [
                sub("A", 50, "2026-01-15", "2026-06-15", plan="starter"),
                sub("A", 200, "2026-06-15", plan="pro"),
                sub(
                    "B",
                    1200,
                    "2025-03-10",
                    plan="enterprise",
                    billing_period=12,
                    trial_ends_at="2025-03-24",
                ),
                sub("C", 80, "2026-01-05", canceled_at="2026-10-20"),
                sub("D", 90, "2026-02-01", "2026-12-31", canceled_at="2026-09-30"),
                sub("E", 30, "2026-03-03", plan="addon", canceled_at="2026-10-01"),
                sub("E", 300, "2026-03-20", plan="team"),
                sub("F", 40, "2025-01-01", "2026-03-01"),
                sub("H", 70, "2026-10-01", billing_period=2, billing_unit="week"),
                sub("I", 10, "2026-09-01"),
            ],
            accounts=accounts,
        )
        tickets = [
            ("T1", "A", "2026-10-01", None, "open"),
            ("T2", "A", "2026-10-30", None, "open"),
            ("T3", "A", "2026-10-10", "2026-10-15", "resolved"),
            ("T4", "A", "2026-10-11", None, "abandoned"),
            ("T5", "A", "2026-10-20", "2026-11-03", "resolved"),  # still open on the 1st
            ("T6", "A", "2026-11-05", None, "open"),  # after the snapshot
            ("T7", "F", "2026-10-05", None, "open"),
        ]
        _load(
            ws,
            "tickets",
            [
                {
                    "ticket_id": t,
                    "account_id": a,
                    "channel": "email",
                    "opened_at": day(o),
                    "resolved_at": day(r) if r else None,
                    "status": s,
                }
                for t, a, o, r, s in tickets
            ],
        )
        answers = [
            ("R1", "A", "nps", 9, "2026-05-01"),
            ("R2", "A", "nps", 3, "2026-10-01"),
            ("R3", "A", "csat", 5, "2026-10-15"),
            ("R4", "A", "nps", 10, "2026-11-10"),  # after the snapshot
            ("R5", "B", "nps", 8, "2025-12-24"),
        ]
        _load(
            ws,
            "survey_responses",
            [
                {"response_id": r, "account_id": a, "survey": s, "score": v, "responded_at": day(d)}
                for r, a, s, v, d in answers
            ],
        )
        _load(
            ws,
            "users",
            [{"user_id": f"U{a}", "account_id": a} for a in accounts],
        )
        events = [
            ("E1", "A", "2026-10-30T12:00:00"),
            ("E2", "A", "2026-11-02T08:00:00"),  # after the snapshot
            ("E3", "F", "2026-02-01T09:30:00"),
        ]
        _load(
            ws,
            "events",
            [
                {
                    "event_id": e,
                    "account_id": a,
                    "user_id": f"U{a}",
                    "name": "login",
                    "occurred_at": day(t),
                }
                for e, a, t in events
            ],
        )
        assert snapshot.refresh(ws, as_of=BOOK_DAY) == len(accounts)
        yield ws


def _book(ws: Workspace) -> pd.DataFrame:
    return _by_account(snapshot.read(ws, sort="account_id", limit=1000)[0])


def test_paid_plan_renewals_and_scheduled_churn(book: Workspace) -> None:
    rows = _book(book)
    assert rows.loc["A", "paid_plan"] == "pro"  # the sign-up plan attribute says starter
    assert rows.loc["E", "paid_plan"] == "team"  # the higher-MRR of two
    assert rows.loc["B", "paid_plan"] == "enterprise" and rows.loc["B", "mrr"] == Decimal(100)
    assert rows.loc["A", "mrr"] == Decimal(200) and rows.loc["A", "arr"] == Decimal(2400)
    renewals = rows["next_renewal"].map(lambda v: None if pd.isna(v) else pd.Timestamp(v).date())
    assert renewals.to_dict() == {
        "A": dt.date(2026, 11, 15),
        "B": dt.date(2027, 3, 24),
        "C": None,  # cancelling: no renewal
        "D": None,
        "E": dt.date(2026, 11, 20),
        "F": None,
        "G": None,
        "H": dt.date(2026, 11, 12),
        "I": dt.date(2026, 11, 1),
    }
    churns = rows["scheduled_churn_on"].dropna().map(lambda v: pd.Timestamp(v).date())
    assert churns.to_dict() == {"C": dt.date(2026, 11, 5), "D": dt.date(2026, 12, 31)}
    assert rows["paying"].to_dict() == {a: a not in ("F", "G") for a in rows.index}
    assert rows.loc["F", "mrr"] == 0 and pd.isna(rows.loc["F", "paid_plan"])
    assert pd.isna(rows.loc["G", "health"]) and rows.loc["A", "band"] in snapshot.BANDS
    assert rows.loc["A", "owner"] == "ann" and rows.loc["B", "name"] == "O'Brien_Co"


def test_open_tickets_nps_and_activity_are_as_of_the_snapshot(book: Workspace) -> None:
    rows = _book(book)
    assert rows["open_tickets"].to_dict() == {a: {"A": 3, "F": 1}.get(a, 0) for a in rows.index}
    assert rows.loc["A", "last_nps"] == 3
    assert rows.loc["A", "last_nps_at"] == pd.Timestamp("2026-10-01")
    assert rows.loc["B", "last_nps"] == 8 and pd.isna(rows.loc["C", "last_nps"])
    assert rows.loc["A", "last_activity"] == pd.Timestamp("2026-10-30T12:00:00")
    assert rows.loc["F", "last_activity"] == pd.Timestamp("2026-02-01T09:30:00")
    assert pd.isna(rows.loc["G", "last_activity"])
    assert "NPS 3 (detractor)" in rows.loc["A", "health_drivers"]
    assert rows["churn_probability"].isna().all()  # no churn model trained


def test_read_filters_sorts_and_pages_in_the_engine(book: Workspace) -> None:
    def ids(**options: object) -> tuple[list[str], int]:
        page, total = snapshot.read(book, **options)  # type: ignore[arg-type]
        return page["account_id"].tolist(), total

    assert ids(cancelling=True, sort="account_id", descending=False) == (["C", "D"], 2)
    assert ids(cancelling=False, paying=True, sort="account_id", descending=False)[1] == 5
    assert ids(paying=False, sort="account_id", descending=False) == (["F", "G"], 2)
    assert ids(where="owner = 'bob'", sort="account_id", descending=False) == (
        ["B", "D", "F", "H"],
        4,
    )
    # E 330, A 200, H 70 a fortnight = 151.67, B 100, D 90, C 80, I 10; F and G tie at 0.
    by_mrr = ["E", "A", "H", "B", "D", "C", "I", "F", "G"]
    assert ids(sort="mrr", limit=3, offset=0) == (by_mrr[:3], 9)
    assert ids(sort="mrr", limit=3, offset=3) == (by_mrr[3:6], 9)
    assert ids(sort="mrr", limit=3, offset=9) == ([], 9)
    assert ids(sort="mrr", descending=False, limit=2)[0] == ["F", "G"]
    # NULLs last in either direction.
    assert ids(sort="health", descending=False)[0][-2:] == ["F", "G"]
    assert ids(sort="health", descending=True)[0][-2:] == ["F", "G"]
    assert ids(search="ACME")[0] == ["A"]
    assert ids(search="h", sort="account_id", descending=False)[0] == ["E", "H"]
    assert ids(search="i", sort="account_id", descending=False, where="owner = 'ann'")[0] == ["I"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%", ["A"]),  # a literal percent sign, not a wildcard
        ("_", ["B"]),  # a literal underscore
        ("'", ["B"]),
        ("o'b", ["B"]),
        ("'; DROP TABLE account_snapshot; --", []),
        ('" OR 1=1 --', []),
        ("%' OR '1'='1", []),
    ],
)
def test_hostile_search_text_is_text(book: Workspace, text: str, expected: list[str]) -> None:
    page, total = snapshot.read(book, search=text, sort="account_id", descending=False)
    assert page["account_id"].tolist() == expected and total == len(expected)
    assert book.has_table(snapshot.SNAPSHOT_TABLE)
    assert snapshot.read(book, limit=1)[1] == 9


def test_read_rejects_bad_options(book: Workspace) -> None:
    with pytest.raises(QueryError, match="cannot sort by 'name; DROP TABLE x'"):
        snapshot.read(book, sort="name; DROP TABLE x")
    with pytest.raises(QueryError, match="cannot sort by 'health_drivers'"):
        snapshot.read(book, sort="health_drivers")
    with pytest.raises(QueryError, match="unknown band 'purple'"):
        snapshot.read(book, band="purple")
    with pytest.raises(QueryError, match="unknown column 'colour'"):
        snapshot.read(book, where="colour = 'red'")
    with pytest.raises(QueryError, match="limit"):
        snapshot.read(book, limit=0)


def test_read_before_refresh_says_to_refresh_and_status_tracks_loads(ws: Workspace) -> None:
    load_book(ws, [sub("A", 10, "2026-01-01")])
    with pytest.raises(TenureError, match="no account snapshot yet: refresh"):
        snapshot.read(ws)
    assert snapshot.status(ws) is None
    assert snapshot.refresh(ws, as_of=BOOK_DAY) == 1
    info = snapshot.status(ws)
    assert info is not None and info["stale"] is False and info["loads"] == 2
    load_book(ws, [sub("A", 10, "2026-01-01"), sub("B", 20, "2026-02-01")])
    info = snapshot.status(ws)
    assert info is not None and info["stale"] is True
    assert snapshot.read(ws)[1] == 1  # the old snapshot until the next refresh
    assert snapshot.refresh(ws, as_of=BOOK_DAY) == 2


def test_refresh_needs_a_writable_workspace(tmp_path: Path) -> None:
    path = tmp_path / "ro.duckdb"
    with tenure.connect(f"duckdb:///{path}") as ws:
        load_book(ws, [sub("A", 10, "2026-01-01")])
    with (
        tenure.connect(f"duckdb:///{path}", read_only=True) as ws,
        pytest.raises(TenureError, match="read-only"),
    ):
        snapshot.refresh(ws, as_of=BOOK_DAY)


def test_an_empty_store_has_an_empty_snapshot_not_a_failing_job() -> None:
    with tenure.connect("duckdb://") as ws:
        assert snapshot.refresh(ws) == 0
        rows, total = snapshot.read(ws)
        assert total == 0 and rows.empty
