"""Engagement, voice-of-the-customer and support metrics on hand-made data: SPEC's worked
examples, sessionisation and funnel edges, and every FCR criterion switched on and off."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from tenure.errors import QueryError
from tenure.metrics.definitions import Definitions
from tenure.workspace import Workspace
from tests.books import day, value

JAN, FEB = dt.date(2025, 1, 1), dt.date(2025, 2, 1)


def _load(ws: Workspace, table: str, rows: list[dict[str, Any]]) -> None:
    report = ws.load(table, pd.DataFrame(rows))
    assert report.rejected == 0, report


def _metrics(
    ws: Workspace, names: list[str], first: dt.date, last: dt.date, **options: Any
) -> pd.DataFrame:
    return ws.metrics(names, start=first, end=last, **options)


def _answers(survey: str, scores: list[float], **extra: Any) -> list[dict[str, Any]]:
    return [
        {
            "response_id": f"{survey}-{extra.get('scale_max', 'd')}-{n}",
            "account_id": "A",
            "survey": survey,
            "score": score,
            "responded_at": day("2025-01-15T10:00:00"),
            **extra,
        }
        for n, score in enumerate(scores)
    ]


def test_nps_of_70_promoters_and_10_detractors_is_60(ws: Workspace) -> None:
    scores = [10] * 40 + [9] * 30 + [8] * 12 + [7] * 8 + [6] * 5 + [0] * 5
    _load(ws, "survey_responses", _answers("nps", scores))
    frame = _metrics(ws, ["nps", "nps_promoters_share", "nps_detractors_share"], JAN, JAN)
    assert value(frame, "nps", "2025-01-01") == pytest.approx(60)
    assert value(frame, "nps_promoters_share", "2025-01-01") == pytest.approx(70)
    row = frame[frame.metric == "nps"].iloc[0]
    assert (row.numerator, row.denominator) == (60, 100)


def test_nps_on_other_scales_uses_the_same_bands(ws: Workspace) -> None:
    rows = _answers("nps", [9, 10, 6], scale_min=1, scale_max=10)  # 1-10: two promoters
    rows += _answers("nps", [5, 3], scale_min=1, scale_max=5)  # 1-5 mapped onto 0-10: 10 and 5
    _load(ws, "survey_responses", rows)
    frame = _metrics(ws, ["nps"], JAN, JAN)
    assert value(frame, "nps", "2025-01-01") == pytest.approx((3 - 2) / 5 * 100)


def test_csat_of_400_satisfied_in_500_is_80_percent(ws: Workspace) -> None:
    scores = [5] * 250 + [4] * 150 + [3] * 60 + [2] * 25 + [1] * 15
    _load(ws, "survey_responses", _answers("csat", scores))
    frame = _metrics(ws, ["csat", "csat_mean"], JAN, JAN)
    assert value(frame, "csat", "2025-01-01") == pytest.approx(80)
    assert value(frame, "csat_mean", "2025-01-01") == pytest.approx(sum(scores) / 500)


def test_csat_threshold_and_ces_are_configurable(ws: Workspace) -> None:
    rows = _answers("csat", [10, 8, 7, 3], scale_min=1, scale_max=10)
    rows += _answers("ces", [7, 5, 4, 2], scale_min=1, scale_max=7)
    _load(ws, "survey_responses", rows)
    default = _metrics(ws, ["csat", "ces", "ces_mean"], JAN, JAN)
    assert value(default, "csat", "2025-01-01") == pytest.approx(25)  # top two boxes: 9-10
    assert value(default, "ces", "2025-01-01") == pytest.approx(50)  # above 4 on 1-7
    assert value(default, "ces_mean", "2025-01-01") == pytest.approx(4.5)
    custom = Definitions(csat_satisfied="0.75", ces_positive="0.5")  # >= 7.75; >= 4
    frame = _metrics(ws, ["csat", "ces"], JAN, JAN, definitions=custom)
    assert value(frame, "csat", "2025-01-01") == pytest.approx(50)
    assert value(frame, "ces", "2025-01-01") == pytest.approx(75)
    with pytest.raises(QueryError, match="csat_satisfied must be 'top2' or a share"):
        Definitions(csat_satisfied="most")


def _event(n: int, at: str, name: str = "page_view", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"E{n:04d}",
        "occurred_at": day(at),
        "name": name,
        "user_id": extra.pop("user", "U1"),
        "account_id": extra.pop("account", "A"),
        **extra,
    }


def test_sessions_break_after_the_gap_and_belong_to_their_start(ws: Workspace) -> None:
    events = [
        _event(1, "2025-01-10T10:00:00", duration_s=60),
        _event(2, "2025-01-10T10:20:00"),
        _event(3, "2025-01-10T10:50:00"),  # exactly 30 minutes after the last: same session
        _event(4, "2025-01-10T11:20:01"),  # 30 min 1 s: a new session
        _event(5, "2025-01-31T23:50:00", duration_s=120),  # spans midnight and the month end
        _event(6, "2025-02-01T00:05:00", duration_s=30),
        _event(7, "2025-01-20T09:00:00", session_id="s-9"),  # a given session id wins
        _event(8, "2025-01-20T15:00:00", session_id="s-9"),
        _event(9, "2025-01-20T09:10:00", user="V9", account=None, name="visit"),
    ]
    _load(ws, "events", list(reversed(events)))  # out of order on purpose
    frame = _metrics(ws, ["sessions", "average_session_seconds", "sessions_per_user"], JAN, FEB)
    assert value(frame, "sessions", "2025-01-01") == 5
    assert value(frame, "sessions", "2025-02-01") == 0
    # PostHog's default: first to last event timestamp
    seconds = 50 * 60 + 0 + 15 * 60 + 6 * 3600 + 0
    assert value(frame, "average_session_seconds", "2025-01-01") == seconds / 5
    ended = _metrics(
        ws,
        ["average_session_seconds"],
        JAN,
        FEB,
        definitions=Definitions(session_duration="last_event_end"),
    )
    seconds = 50 * 60 + 0 + (15 * 60 + 30) + 6 * 3600 + 0  # to the last event's end
    assert value(ended, "average_session_seconds", "2025-01-01") == seconds / 5
    assert value(frame, "sessions_per_user", "2025-01-01") == pytest.approx(5 / 2)
    daily = _metrics(ws, ["sessions"], dt.date(2025, 1, 31), dt.date(2025, 2, 1), grain="day")
    assert value(daily, "sessions", "2025-01-31") == 1
    assert value(daily, "sessions", "2025-02-01") == 0


def test_active_users_dau_mau_and_stickiness(ws: Workspace) -> None:
    events = [
        _event(1, "2025-01-02T09:00:00", user="U1"),
        _event(2, "2025-01-02T18:00:00", user="U1"),  # the same user-day
        _event(3, "2025-01-03T09:00:00", user="U1"),
        _event(4, "2025-01-28T09:00:00", user="U2", account="B"),
        _event(5, "2025-01-30T09:00:00", user="U3", account="B", name="task_completed"),
        _event(6, "2024-12-20T09:00:00", user="U4", account="B"),  # outside the 30 days
    ]
    _load(ws, "events", events)
    names = ["active_users", "dau", "wau", "mau", "stickiness", "active_accounts"]
    frame = _metrics(ws, names, JAN, JAN)
    assert value(frame, "active_users", "2025-01-01") == 3
    assert value(frame, "dau", "2025-01-01") == pytest.approx(4 / 31)
    assert value(frame, "wau", "2025-01-01") == 2  # 25-31 January: U2, U3
    assert value(frame, "mau", "2025-01-01") == 3  # the 30 days ending 31 January: from the 2nd
    # DAU over those 30 days (4 user-days / 30) as a share of MAU
    assert value(frame, "stickiness", "2025-01-01") == pytest.approx(4 / 30 / 3 * 100)
    assert value(frame, "active_accounts", "2025-01-01") == 2
    only_tasks = _metrics(
        ws, ["active_users"], JAN, JAN, definitions=Definitions(active_events="task_completed")
    )
    assert value(only_tasks, "active_users", "2025-01-01") == 1


def test_page_views_features_and_shares_split_by_their_dimension(ws: Workspace) -> None:
    events = [
        _event(1, "2025-01-05T10:00:00", page="/home"),
        _event(2, "2025-01-05T10:01:00", page="/home"),  # same session: one unique view
        _event(3, "2025-01-05T10:02:00", page="/pricing"),
        _event(4, "2025-01-06T10:00:00", page="/home"),  # next day: a new session
        _event(5, "2025-01-05T10:03:00", name="feature_used", feature="reports"),
        _event(6, "2025-01-07T10:03:00", name="feature_used", feature="reports", user="U2"),
        _event(7, "2025-01-07T10:04:00", name="feature_used", feature="api", user="U2"),
        _event(8, "2025-01-08T10:04:00", user="U3"),
        _event(
            9, "2025-01-08T10:05:00", name="share", user="U3", properties='{"channel": "slack"}'
        ),
        _event(10, "2025-01-08T10:06:00", name="share", user="U3", properties='{"channel":"x"}'),
    ]
    _load(ws, "events", events)
    pages = _metrics(ws, ["page_views", "unique_page_views"], JAN, JAN, by=["page"])
    assert value(pages, "page_views", "2025-01-01", page="/home") == 3
    assert value(pages, "unique_page_views", "2025-01-01", page="/home") == 2
    assert value(pages, "unique_page_views", "2025-01-01", page="/pricing") == 1
    features = _metrics(ws, ["feature_adoption_rate", "feature_users"], JAN, JAN, by=["feature"])
    assert value(features, "feature_users", "2025-01-01", feature="reports") == 2
    assert value(features, "feature_adoption_rate", "2025-01-01", feature="api") == pytest.approx(
        100 / 3
    )
    overall = _metrics(ws, ["feature_adoption_rate", "usage_depth"], JAN, JAN)
    assert value(overall, "feature_adoption_rate", "2025-01-01") == pytest.approx(200 / 3)
    # Account A: U1 used reports, U2 reports and api: both of the two features seen.
    assert value(overall, "usage_depth", "2025-01-01") == pytest.approx(100)
    shallow = _metrics(
        ws,
        ["usage_depth"],
        JAN,
        JAN,
        definitions=Definitions(core_features="api,exports,reports,sso"),
    )
    assert value(shallow, "usage_depth", "2025-01-01") == pytest.approx(50)
    shares = _metrics(ws, ["shares"], JAN, JAN, by=["share_channel"])
    assert value(shares, "shares", "2025-01-01", share_channel="slack") == 1
    assert value(shares, "shares", "2025-01-01", share_channel="x") == 1
    with pytest.raises(QueryError, match="page_views can be split by 'page' but nps cannot"):
        ws.metrics(["page_views", "nps"], by=["page"])


def test_a_page_viewed_again_after_midnight_is_one_unique_view(ws: Workspace) -> None:
    _load(
        ws,
        "events",
        [
            _event(1, "2025-01-31T23:55:00", page="/home"),
            _event(2, "2025-02-01T00:05:00", page="/home"),  # same session, next day and month
            _event(3, "2025-02-01T00:06:00", page="/docs"),
        ],
    )
    names = ["page_views", "unique_page_views"]
    # The stored rollups, and the same from the events (a gap other than the settings' 30 min)
    for options in ({}, {"definitions": Definitions(session_gap_minutes=20)}):
        frame = _metrics(ws, names, JAN, FEB, by=["page"], **options)
        assert value(frame, "page_views", "2025-01-01", page="/home") == 1
        assert value(frame, "unique_page_views", "2025-01-01", page="/home") == 1
        assert value(frame, "page_views", "2025-02-01", page="/home") == 1
        assert value(frame, "unique_page_views", "2025-02-01", page="/home") == 0
        assert value(frame, "unique_page_views", "2025-02-01", page="/docs") == 1


def test_conversion_and_funnels_follow_order_window_and_identity(ws: Workspace) -> None:
    def ev(n: int, at: str, name: str, user: str | None, anon: str | None) -> dict[str, Any]:
        return {
            "event_id": f"F{n}",
            "occurred_at": day(at),
            "name": name,
            "user_id": user,
            "anonymous_id": anon,
            "account_id": "A" if user else None,
        }

    events = [
        ev(1, "2025-01-01T10:00:00", "visit", None, "v1"),
        ev(2, "2025-01-02T10:00:00", "signup", "U1", "v1"),  # v1 becomes U1
        ev(3, "2025-01-20T10:00:00", "converted_to_paid", "U1", None),
        ev(4, "2025-01-03T10:00:00", "signup", "U2", "v2"),  # signs up before visiting
        ev(5, "2025-01-04T10:00:00", "visit", None, "v2"),
        ev(6, "2025-01-05T10:00:00", "visit", None, "v3"),
        ev(7, "2025-01-06T10:00:00", "lead_created", None, "v3"),
        ev(8, "2025-02-20T10:00:00", "signup", "U3", "v3"),  # after a 30-day window
        ev(9, "2025-01-07T10:00:00", "visit", None, "v4"),
    ]
    _load(ws, "events", events)
    steps = ["visit", "signup", "converted_to_paid"]
    frame = ws.funnel(steps, window_days=30, start=JAN, end=JAN)
    assert list(frame.people) == [4, 1, 1]
    assert list(frame.from_first) == [100, 25, 25]
    longer = ws.funnel(steps[:2], window_days=60, start=JAN, end=JAN)
    assert list(longer.people) == [4, 2]
    _load(ws, "accounts", [{"account_id": "A", "created_at": day("2024-12-01"), "plan": "pro"}])
    # A filter keeps the people of the accounts it matches (v4 never became anyone's user).
    pro = ws.funnel(steps, window_days=30, start=JAN, end=JAN, where="plan = 'pro'")
    assert list(pro.people) == [3, 1, 1]
    assert list(ws.funnel(steps, start=JAN, end=JAN, where="plan = 'basic'").people) == []
    rates = _metrics(ws, ["conversion_rate", "lead_conversion_rate", "conversions"], JAN, JAN)
    assert value(rates, "conversions", "2025-01-01") == 2
    assert value(rates, "conversion_rate", "2025-01-01") == pytest.approx(50)  # v1, v2 of 4
    assert value(rates, "lead_conversion_rate", "2025-01-01") == 0  # v3 converted in February
    with pytest.raises(QueryError, match="at least two steps"):
        ws.funnel(["visit"])


def _ticket(n: int, channel: str, status: str = "resolved", **extra: Any) -> dict[str, Any]:
    opened = day(extra.pop("opened", "2025-01-10T09:00:00"))
    return {
        "ticket_id": f"T{n}",
        "account_id": extra.pop("account", f"A{n}"),
        "channel": channel,
        "opened_at": opened,
        "first_response_at": opened + dt.timedelta(hours=extra.pop("response_hours", 1)),
        "resolved_at": opened + dt.timedelta(hours=4) if status == "resolved" else None,
        "status": status,
        "contacts": extra.pop("contacts", 1),
        **extra,
    }


@pytest.fixture
def tickets(ws: Workspace) -> Workspace:
    rows = [
        _ticket(1, "phone", confirmed_resolved=True),  # resolved at first contact
        _ticket(2, "chat", contacts=2),  # needed a second contact
        _ticket(3, "email", reopened_at=day("2025-01-13T13:00:00")),  # reopened 3 days later
        _ticket(4, "phone", "abandoned"),  # hung up in the queue
        _ticket(5, "chat", confirmed_resolved=False),  # the customer said it was not solved
        _ticket(6, "phone", account="A6", confirmed_resolved=True),
        _ticket(7, "email", "open", account="A6", opened="2025-01-11T09:00:00", response_hours=30),
    ]
    _load(ws, "tickets", rows)
    return ws


@pytest.mark.parametrize(
    ("definitions", "resolved", "contacts"),
    [
        # T1, T5, T6 of T1, T2, T3, T5, T6, T7 (T3 reopened 3 days after its resolution)
        (Definitions(), 3, 6),
        (Definitions(fcr_reopen_window_days=2), 4, 6),  # T3's reopening now comes too late
        (Definitions(fcr_abandoned="included"), 3, 7),  # T4 counts, unresolved
        (Definitions(fcr_confirmation="required"), 2, 6),  # T5 was not confirmed
        (Definitions(fcr_other_channel="same_issue"), 2, 6),  # A6 came back by e-mail (T7)
        (Definitions(fcr_channels="phone"), 2, 2),  # T1, T6 (T4 abandoned, left out)
    ],
)
def test_each_fcr_criterion_changes_what_counts(
    tickets: Workspace, definitions: Definitions, resolved: int, contacts: int
) -> None:
    frame = _metrics(tickets, ["fcr"], JAN, JAN, definitions=definitions)
    row = frame.iloc[0]
    assert (row.numerator, row.denominator) == (resolved, contacts)


def test_ticket_times_backlog_and_channels(tickets: Workspace) -> None:
    names = [
        "first_response_hours_median",
        "first_response_hours_p90",
        "resolution_hours_median",
        "backlog",
        "tickets",
    ]
    frame = _metrics(tickets, names, JAN, FEB)
    assert value(frame, "first_response_hours_median", "2025-01-01") == pytest.approx(1)
    assert value(frame, "first_response_hours_p90", "2025-01-01") == pytest.approx(1 + 0.4 * 29)
    assert value(frame, "resolution_hours_median", "2025-01-01") == pytest.approx(4)
    assert value(frame, "first_response_hours_median", "2025-02-01") is None  # no tickets
    assert value(frame, "backlog", "2025-01-01") == 1  # T7 is still open
    assert value(frame, "backlog", "2025-02-01") == 1
    split = _metrics(tickets, ["tickets", "fcr"], JAN, JAN, by=["ticket_channel"])
    assert value(split, "tickets", "2025-01-01", ticket_channel="phone") == 3
    assert value(split, "fcr", "2025-01-01", ticket_channel="phone") == pytest.approx(100)


def test_product_performance_from_events(ws: Workspace) -> None:
    events = [
        _event(
            1, "2025-01-03T00:00:00", name="incident", duration_s=3600, user="ops", account=None
        ),
        _event(2, "2025-01-05T10:00:00", name="error"),
        _event(3, "2025-01-05T10:00:01", name="request", duration_s=0.3),
        _event(4, "2025-01-06T10:00:00", name="request", duration_s=0.5, account="B"),
    ]
    _load(ws, "events", events)
    names = ["defects", "availability", "response_time_seconds"]
    frame = _metrics(ws, names, JAN, FEB)
    assert value(frame, "defects", "2025-01-01") == 1
    assert value(frame, "availability", "2025-01-01") == pytest.approx(
        100 * (1 - 3600 / (31 * 86400))
    )
    assert value(frame, "availability", "2025-02-01") == pytest.approx(100)
    assert value(frame, "response_time_seconds", "2025-01-01") == pytest.approx(0.4)
    assert value(frame, "response_time_seconds", "2025-02-01") is None


@pytest.mark.parametrize("zone", ["Etc/GMT+12", "Pacific/Kiritimati"])
def test_events_at_the_edges_of_the_range_count_in_any_timezone(ws: Workspace, zone: str) -> None:
    # Events are read by a bound on their stored UTC time, a day wider than the range: the
    # last local day of January in UTC-12 ends at noon on 1 February UTC, and the first local
    # day in UTC+14 starts at 10:00 on 31 December UTC.
    ws.set_setting("timezone", zone)
    late = "2025-02-01T11:30:00" if zone == "Etc/GMT+12" else "2025-01-31T09:30:00"
    early = "2025-01-01T12:30:00" if zone == "Etc/GMT+12" else "2024-12-31T10:30:00"
    edges = {"early": early, "late": late}
    _load(
        ws,
        "users",
        [{"user_id": u, "account_id": "A", "created_at": day(early)} for u in edges],
    )
    _load(
        ws,
        "events",
        [
            {"event_id": f"edge-{u}", "occurred_at": day(at), "name": "share", "user_id": u}
            for u, at in edges.items()
        ],
    )
    frame = _metrics(ws, ["dau", "shares"], JAN, JAN)
    assert value(frame, "dau", "2025-01-01") * 31 == 2  # each user's one local day in January
    assert value(frame, "shares", "2025-01-01") == 2  # counted from the events themselves
