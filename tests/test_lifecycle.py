"""Lifecycle (new, returning, resurrecting, dormant), stickiness and cohort retention of users and
accounts on hand-built events with known answers, PostHog's identities on random events, and the
CLI and API around them."""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import tenure
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app as cli_app
from tenure.errors import QueryError
from tenure.metrics.lifecycle import ACCOUNT_MEASURES, USER_MEASURES
from tenure.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tenure.api.app import create_app

JAN, APR, MAY = dt.date(2025, 1, 1), dt.date(2025, 4, 1), dt.date(2025, 5, 1)
STATES = ("new", "returning", "resurrecting", "dormant")


def _events(*spec: tuple[str, str, str], name: str = "page_view") -> list[dict[str, Any]]:
    """(user, account, local time) -> event rows."""
    return [
        {
            "event_id": f"{name}-{n}",
            "occurred_at": dt.datetime.fromisoformat(at),
            "name": name,
            "user_id": user,
            "account_id": account,
        }
        for n, (user, account, at) in enumerate(spec)
    ]


def _load(ws: Workspace, table: str, rows: list[dict[str, Any]]) -> None:
    report = ws.load(table, pd.DataFrame(rows))
    assert report.rejected == 0, report


# U1 (account A): Jan, Feb, not Mar, back in Apr. U2 (A): Feb only. U3 (B): Jan, not Feb, Mar.
# U4 (C): last June, then Jan: resurrecting in Jan, not new (first activity reads all history).
STORY = (
    ("U1", "A", "2025-01-03T10:00:00"),
    ("U1", "A", "2025-01-04T10:00:00"),
    ("U1", "A", "2025-01-04T18:00:00"),
    ("U1", "A", "2025-01-20T10:00:00"),
    ("U1", "A", "2025-02-11T10:00:00"),
    ("U1", "A", "2025-04-02T10:00:00"),
    ("U2", "A", "2025-02-12T10:00:00"),
    ("U3", "B", "2025-01-15T10:00:00"),
    ("U3", "B", "2025-03-15T10:00:00"),
    ("U4", "C", "2024-06-10T10:00:00"),
    ("U4", "C", "2025-01-20T10:00:00"),
)
ACCOUNTS = [
    {"account_id": "A", "name": "Acme", "created_at": dt.datetime(2024, 1, 1), "plan": "pro"},
    {"account_id": "B", "name": "Bolt", "created_at": dt.datetime(2024, 1, 1), "plan": "basic"},
    {"account_id": "C", "name": "Cove", "created_at": dt.datetime(2024, 1, 1), "plan": "basic"},
]


@pytest.fixture
def story(ws: Workspace) -> Workspace:
    _load(ws, "accounts", ACCOUNTS)
    _load(ws, "events", _events(*STORY))
    return ws


def _table(frame: pd.DataFrame, prefix: str = "lifecycle_") -> dict[str, list[int]]:
    """state -> values by period, in period order."""
    frame = frame.sort_values("period_start")
    return {s: [int(v) for v in frame[frame.metric == prefix + s].value] for s in STATES}


def test_user_lifecycle_by_month(story: Workspace) -> None:
    frame = story.metrics(USER_MEASURES, start=JAN, end=APR)
    assert _table(frame) == {
        "new": [2, 1, 0, 0],
        "returning": [0, 1, 0, 0],
        "resurrecting": [1, 0, 1, 1],
        "dormant": [0, -2, -2, -1],
    }
    assert frame.attrs["units"]["lifecycle_dormant"] == "count"


def test_account_lifecycle_is_any_of_its_users(story: Workspace) -> None:
    frame = story.metrics(ACCOUNT_MEASURES, start=JAN, end=APR)
    assert _table(frame, "account_lifecycle_") == {
        "new": [2, 0, 0, 0],
        "returning": [0, 1, 0, 0],
        "resurrecting": [1, 0, 1, 1],
        "dormant": [0, -2, -1, -1],
    }


