"""Event rollups (active user-days, sessions, page views and features used per day): built when
events load or a setting they depend on changes, read by engagement metrics only while they match the events and
the definitions, and giving the same numbers as computing from the events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tenure
from tenure import demo
from tenure.metrics.usage_catalog import USAGE_METRICS
from tenure.workspace import Workspace
from tests.books import day, value
from tests.conftest import AS_OF

ENGAGEMENT = [m.name for m in USAGE_METRICS if m.area == "engagement"]
FIRST, LAST = dt.date(2026, 1, 1), dt.date(2026, 10, 1)
ROLLUPS = {"user_days", "sessions", "page_days", "feature_days"}


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A small demo company in a DuckDB file."""
    location = f"duckdb:///{tmp_path / 'company.duckdb'}"
    with tenure.connect(location) as ws:
        demo.build(ws, tmp_path / "demo", accounts=150, events=20_000, seed=5, as_of=AS_OF)
    return location


def _signatures(ws: Workspace) -> dict[str, str]:
    """The event rollups' signatures (the revenue ledger keeps its own row beside them)."""
    rows = ws.duckdb.execute("SELECT name, signature FROM _tenure_rollups").fetchall()
    return {name: signature for name, signature in rows if name in ROLLUPS}


def _engagement(ws: Workspace, **options: object) -> pd.DataFrame:
    return ws.metrics(ENGAGEMENT, start=FIRST, end=LAST, **options)  # type: ignore[arg-type]


def _sessions_in(ws: Workspace, month: dt.date) -> float:
    frame = ws.metrics(["sessions", "page_views"], start=month, end=month)
    return float(value(frame, "sessions", month.isoformat()))


def _total(frame: pd.DataFrame, name: str) -> float:
    return float(frame.loc[frame["metric"] == name, "value"].sum())


def test_loading_events_builds_rollups_that_match_computing_from_events(url: str) -> None:
    segmented = {"by": ["plan"], "where": "country IN ('JP', 'IT', 'US')"}
    with tenure.connect(url) as ws:
        assert set(_signatures(ws)) == ROLLUPS
        assert ws.refresh_rollups() == []  # nothing changed since the load
        from_rollups = _engagement(ws, **segmented)  # type: ignore[arg-type]
        pages = ws.metrics(["page_views", "unique_page_views"], start=FIRST, end=LAST, by=["page"])
        ws.duckdb.execute("DELETE FROM _tenure_rollups")
    # A read-only workspace whose rollups are missing cannot build them: it computes from events.
    with tenure.connect(url, read_only=True) as reader:
        assert reader.refresh_rollups() == []
        from_events = _engagement(reader, **segmented)  # type: ignore[arg-type]
        pages_from_events = reader.metrics(
            ["page_views", "unique_page_views"], start=FIRST, end=LAST, by=["page"]
        )
        assert not reader.duckdb.execute("SELECT * FROM _tenure_rollups").fetchall()
    assert from_rollups["value"].notna().sum() > 100
    pd.testing.assert_frame_equal(from_rollups, from_events)
    pd.testing.assert_frame_equal(pages, pages_from_events)


