"""A person counts once: distinct-user totals across accounts (rollups and events alike), the
account a session belongs to, exact session seconds in drill-down, and the definitions users can
match (session duration as PostHog, FCR over solved tickets as Zendesk)."""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tenure
from tenure.errors import QueryError
from tenure.metrics.definitions import Definitions
from tenure.workspace import Workspace
from tests.books import day, value

JAN, FEB = dt.date(2025, 1, 1), dt.date(2025, 2, 1)
PLANS = {"A1": "pro", "A2": "basic", "A3": "pro"}
PEOPLE = ["active_users", "dau", "wau", "mau", "stickiness", "feature_users"]


def _load(ws: Workspace, table: str, rows: list[dict[str, Any]]) -> None:
    report = ws.load(table, pd.DataFrame(rows))
    assert report.rejected == 0, report


def _accounts(ws: Workspace) -> None:
    created = day("2024-01-01T00:00:00")
    rows = [{"account_id": a, "created_at": created, "plan": p} for a, p in PLANS.items()]
    _load(ws, "accounts", rows)


def _event(n: int, at: str, account: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"E{n}",
        "occurred_at": day(at),
        "name": "page_view",
        "user_id": "U1",
        "account_id": account,
        **extra,
    }


def test_one_user_under_two_accounts_counts_once_in_the_total(ws: Workspace) -> None:
    _accounts(ws)
    _load(
        ws,
        "events",
        [
            _event(1, "2025-01-15T09:00:00", "A1", name="feature_used", feature="reports"),
            _event(2, "2025-01-15T15:00:00", "A2", name="feature_used", feature="reports"),
        ],
    )
    names = [*PEOPLE, "feature_adoption_rate", "sessions_per_user", "active_accounts"]
    total = ws.metrics(names, start=JAN, end=JAN)
    assert value(total, "active_users", "2025-01-01") == 1
    assert value(total, "dau", "2025-01-01") == pytest.approx(1 / 31)
    assert value(total, "wau", "2025-01-01") == 0  # not in the last 7 days of January
    assert value(total, "mau", "2025-01-01") == 1
    assert value(total, "stickiness", "2025-01-01") == pytest.approx(1 / 30 * 100)
    assert value(total, "feature_users", "2025-01-01") == 1
    assert value(total, "feature_adoption_rate", "2025-01-01") == 100
    assert value(total, "sessions_per_user", "2025-01-01") == 2  # two sessions, one person
    assert value(total, "active_accounts", "2025-01-01") == 2
    # Each segment counts the user once too: one in pro (A1), one in basic (A2).
    plans = ws.metrics(names, start=JAN, end=JAN, by=["plan"])
    for plan in ("pro", "basic"):
        assert value(plans, "active_users", "2025-01-01", plan=plan) == 1
        assert value(plans, "feature_adoption_rate", "2025-01-01", plan=plan) == 100
    # Drill-down still lists the accounts, each with its user.
    drilled = ws.drill("active_users", "2025-01")
    assert sorted(drilled.account_id) == ["A1", "A2"]
    assert "a user counts once in every total" in total.attrs["definitions"]["active_users"]


def test_a_session_under_two_accounts_belongs_to_its_first_events_account(
    ws: Workspace,
) -> None:
    _accounts(ws)
    _load(
        ws,
        "events",
        [
            _event(1, "2025-01-15T09:05:00", "A1"),  # B-first in id order, second in time
            _event(2, "2025-01-15T09:00:00", "A2"),
            _event(3, "2025-01-15T09:10:00", "A3"),
            _event(4, "2025-01-20T09:00:00", None, session_id="s"),  # no account first
            _event(5, "2025-01-20T09:01:00", "A3", session_id="s"),
        ],
    )
    for definitions in (None, Definitions(session_gap_minutes=31)):  # rollups, then events
        drilled = ws.drill("sessions", "2025-01") if definitions is None else None
        frame = ws.metrics(["sessions"], start=JAN, end=JAN, by=["plan"], definitions=definitions)
        assert value(frame, "sessions", "2025-01-01", plan="basic") == 1  # A2's, not A1's
        assert value(frame, "sessions", "2025-01-01", plan="pro") == 1  # A3's: its first account
        if drilled is not None:
            assert dict(zip(drilled.account_id, drilled.sessions, strict=True)) == {
                "A2": 1,
                "A3": 1,
            }
    assert "first event's account" in frame.attrs["definitions"]["sessions"]