def test_lifecycle_by_segment_and_filter(story: Workspace) -> None:
    frame = story.metrics(["lifecycle_new", "lifecycle_dormant"], start=JAN, end=APR, by=["plan"])
    basic = frame[frame.plan == "basic"]
    assert _table(basic)["new"] == [1, 0, 0, 0]  # U3; U4 was active before
    assert _table(basic)["dormant"] == [0, -2, 0, -1]  # U3 and U4 in Feb, U3 in Apr
    filtered = story.metrics(["lifecycle_new"], start=JAN, end=APR, where="plan = 'pro'")
    assert _table(filtered)["new"] == [1, 1, 0, 0]


def test_lifecycle_by_week(ws: Workspace) -> None:
    # Weeks start on Monday: 6, 13, 20 and 27 January 2025.
    _load(
        ws,
        "events",
        _events(
            ("U1", "A", "2025-01-06T09:00:00"),
            ("U1", "A", "2025-01-12T23:00:00"),  # Sunday: still the first week
            ("U1", "A", "2025-01-13T09:00:00"),
            ("U1", "A", "2025-01-27T09:00:00"),
            ("U2", "A", "2025-01-14T09:00:00"),
            ("U2", "A", "2025-01-21T09:00:00"),
        ),
    )
    frame = ws.metrics(
        USER_MEASURES, grain="week", start=dt.date(2025, 1, 6), end=dt.date(2025, 2, 3)
    )
    assert _table(frame) == {
        "new": [1, 1, 0, 0, 0],
        "returning": [0, 1, 1, 0, 0],
        "resurrecting": [0, 0, 0, 1, 0],
        "dormant": [0, 0, -1, -1, -1],
    }
    accounts = ws.metrics(
        ACCOUNT_MEASURES, grain="week", start=dt.date(2025, 1, 6), end=dt.date(2025, 2, 3)
    )
    assert _table(accounts, "account_lifecycle_")["returning"] == [0, 1, 1, 1, 0]


def test_a_user_under_two_accounts_counts_once(ws: Workspace) -> None:
    _load(ws, "accounts", ACCOUNTS)
    _load(
        ws,
        "events",
        _events(("U5", "A", "2025-05-03T10:00:00"), ("U5", "B", "2025-05-04T10:00:00")),
    )
    users = ws.metrics(["lifecycle_new"], start=MAY, end=MAY)
    assert users.value.tolist() == [1]
    accounts = ws.metrics(["account_lifecycle_new"], start=MAY, end=MAY)
    assert accounts.value.tolist() == [2]
    # Within a segment a user's lifecycle reads that segment's accounts: new in both plans.
    by_plan = ws.metrics(["lifecycle_new"], start=MAY, end=MAY, by=["plan"])
    assert dict(zip(by_plan.plan, by_plan.value, strict=True)) == {"basic": 1, "pro": 1}


def test_the_timezone_moves_day_boundaries(ws: Workspace) -> None:
    _load(
        ws,
        "events",
        _events(("U1", "A", "2025-01-31T23:30:00"), ("U1", "A", "2025-02-15T10:00:00")),
    )
    feb = dt.date(2025, 2, 1)
    utc = ws.metrics(["lifecycle_new", "lifecycle_returning"], start=JAN, end=feb)
    assert _table(utc)["new"] == [1, 0] and _table(utc)["returning"] == [0, 1]
    ws.set_setting("timezone", "Asia/Tokyo")  # 08:30 on 1 February there
    tokyo = ws.metrics(["lifecycle_new", "lifecycle_returning"], start=JAN, end=feb)
    assert _table(tokyo)["new"] == [0, 1] and _table(tokyo)["returning"] == [0, 0]