def test_rollups_follow_loads_and_direct_changes_to_events(url: str) -> None:
    month = dt.date(2026, 3, 1)
    new_event = {
        "event_id": "late-1",
        "occurred_at": day("2026-03-14T03:00:00"),
        "name": "page_view",
        "user_id": "someone-new",
        "account_id": "A000001",
        "page": "/new",
    }
    with tenure.connect(url) as ws:
        before = _sessions_in(ws, month)
        ws.load("events", pd.DataFrame([new_event]))
        assert _sessions_in(ws, month) == before + 1
        assert ws.refresh_rollups() == []  # the load rebuilt them
        ws.load("events", pd.DataFrame([new_event]))  # the same row again changes nothing
        assert _sessions_in(ws, month) == before + 1
        # Rows written around the loader make the rollups stale: the next query rebuilds them.
        ws.duckdb.execute(
            "INSERT INTO events (event_id, occurred_at, name, user_id, account_id) "
            "VALUES ('late-2', TIMESTAMP '2026-03-20 08:00:00', 'page_view', 'other', 'A000001')"
        )
        assert _sessions_in(ws, month) == before + 2
        assert ws.refresh_rollups() == ["user_days", "feature_days"]  # the query read the others
        ws.duckdb.execute(
            "INSERT INTO events (event_id, occurred_at, name, user_id, account_id) "
            "VALUES ('late-3', TIMESTAMP '2026-03-21 08:00:00', 'page_view', 'third', 'A000001')"
        )
    with tenure.connect(url, read_only=True) as reader:  # stale and read-only: from events
        assert _sessions_in(reader, month) == before + 3
    with tenure.connect(url) as ws:  # a load over stale rollups rebuilds them whole
        ws.load("events", pd.DataFrame([{**new_event, "event_id": "late-4", "user_id": "fourth"}]))
        assert ws.refresh_rollups() == []
        assert _sessions_in(ws, month) == before + 4


def test_a_changed_setting_rebuilds_the_rollups_that_depend_on_it(url: str) -> None:
    with tenure.connect(url) as ws:
        five_minutes = dataclasses.replace(ws.definitions, session_gap_minutes=5)
        computed = _engagement(ws, definitions=five_minutes)  # differs from the settings
        stored = _signatures(ws)
        ws.set_setting("definition.session_gap_minutes", "5")
        rebuilt = _signatures(ws)
        assert {n for n in ROLLUPS if stored[n] != rebuilt[n]} == {"sessions", "page_days"}
        pd.testing.assert_frame_equal(_engagement(ws), computed)
        thirty = dataclasses.replace(five_minutes, session_gap_minutes=30)
        assert _total(_engagement(ws), "sessions") > _total(
            _engagement(ws, definitions=thirty), "sessions"
        )
        ws.set_setting("timezone", "Asia/Tokyo")
        assert all(_signatures(ws)[n] != rebuilt[n] for n in ROLLUPS)
        tokyo = _engagement(ws)
    with tenure.connect(url) as ws:
        ws.duckdb.execute("DELETE FROM _tenure_rollups")
    with tenure.connect(url, read_only=True) as reader:
        pd.testing.assert_frame_equal(_engagement(reader), tokyo)


def _stored_rows(ws: Workspace) -> dict[str, pd.DataFrame]:
    found = {}
    for name in sorted(ROLLUPS):
        frame = ws.duckdb.execute(f"SELECT * FROM _tenure_rollup_{name}").fetch_df()
        found[name] = frame.sort_values(list(frame.columns)).reset_index(drop=True)
    return found