def test_drilled_session_seconds_are_exact_sums_of_the_input(ws: Workspace) -> None:
    durations = [12.3, 0.1, 0.2, 4.7, 1013.9]
    events = [
        _event(n, f"2025-01-{10 + n:02d}T09:00:00", "A1", duration_s=seconds)
        for n, seconds in enumerate(durations)
    ]
    # and one session from 09:00:00.1 to 09:00:12.4 (sub-second timestamps)
    events += [
        _event(20, "2025-01-25T09:00:00.100000", "A2"),
        _event(21, "2025-01-25T09:00:12.400000", "A2", duration_s=0.3),
    ]
    _load(ws, "events", events)
    ws.set_setting("definition.session_duration", "last_event_end")
    drilled = ws.drill("average_session_seconds", "2025-01").set_index("account_id")
    exact = float(sum(Decimal(str(x)) for x in durations))
    assert drilled.loc["A1", "session_seconds"] == exact  # == 1031.2, no float noise
    assert drilled.loc["A2", "session_seconds"] == 12.6
    total = ws.metrics(["average_session_seconds"], start=JAN, end=JAN)
    assert total.iloc[0].numerator == float(Decimal(str(exact)) + Decimal("12.6"))
    ws.set_setting("definition.session_duration", "last_event")
    drilled = ws.drill("average_session_seconds", "2025-01").set_index("account_id")
    assert drilled.loc["A1", "session_seconds"] == 0  # one-event sessions last 0 s
    assert drilled.loc["A2", "session_seconds"] == 12.3


def test_the_session_duration_setting_rebuilds_the_sessions_rollup_and_names_itself(
    ws: Workspace,
) -> None:
    _load(
        ws,
        "events",
        [
            _event(1, "2025-01-10T09:00:00", "A1"),
            _event(2, "2025-01-10T09:10:00", "A1", duration_s=60),
        ],
    )

    def signatures() -> dict[str, str]:
        return dict(ws.duckdb.execute("SELECT name, signature FROM _tenure_rollups").fetchall())

    before = signatures()
    frame = ws.metrics(["average_session_seconds"], start=JAN, end=JAN)
    assert value(frame, "average_session_seconds", "2025-01-01") == 600
    text = frame.attrs["definitions"]["average_session_seconds"]
    assert "last event's timestamp" in text and "session_duration = last_event)" in text
    ws.set_setting("definition.session_duration", "last_event_end")
    after = signatures()
    assert {name for name in before if before[name] != after[name]} == {"sessions"}
    frame = ws.metrics(["average_session_seconds"], start=JAN, end=JAN)
    assert value(frame, "average_session_seconds", "2025-01-01") == 660
    text = frame.attrs["definitions"]["average_session_seconds"]
    assert "last event's end" in text and "session_duration = last_event_end)" in text
    assert ws.drill("average_session_seconds", "2025-01").attrs["definition"] == text
    with pytest.raises(QueryError, match="session_duration cannot be"):
        Definitions(session_duration="first_event")


def _ticket(n: int, status: str, contacts: int = 1) -> dict[str, Any]:
    opened = day("2025-01-10T09:00:00")
    return {
        "ticket_id": f"T{n}",
        "account_id": "A1",
        "channel": "email",
        "opened_at": opened,
        "first_response_at": opened + dt.timedelta(hours=1),
        "resolved_at": opened + dt.timedelta(hours=4) if status == "resolved" else None,
        "status": status,
        "contacts": contacts,
    }


@pytest.mark.parametrize(
    ("denominator", "resolved", "contacts"),
    [
        ("all_first_contacts", 3, 7),  # T1-T5 resolved, T6-T7 open (T8 abandoned: left out)
        ("solved", 3, 5),  # T1-T5 only: Zendesk's one-touch rate
    ],
)
def test_fcr_divides_by_every_first_contact_or_by_the_solved_ones(
    ws: Workspace, denominator: str, resolved: int, contacts: int
) -> None:
    rows = [_ticket(n, "resolved") for n in (1, 2, 3)]  # one touch
    rows += [_ticket(4, "resolved", contacts=2), _ticket(5, "resolved", contacts=3)]
    rows += [_ticket(6, "open"), _ticket(7, "open"), _ticket(8, "abandoned")]
    _load(ws, "tickets", rows)
    definitions = Definitions(fcr_denominator=denominator)
    frame = ws.metrics(["fcr"], start=JAN, end=JAN, definitions=definitions)
    row = frame.iloc[0]
    assert (row.numerator, row.denominator) == (resolved, contacts)
    assert row.value == pytest.approx(100 * resolved / contacts)
    assert f"fcr_denominator = {denominator})" in frame.attrs["definitions"]["fcr"]