def test_drill_lists_who_is_in_the_state_with_their_last_activity(story: Workspace) -> None:
    dormant = story.drill("lifecycle_dormant", "2025-03")
    assert dormant.user_id.tolist() == ["U2", "U1"]  # latest activity first
    assert dormant.last_active.tolist() == [dt.date(2025, 2, 12), dt.date(2025, 2, 11)]
    assert dormant.first_day.tolist() == [dt.date(2025, 2, 12), dt.date(2025, 1, 3)]
    back = story.drill("account_lifecycle_resurrecting", "2025-04")
    assert back[["account_id", "name", "last_active"]].values.tolist() == [
        ["A", "Acme", dt.date(2025, 4, 2)]
    ]
    assert back.attrs["metric"] == "account_lifecycle_resurrecting"


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["U1", "U2", "U3", "U4", "U5"]),
            st.sampled_from(["A", "B", "C"]),
            st.integers(min_value=0, max_value=240),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_states_add_up_to_the_active_units(spec: list[tuple[str, str, int]]) -> None:
    base = dt.datetime(2024, 11, 1, 12)
    rows = [(u, a, (base + dt.timedelta(days=d)).isoformat()) for u, a, d in spec]
    with tenure.connect("duckdb://") as ws:
        _load(ws, "events", _events(*rows))
        first, last = dt.date(2025, 1, 1), dt.date(2025, 6, 1)
        frame = ws.metrics([*USER_MEASURES, *ACCOUNT_MEASURES], start=first, end=last)
    raw = pd.DataFrame(rows, columns=["user_id", "account_id", "at"])
    raw["month"] = pd.to_datetime(raw["at"]).dt.to_period("M")
    for unit, prefix in (("user_id", "lifecycle_"), ("account_id", "account_lifecycle_")):
        states = _table(frame, prefix)
        months = pd.period_range("2024-12", "2025-06", freq="M")
        active = [raw[raw.month == m][unit].nunique() for m in months]
        ever = [raw[raw.month <= m][unit].nunique() for m in months]
        for i in range(1, len(months)):
            now = states["new"][i - 1] + states["returning"][i - 1] + states["resurrecting"][i - 1]
            assert now == active[i]
            assert states["dormant"][i - 1] == -(active[i - 1] - states["returning"][i - 1])
            assert states["new"][i - 1] == ever[i] - ever[i - 1]


def test_stickiness_counts_units_by_days_active(story: Workspace) -> None:
    frame = story.stickiness(start=JAN, end=dt.date(2025, 2, 1))
    assert list(frame.columns) == ["period_start", "days_active", "users"]
    assert len(frame) == 31 + 28  # every k from 1 to the days in the period
    jan = frame[frame.period_start == JAN].set_index("days_active").users
    assert (jan[1], jan[2], jan[3]) == (2, 0, 1)  # U3, U4 on one day; U1 on three
    assert jan.sum() == 3
    accounts = story.stickiness(start=JAN, end=JAN, unit="account", by=["plan"])
    basic = accounts[(accounts.plan == "basic") & (accounts.accounts > 0)]
    assert basic[["days_active", "accounts"]].values.tolist() == [[1, 2]]
    with pytest.raises(QueryError, match="unknown unit"):
        story.stickiness(unit="team")


def _rates(frame: pd.DataFrame) -> dict[tuple[str, int], tuple[int, int]]:
    return {
        (str(r.cohort_start)[:7], int(r.offset)): (int(r.retained), int(r.cohort_size))
        for r in frame.itertuples()
    }


def test_first_time_retention_exact_and_on_or_after(story: Workspace) -> None:
    options: dict[str, Any] = {"grain": "month", "start": JAN, "end": APR, "periods": 3}
    exact = _rates(story.retention(**options))
    assert [exact[("2025-01", n)] for n in range(4)] == [(2, 2), (1, 2), (1, 2), (1, 2)]
    assert [exact[("2025-02", n)] for n in range(3)] == [(1, 1), (0, 1), (0, 1)]
    assert ("2025-02", 3) not in exact  # May is past the range's end
    later = _rates(story.retention(bracket="on_or_after", **options))
    assert [later[("2025-01", n)] for n in range(4)] == [(2, 2), (2, 2), (2, 2), (1, 2)]
    frame = story.retention(**options)
    row = frame[(frame.cohort_start == JAN) & (frame.offset == 1)].iloc[0]
    assert row.rate == pytest.approx(50.0)
    empty = frame[frame.cohort_start == dt.date(2025, 3, 1)]
    assert empty.cohort_size.eq(0).all() and empty.rate.isna().all()


