"""Product events from the real Segment and PostHog client libraries, sent to a running server:
the metrics read back reflect them (DAU, feature adoption per account), a message sent twice
loads once, a bad message is kept in the rejects table with its reason while the good ones of
its batch load, a request without a valid ingest key is refused in each protocol's terms, and
what was accepted is still there after the server restarts."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest
from posthog import Posthog
from segment.analytics.client import Client as SegmentClient
from segment.analytics.request import APIError as SegmentError
from typer.testing import CliRunner

import tenure
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app as cli
from tenure.live import LiveWorkspace
from tenure.workspace import Workspace
from tests.served import serving

DAY = dt.date(2026, 11, 2)
AT = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.UTC)


@dataclass
class Server:
    url: str
    live: LiveWorkspace
    store: Store
    ingest: str  # a key with the ingest role
    viewer: str

    def rows(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with self.live.writer(changes_data=False) as ws:
            return [tuple(r) for r in ws.duckdb.execute(sql, list(params)).fetchall()]

    def metric(self, name: str, **options: object) -> pd.DataFrame:
        with self.live.reader() as ws:
            return ws.metrics([name], grain="day", start=DAY, end=DAY, **options)  # type: ignore[arg-type]


def _accounts(ws: Workspace) -> None:
    ws.load(
        "accounts",
        pd.DataFrame(
            {
                "account_id": ["A1", "A2"],
                "name": ["Acme", "Globex"],
                "created_at": ["2026-01-05"] * 2,
            }
        ),
    )


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("tracking")
    ws = tenure.connect(f"duckdb:///{folder / 'store.duckdb'}")
    _accounts(ws)
    store = Store(f"sqlite:///{folder / 'app.db'}")
    live = LiveWorkspace(ws)
    try:
        with serving(create_app(live, store)) as url:
            yield Server(
                url,
                live,
                store,
                create_key(store, "tracker", "ingest"),
                create_key(store, "reader", "viewer"),
            )
    finally:
        live.close()
        store.dispose()


def segment_client(server: Server, key: str | None = None) -> SegmentClient:
    return SegmentClient(key or server.ingest, host=server.url, sync_mode=True, max_retries=0)


def posthog_client(server: Server, **options: object) -> Posthog:
    return Posthog(server.ingest, host=server.url, sync_mode=True, max_retries=0, **options)  # type: ignore[arg-type]


def value(frame: pd.DataFrame, **where: str) -> float:
    for column, wanted in where.items():
        frame = frame[frame[column] == wanted]
    assert len(frame) == 1, frame
    return float(frame["value"].iloc[0])


def test_events_from_both_clients_become_metrics(server: Server) -> None:
    seg = segment_client(server)
    seg.identify("u1", {"plan_role": "admin", "createdAt": "2026-03-01T00:00:00Z"})
    seg.group("u1", "A1", {"name": "Acme Inc"})  # links u1 to A1
    seg.track("u1", "Report Exported", {"feature": "reports"}, timestamp=AT)
    seg.page(
        "u2", name="Home", properties={"path": "/home"}, timestamp=AT, context={"groupId": "A1"}
    )
    ph = posthog_client(server, gzip=True)
    ph.capture(
        "feature_used",
        distinct_id="u3",
        properties={"feature": "alerts", "$session_id": "s-9"},
        groups={"company": "A2"},
        timestamp=AT,
    )
    ph.capture(
        "$pageview",
        distinct_id="u3",
        properties={"$current_url": "https://x.io/alerts?a=1"},
        timestamp=AT,
    )
    ph.set(distinct_id="u3", properties={"title": "CTO"})
    ph.group_identify("company", "A3", {"name": "Initech", "created_at": "2026-02-01T00:00:00Z"})
    ph.shutdown()

    assert value(server.metric("dau")) == 3
    adoption = server.metric("feature_adoption_rate_accounts", by=["feature"])
    assert value(adoption, feature="reports") == 50  # A1 of the two active accounts
    assert value(adoption, feature="alerts") == 50  # A2
    events = dict(
        server.rows(
            "SELECT name || '/' || user_id, account_id FROM events WHERE occurred_at::DATE = ?", DAY
        )
    )
    # u1's track names no account: it takes the one the group call gave u1; u3's pageview has
    # no $groups: it takes the account u3's earlier event linked u3 to.
    assert events == {
        "Report Exported/u1": "A1",
        "page_view/u2": "A1",
        "feature_used/u3": "A2",
        "page_view/u3": "A2",
    }
    assert server.rows("SELECT page FROM events WHERE user_id = 'u3' AND name = 'page_view'") == [
        ("/alerts",)
    ]
    assert server.rows(
        "SELECT account_id, plan_role, created_at::DATE FROM users WHERE user_id = 'u1'"
    ) == [("A1", "admin", dt.date(2026, 3, 1))]
    assert server.rows("SELECT name FROM accounts WHERE account_id = 'A1'") == [("Acme Inc",)]
    assert server.rows("SELECT account_id, title FROM users WHERE user_id = 'u3'") == [
        ("A2", "CTO")
    ]
    assert server.rows("SELECT name, created_at::DATE FROM accounts WHERE account_id = 'A3'") == [
        ("Initech", dt.date(2026, 2, 1))
    ]


def test_a_group_call_gives_its_account_to_the_users_earlier_events(server: Server) -> None:
    seg = segment_client(server)
    seg.track("u20", "Invited", {"feature": "sharing"}, timestamp=AT, message_id="before-group")
    assert server.rows("SELECT account_id FROM events WHERE event_id = 'before-group'") == [(None,)]
    seg.group("u20", "A2")
    assert server.rows("SELECT account_id FROM events WHERE event_id = 'before-group'") == [("A2",)]


def test_a_message_sent_twice_loads_once(server: Server) -> None:
    seg = segment_client(server)
    for _ in range(2):
        seg.track(
            "u5", "Signed In", timestamp=AT, message_id="msg-twice", context={"groupId": "A2"}
        )
    ph = posthog_client(server)
    uuid = "0190f0a0-0000-7000-8000-000000000001"
    for _ in range(2):
        ph.capture("Signed In", distinct_id="u6", timestamp=AT, uuid=uuid)
    ph.shutdown()
    assert server.rows(
        "SELECT count(*) FROM events WHERE event_id IN (?, ?)", "msg-twice", uuid
    ) == [(2,)]


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


def test_bad_messages_are_kept_with_their_reason_while_the_good_ones_load(server: Server) -> None:
    good = {
        "type": "track",
        "messageId": "good-1",
        "userId": "u7",
        "event": "Saved",
        "timestamp": AT.isoformat(),
    }
    batch = [
        good,
        {"type": "track", "messageId": "bad-name", "userId": "u7", "timestamp": AT.isoformat()},
        {
            "type": "track",
            "messageId": "bad-time",
            "userId": "u7",
            "event": "Saved",
            "timestamp": "yesterday",
        },
        {"type": "track", "messageId": "bad-who", "event": "Saved"},
    ]
    answer = httpx.post(
        f"{server.url}/v1/batch", json={"batch": batch}, headers=_basic(server.ingest)
    )
    assert answer.status_code == 200, answer.text  # as Segment: valid JSON is accepted
    assert answer.json() == {"success": True}
    body = gzip.compress(
        json.dumps(
            {
                "api_key": server.ingest,
                "batch": [
                    {
                        "event": "Saved",
                        "distinct_id": "u8",
                        "uuid": "ph-good",
                        "timestamp": AT.isoformat(),
                    },
                    {"event": "Saved", "uuid": "ph-nobody", "timestamp": AT.isoformat()},
                ],
            }
        ).encode()
    )
    answer = httpx.post(
        f"{server.url}/batch/",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert answer.status_code == 200, answer.text
    loaded = server.rows(
        "SELECT event_id FROM events WHERE event_id IN ('good-1', 'ph-good') ORDER BY 1"
    )
    assert loaded == [("good-1",), ("ph-good",)]
    rejects = dict(
        server.rows(
            "SELECT message_id, protocol || ': ' || reason FROM _tracking_rejects "
            "WHERE message_id IN ('bad-name', 'bad-time', 'bad-who', 'ph-nobody')"
        )
    )
    assert rejects == {
        "bad-name": "segment: a track call needs an event name",
        "bad-time": "segment: timestamp 'yesterday' is not an ISO 8601 time",
        "bad-who": "segment: a message needs a userId or an anonymousId",
        "ph-nobody": "posthog: an event needs a distinct_id",
    }
    payload = server.rows("SELECT payload FROM _tracking_rejects WHERE message_id = 'bad-who'")
    assert json.loads(str(payload[0][0]))["event"] == "Saved"


def test_a_request_none_of_whose_events_loads_is_refused_by_posthog(server: Server) -> None:
    answer = httpx.post(f"{server.url}/i/v0/e/", json={"api_key": server.ingest, "event": "x"})
    assert answer.status_code == 400
    assert "an event needs a distinct_id" in answer.json()["detail"]


def test_size_limits(server: Server) -> None:
    big = {
        "type": "track",
        "messageId": "huge",
        "userId": "u9",
        "event": "Big",
        "properties": {"blob": "x" * 40_000},
    }
    small = {
        "type": "track",
        "messageId": "small",
        "userId": "u9",
        "event": "Small",
        "timestamp": AT.isoformat(),
    }
    answer = httpx.post(
        f"{server.url}/v1/batch", json={"batch": [big, small]}, headers=_basic(server.ingest)
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "message_too_large"
    assert "1 message(s) over 32,768 bytes" in answer.json()["message"]
    assert server.rows("SELECT count(*) FROM events WHERE event_id = 'small'") == [(1,)]
    assert "32,768" in str(
        server.rows("SELECT reason FROM _tracking_rejects WHERE message_id = 'huge'")[0][0]
    )
    whole = {
        "batch": [dict(small, messageId=f"m{i}", properties={"p": "y" * 20_000}) for i in range(30)]
    }
    answer = httpx.post(f"{server.url}/v1/batch", json=whole, headers=_basic(server.ingest))
    assert answer.status_code == 400
    assert answer.json()["code"] == "payload_too_large"
    assert server.rows("SELECT count(*) FROM events WHERE event_id = 'm0'") == [(0,)]


def test_requests_without_an_ingest_key_are_refused(server: Server) -> None:
    with pytest.raises(SegmentError) as refused:
        segment_client(server, key="tk_not-a-key").track("u1", "Nope", timestamp=AT)
    assert refused.value.status == 401
    assert refused.value.code == "invalid_api_key"
    answer = httpx.post(f"{server.url}/v1/track", json={"userId": "u1", "event": "Nope"})
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    answer = httpx.post(
        f"{server.url}/batch", json={"batch": [{"event": "x", "distinct_id": "u1"}]}
    )
    assert (answer.status_code, answer.json()["code"]) == (401, "invalid_api_key")
    answer = httpx.post(
        f"{server.url}/capture", json={"api_key": server.viewer, "event": "x", "distinct_id": "u1"}
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "permission_denied")
    # an ingest key sends events and nothing else
    answer = httpx.get(
        f"{server.url}/api/metrics", headers={"Authorization": f"Bearer {server.ingest}"}
    )
    assert answer.status_code == 403
    assert server.rows("SELECT count(*) FROM events WHERE name = 'Nope' OR name = 'x'") == [(0,)]


def test_accepted_events_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    ws = tenure.connect(f"duckdb:///{path}")
    _accounts(ws)
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    key = create_key(store, "tracker", "ingest")
    live = LiveWorkspace(ws)
    with serving(create_app(live, store)) as url:
        seg = SegmentClient(key, host=url, sync_mode=True, max_retries=0)
        for n in range(5):
            seg.track(
                f"u{n}", "Opened", {"feature": "inbox"}, timestamp=AT, context={"groupId": "A1"}
            )
    live.close()  # the server stopped; its store closes as on shutdown
    again = tenure.connect(f"duckdb:///{path}")
    try:
        count = again.duckdb.execute(
            "SELECT count(*) FROM events WHERE name = 'Opened' AND account_id = 'A1'"
        ).fetchone()
        assert count == (5,)
    finally:
        again.close()
        store.dispose()


def test_an_ingest_key_is_created_from_the_cli(tmp_path: Path) -> None:
    app_db = f"sqlite:///{tmp_path / 'app.db'}"
    result = CliRunner().invoke(
        cli, ["keys", "create", "web", "--role", "ingest", "--app-db", app_db]
    )
    assert result.exit_code == 0, result.output
    store = Store(app_db)
    try:
        from tenure.app.keys import check_key

        record = check_key(store, result.output.strip())
        assert record is not None and record.role == "ingest"
    finally:
        store.dispose()


logging.getLogger("posthog").setLevel(logging.CRITICAL)  # refusals are asserted, not logged


def test_the_readme_segment_example_runs_as_written(server: Server) -> None:
    """The README's Segment snippet, with this server's address and ingest key in place of the
    placeholders: the user joins the account and the event is stored with it."""
    import re

    from tests.readme import README

    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- example: segment-client -->\s*```python\n(.*?)```", text, re.S)
    assert found, "README.md has no python block marked <!-- example: segment-client -->"
    code = found.group(1)
    assert '"tk_..."' in code and '"http://localhost:8000"' in code
    code = code.replace('"tk_..."', repr(server.ingest)).replace(
        '"http://localhost:8000"', repr(server.url)
    )
    exec(compile(code, "README.md", "exec"), {})
    stored = server.rows(
        "SELECT account_id, feature FROM events WHERE user_id = 'u42' AND name = ?",
        "Report Exported",
    )
    assert stored == [("A00042", "reports")]