def test_a_small_load_updates_the_rollups_by_partition_exactly(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenure.metrics import rollups

    partial: list[str] = []
    rebuild = rollups._rebuild

    def watched(tables: object, chosen: tuple[rollups.Rollup, ...], touched: object = None) -> None:
        if touched is not None:
            partial.extend(r.name for r in chosen)
        rebuild(tables, chosen, touched)  # type: ignore[arg-type]

    monkeypatch.setattr(rollups, "_rebuild", watched)
    with tenure.connect(url) as ws:
        events = ws.table("events")
        sample = events.order_by("event_id").limit(40).to_pandas()
        moved = sample.iloc[:20].copy()  # updates: to another user, day, name and page
        moved["user_id"] = ["U-moved"] * 10 + [None] * 10
        moved["anonymous_id"] = [None] * 10 + ["anon-moved"] * 10
        moved["occurred_at"] = moved["occurred_at"] + pd.Timedelta(days=3, minutes=7)
        moved["name"] = ["page_view", "feature_used"] * 10
        moved["page"] = "/moved"
        moved["feature"] = "moved-feature"
        new = sample.iloc[20:].copy()  # inserts: existing users, their days, a session id
        new["event_id"] = "new-" + new["event_id"]
        new["occurred_at"] = new["occurred_at"] + pd.Timedelta(minutes=5)
        new["session_id"] = "given-session"
        report = ws.load("events", pd.concat([moved, new]))
        assert (report.updated, report.inserted) == (20, 20)
        assert sorted(partial) == sorted(ROLLUPS)  # each rollup took the partial path
        updated = _stored_rows(ws)
        incremental = _engagement(ws, by=["plan"])
        ws.duckdb.execute("DELETE FROM _tenure_rollups")
        assert sorted(ws.refresh_rollups()) == sorted(ROLLUPS)
        rebuilt = _stored_rows(ws)
        for name in ROLLUPS:
            pd.testing.assert_frame_equal(updated[name], rebuilt[name], obj=name)
        pd.testing.assert_frame_equal(incremental, _engagement(ws, by=["plan"]))


event = st.tuples(
    st.integers(0, 24),  # event id: later batches update earlier events
    st.integers(0, 3 * 24 * 60),  # minutes into three days
    st.sampled_from(["page_view", "page_view", "feature_used", "share"]),
    st.sampled_from(["U1", "U2", None]),
    st.sampled_from(["v1", "v2"]),
    st.sampled_from([None, None, "s1"]),
    st.sampled_from(["/a", "/b"]),
    st.integers(0, 900),
)


def _events_frame(batch: list[tuple[Any, ...]]) -> pd.DataFrame:
    rows = {}
    for n, minutes, name, user, anonymous, session, page, seconds in batch:
        rows[n] = {  # one row per id within a batch
            "event_id": f"E{n}",
            "occurred_at": dt.datetime(2026, 3, 30, 22) + dt.timedelta(minutes=minutes),
            "name": name,
            "user_id": user,
            "anonymous_id": None if user else anonymous,
            "account_id": "A" if user else None,
            "session_id": session,
            "page": page if name == "page_view" else None,
            "feature": "f1" if name == "feature_used" else None,
            "duration_s": float(seconds),
        }
    return pd.DataFrame(list(rows.values()))


def _view(n: int, minutes: int, session: str | None = None, page: str = "/a") -> tuple[Any, ...]:
    return (n, minutes, "page_view", "U1", "v1", session, page, 0)


# Besides the random cases, three a load that resumes a visitor's sessions from a day must get
# right (minute 120 is midnight): a new event just after midnight extends the session in progress
# before it; a session id the load touches began the day before; a session that spans midnight
# precedes the day the load's rows begin.
@example(first=[_view(0, 110)], later=[[_view(1, 125)]])
@example(first=[_view(0, 110, "s1")], later=[[_view(1, 125, "s1")]])
@example(first=[_view(0, 110, "s1"), _view(1, 130, "s1")], later=[[_view(2, 400, page="/b")]])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    first=st.lists(event, min_size=1, max_size=15),
    later=st.lists(st.lists(event, min_size=1, max_size=6), min_size=1, max_size=3),
)
def test_rollups_updated_by_partition_equal_a_rebuild(
    first: list[tuple[Any, ...]], later: list[list[tuple[Any, ...]]]
) -> None:
    from tenure.metrics import rollups

    whole_above = rollups.WHOLE_ABOVE
    rollups.WHOLE_ABOVE = 1e9  # every later load takes the partition path
    try:
        with tenure.connect("duckdb://") as ws:
            for batch in [first, *later]:
                ws.load("events", _events_frame(batch))
            updated = _stored_rows(ws)
            ws.duckdb.execute("DELETE FROM _tenure_rollups")
            ws.refresh_rollups()
            rebuilt = _stored_rows(ws)
    finally:
        rollups.WHOLE_ABOVE = whole_above
    for name in ROLLUPS:
        pd.testing.assert_frame_equal(updated[name], rebuilt[name], obj=name)