# -- property: distinct users of the raw events ----------------------------------------------------
FIRST_DAY = dt.date(2024, 12, 20)
event = st.tuples(
    st.sampled_from(["U1", "U2", "U3"]),
    st.sampled_from(["A1", "A2", "A3", None]),
    st.integers(0, 70),  # days from 20 December to the end of February
    st.integers(0, 23),  # hour
    st.sampled_from(["page_view", "feature_used"]),
)


def _expected(events: pd.DataFrame, month: dt.date) -> dict[str, float]:
    """Distinct-user measures of `events` (user_id, account_id, day, name) in pandas."""
    last = (pd.Timestamp(month) + pd.offsets.MonthEnd(0)).date()
    inside = events[(events.day >= month) & (events.day <= last)]
    days30 = events[(events.day > last - dt.timedelta(days=30)) & (events.day <= last)]
    days7 = events[(events.day > last - dt.timedelta(days=7)) & (events.day <= last)]
    features = inside[inside.name == "feature_used"]
    return {
        "active_users": inside.user_id.nunique(),
        "dau": len(inside[["user_id", "day"]].drop_duplicates()),
        "wau": days7.user_id.nunique(),
        "mau": days30.user_id.nunique(),
        "stickiness": len(days30[["user_id", "day"]].drop_duplicates()) / 30,
        "feature_users": features.user_id.nunique(),
    }


def _numerators(frame: pd.DataFrame, month: dt.date, **segment: Any) -> dict[str, float]:
    rows = frame[frame.period_start == month]
    for column, wanted in segment.items():
        rows = rows[rows[column].isna()] if wanted is None else rows[rows[column] == wanted]
    found = dict(zip(rows.metric, rows.numerator, strict=True))
    return {name: found.get(name, 0) for name in PEOPLE}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batch=st.lists(event, min_size=1, max_size=20))
def test_company_counts_equal_distinct_users_of_the_raw_events(
    batch: list[tuple[Any, ...]],
) -> None:
    rows = [
        {
            "event_id": f"E{n}",
            "occurred_at": dt.datetime.combine(FIRST_DAY + dt.timedelta(days=d), dt.time(h)),
            "name": name,
            "user_id": user,
            "account_id": account,
            "feature": "reports" if name == "feature_used" else None,
        }
        for n, (user, account, d, h, name) in enumerate(batch)
    ]
    raw = pd.DataFrame(rows)
    raw["day"] = raw.occurred_at.dt.date
    raw["plan"] = raw.account_id.map(PLANS)
    with tempfile.TemporaryDirectory() as folder:
        url = f"duckdb:///{Path(folder) / 'people.duckdb'}"
        with tenure.connect(url) as ws:
            _accounts(ws)
            _load(ws, "events", rows)
            from_rollups = [
                ws.metrics(PEOPLE, start=JAN, end=FEB),
                ws.metrics(PEOPLE, start=JAN, end=FEB, by=["plan"]),
            ]
            ws.duckdb.execute("DELETE FROM _tenure_rollups")
        with tenure.connect(url, read_only=True) as reader:  # no rollups: from the events
            from_events = [
                reader.metrics(PEOPLE, start=JAN, end=FEB),
                reader.metrics(PEOPLE, start=JAN, end=FEB, by=["plan"]),
            ]
    for total, plans in (from_rollups, from_events):
        for month in (JAN, FEB):
            counts = _numerators(total, month)
            assert counts == pytest.approx(_expected(raw, month))
            for plan in ("pro", "basic", None):
                mine = _numerators(plans, month, plan=plan)
                members = raw[raw.plan.isna()] if plan is None else raw[raw.plan == plan]
                assert mine == pytest.approx(_expected(members, month))
                assert all(mine[name] <= counts[name] for name in PEOPLE)
    pd.testing.assert_frame_equal(from_rollups[0], from_events[0])
    pd.testing.assert_frame_equal(from_rollups[1], from_events[1])