def test_recurring_and_account_retention(story: Workspace) -> None:
    options: dict[str, Any] = {"grain": "month", "start": JAN, "end": APR, "periods": 3}
    recurring = _rates(story.retention(kind="recurring", **options))
    assert [recurring[("2025-01", n)] for n in range(4)] == [(3, 3), (1, 3), (1, 3), (1, 3)]
    assert recurring[("2025-03", 0)] == (1, 1)
    accounts = _rates(story.retention(unit="account", **options))
    # A and B are first active in January; C was active the June before.
    assert [accounts[("2025-01", n)] for n in range(4)] == [(2, 2), (1, 2), (1, 2), (1, 2)]
    pro = _rates(story.retention(unit="account", where="plan = 'pro'", **options))
    assert pro[("2025-01", 0)] == (1, 1)


def test_retention_of_one_event_and_bad_arguments(story: Workspace) -> None:
    _load(story, "events", _events(("U1", "A", "2025-02-20T10:00:00"), name="report_run"))
    found = _rates(story.retention(event="report_run", grain="month", start=JAN, end=APR))
    assert found[("2025-02", 0)] == (1, 1) and found[("2025-01", 0)] == (0, 0)
    weekly = story.retention(grain="week", start=JAN, end=dt.date(2025, 1, 31), periods=2)
    assert weekly.offset.max() == 2
    for bad, message in (
        ({"kind": "forever"}, "unknown retention kind"),
        ({"bracket": "before"}, "unknown bracket"),
        ({"unit": "team"}, "unknown unit"),
        ({"grain": "quarter"}, "by day, week or month"),
        ({"periods": -1}, "between 0 and 366"),
        ({"grain": "day", "start": dt.date(1900, 1, 1)}, "at most 1000 cohorts"),
    ):
        with pytest.raises(QueryError, match=message):
            story.retention(**bad)


# -- CLI and API -------------------------------------------------------------------------------
def _stored(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'lifecycle.duckdb'}"
    with tenure.connect(url) as ws:
        _load(ws, "accounts", ACCOUNTS)
        _load(ws, "events", _events(*STORY))
    return url


def test_cli_stickiness_and_retention(tmp_path: Path) -> None:
    db = _stored(tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        cli_app,
        [
            "engagement",
            "stickiness",
            "--from",
            "2025-01-01",
            "--to",
            "2025-01-31",
            "--db",
            db,
            "--format",
            "csv",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "period_start,days_active,users" in result.output and "2025-01-01,3,1" in result.output
    result = runner.invoke(
        cli_app,
        [
            "engagement",
            "retention",
            "--grain",
            "month",
            "--from",
            "2025-01-01",
            "--to",
            "2025-04-30",
            "--periods",
            "3",
            "--db",
            db,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "first_time user retention % (exact)" in result.output
    result = runner.invoke(cli_app, ["engagement", "retention", "--kind", "forever", "--db", db])
    assert result.exit_code == 2 and "unknown kind 'forever'" in result.output


def test_api_stickiness_and_retention(tmp_path: Path, store: Store) -> None:
    with tenure.connect(_stored(tmp_path)) as ws:
        client = TestClient(create_app(ws, store, base_url="http://testserver"))
        key = {"Authorization": f"Bearer {create_key(store, 'viewer', 'viewer')}"}
        answer = client.get(
            "/api/engagement/stickiness",
            params={"from": "2025-01-01", "to": "2025-01-31", "unit": "account"},
            headers=key,
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["unit"] == "account" and len(body["items"]) == 31
        assert body["items"][0] == {"period_start": "2025-01-01", "days_active": 1, "accounts": 2}
        answer = client.get(
            "/api/engagement/retention",
            params={"grain": "month", "from": "2025-01-01", "to": "2025-04-30", "periods": 3},
            headers=key,
        )
        assert answer.status_code == 200, answer.text
        first = answer.json()["items"][1]
        assert (first["cohort_start"], first["offset"], first["retained"]) == ("2025-01-01", 1, 1)
        assert first["cohort_size"] == 2 and first["rate"] == pytest.approx(50.0)
        bad = client.get("/api/engagement/stickiness", params={"by": "galaxy"}, headers=key)
        assert bad.status_code == 400
        assert bad.headers["content-type"] == "application/problem+json"
        assert (
            client.get(
                "/api/engagement/retention", params={"unit": "team"}, headers=key
            ).status_code
            == 422
        )
        assert client.get("/api/engagement/retention").status_code == 401
