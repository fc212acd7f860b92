"""Automations end to end with a real SMTP server (aiosmtpd) and a real HTTP receiver on
127.0.0.1: the seed's two examples deliver exactly once across repeated runs, a receiver that
fails twice still gets exactly one delivery, and failures end as dead letters, never lost."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from aiosmtpd.controller import Controller

from tenure.app import automations
from tenure.app.actions import Outbox, webhook_secret
from tenure.app.store import AccountTag, AutomationRule, Store, Task
from tenure.errors import TenureError
from tenure.workspace import Workspace
from tests.books import day


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture(autouse=True)
def local_receivers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receivers below listen on 127.0.0.1, which only an allow-listed host may reach."""
    monkeypatch.setenv("TENURE_OUTBOUND_ALLOW", "127.0.0.1")


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, Outbox]]:
    box = Mailbox()
    with socket.socket() as probe:  # a free port on the loopback interface
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, Outbox("127.0.0.1", port, "cs@tenure.test", timeout=5)
    finally:
        controller.stop()


class Receiver:
    """An HTTP endpoint that fails its first `failures` requests with 500."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                status = 500 if len(receiver.requests) < receiver.failures else 200
                receiver.requests.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body, status)
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def delivered(self) -> list[bytes]:
        return [body for _, body, status in self.requests if status == 200]


def load_company(ws: Workspace) -> Workspace:
    """Two accounts (A1 on pro, A2 on free), an order each, a ticket open since 1 March (T1)."""
    ws.load(
        "accounts",
        pd.DataFrame(
            [
                {
                    "account_id": "A1",
                    "name": "Sakura Logistics",
                    "created_at": day("2025-01-01"),
                    "email": "ops@sakura.test",
                    "plan": "pro",
                },
                {
                    "account_id": "A2",
                    "name": "Rossi & Figli",
                    "created_at": day("2025-01-01"),
                    "email": "info@rossi.test",
                    "plan": "free",
                },
            ]
        ),
    )
    ws.load(
        "orders",
        pd.DataFrame(
            [
                {
                    "order_id": "O1",
                    "account_id": "A1",
                    "ordered_at": day("2026-03-01T10:00:00"),
                    "amount": 120,
                    "currency": "USD",
                    "kind": "one_time",
                },
                {
                    "order_id": "O2",
                    "account_id": "A2",
                    "ordered_at": day("2026-03-01T12:00:00"),
                    "amount": 40,
                    "currency": "USD",
                    "kind": "one_time",
                },
            ]
        ),
    )
    ws.load(
        "tickets",
        pd.DataFrame(
            [
                {
                    "ticket_id": "T1",
                    "account_id": "A1",
                    "channel": "email",
                    "opened_at": day("2026-03-01T09:00:00"),
                    "status": "open",
                },
                {
                    "ticket_id": "T2",
                    "account_id": "A2",
                    "channel": "chat",
                    "opened_at": day("2026-03-01T09:00:00"),
                    "resolved_at": day("2026-03-01T10:00:00"),
                    "status": "resolved",
                },
            ]
        ),
    )
    return ws


@pytest.fixture
def company(ws: Workspace) -> Workspace:
    return load_company(ws)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def test_feedback_email_a_week_after_a_purchase_is_sent_once(
    company: Workspace, store: Store, mailbox: tuple[Mailbox, Outbox]
) -> None:
    box, outbox = mailbox
    automations.create_rule(
        store,
        "Feedback a week after a purchase",
        {"type": "event_delay", "table": "orders", "name": "one_time", "delay_days": 7},
        [{"where": "plan = 'pro'"}],
        [
            {
                "kind": "email",
                "to": "{{ email }}",
                "subject": "How was order {{ order_id }}?",
                "body": "Hello {{ name }}, you bought {{ amount }} {{ currency }} a week ago.",
            }
        ],
    )
    assert automations.run(store, company, outbox=outbox, at=at("2026-03-05T12:00:00")).fired == []
    preview = automations.run(
        store, company, outbox=outbox, at=at("2026-03-08T12:00:00"), dry_run=True
    )
    assert [f["subject"] for f in preview.fired] == ["O1"] and box.messages == []  # A2 is on free
    for moment in ("2026-03-08T12:00:00", "2026-03-08T13:00:00", "2026-03-09T12:00:00"):
        automations.run(store, company, outbox=outbox, at=at(moment))
    assert len(box.messages) == 1
    message = box.messages[0]
    assert message.rcpt_tos == ["ops@sakura.test"]
    text = message.content.decode()
    assert "Subject: How was order O1?" in text and "Hello Sakura Logistics, you bought 120" in text


def test_reminder_for_a_ticket_unresolved_48_hours_is_posted_once_and_signed(
    company: Workspace, store: Store
) -> None:
    receiver = Receiver()
    rule = automations.create_rule(
        store,
        "Ticket open 48 hours",
        {"type": "state_duration", "hours": 48},
        [],
        [
            {"kind": "webhook", "url": receiver.url},
            {"kind": "task", "title": "Call {{ name }} about {{ ticket_id }}"},
            {"kind": "tag", "tag": "needs-attention"},
        ],
    )
    automations.run(store, company, at=at("2026-03-02T10:00:00"))
    assert receiver.requests == []
    for moment in ("2026-03-03T10:00:00", "2026-03-03T11:00:00", "2026-03-04T10:00:00"):
        automations.run(store, company, at=at(moment))
    assert len(receiver.delivered) == 1
    headers, body, _ = receiver.requests[0]
    payload = json.loads(body)
    assert payload["subject"] == "T1" and payload["variables"]["channel"] == "email"
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(
        hmac.new(webhook_secret(store), signed, hashlib.sha256).digest()
    ).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    with store.session() as session:
        assert [t.title for t in session.query(Task).all()] == ["Call Sakura Logistics about T1"]
        assert [(t.account_id, t.tag) for t in session.query(AccountTag).all()] == [
            ("A1", "needs-attention")
        ]
    history = automations.firings(store, rule)
    assert {h["status"] for h in history} == {"sent"} and len(history) == 3


def test_a_receiver_that_fails_twice_gets_exactly_one_delivery(
    company: Workspace, store: Store
) -> None:
    receiver = Receiver(failures=2)
    automations.create_rule(
        store,
        "chat",
        {"type": "state_duration", "hours": 48},
        [],
        [{"kind": "chat", "url": receiver.url, "text": "{{ ticket_id }} has waited 48 hours"}],
    )
    moment = at("2026-03-04T10:00:00")
    for step in range(6):
        automations.run(
            store, company, at=moment + dt.timedelta(minutes=step * 10), backoff_seconds=60
        )
    assert len(receiver.requests) == 3 and len(receiver.delivered) == 1
    assert json.loads(receiver.delivered[0]) == {"text": "T1 has waited 48 hours"}
    (delivery,) = automations.firings(store)
    assert (delivery["status"], delivery["attempts"]) == ("sent", 3)


def test_failures_end_as_dead_letters_and_can_be_retried(company: Workspace, store: Store) -> None:
    receiver = Receiver(failures=100)
    automations.create_rule(
        store,
        "hook",
        {"type": "state_duration", "hours": 48},
        [],
        [{"kind": "webhook", "url": receiver.url}],
    )
    moment = at("2026-03-04T10:00:00")
    for step in range(8):
        report = automations.run(
            store, company, at=moment + dt.timedelta(hours=step * 24), backoff_seconds=1
        )
    assert len(receiver.requests) == automations.MAX_ATTEMPTS
    (dead,) = automations.firings(store, status="dead")
    assert dead["attempts"] == automations.MAX_ATTEMPTS and dead["last_error"] == "failed: HTTP 5xx"
    assert report.dead == 0  # reported once, when it died
    receiver.failures = 0
    automations.retry_dead(store, dead["delivery_id"], at=moment + dt.timedelta(days=9))
    automations.run(store, company, at=moment + dt.timedelta(days=9))
    assert len(receiver.delivered) == 1
    with pytest.raises(TenureError, match="not a dead letter"):
        automations.retry_dead(store, dead["delivery_id"])


def test_schedules_survey_answers_and_rule_validation(
    company: Workspace, store: Store, mailbox: tuple[Mailbox, Outbox]
) -> None:
    box, outbox = mailbox
    automations.create_rule(
        store,
        "weekly",
        {"type": "schedule", "cron": "0 9 * * 1"},
        [],
        [
            {
                "kind": "email",
                "to": "cs@tenure.test",
                "subject": "Weekly review",
                "body": "It is {{ today }}",
            }
        ],
    )
    company.load(
        "survey_responses",
        pd.DataFrame(
            [
                {
                    "response_id": "R1",
                    "account_id": "A2",
                    "survey": "nps",
                    "score": 3,
                    "comment": "<b>slow</b>",
                    "responded_at": day("2026-11-22T10:00:00"),
                },
                {
                    "response_id": "R2",
                    "account_id": "A1",
                    "survey": "nps",
                    "score": 10,
                    "responded_at": day("2026-11-22T11:00:00"),
                },
            ]
        ),
    )
    automations.create_rule(
        store,
        "detractor",
        {"type": "survey_response", "survey": "nps", "max_score": 6},
        [],
        [
            {
                "kind": "email",
                "to": "{{ email }}",
                "subject": "Sorry",
                "body": "You said: {{ comment }}",
            }
        ],
    )
    for moment in ("2026-11-23T08:30:00", "2026-11-23T09:30:00", "2026-11-23T10:30:00"):  # a Monday
        automations.run(store, company, outbox=outbox, at=at(moment))
    subjects = sorted(
        m.content.decode().split("Subject: ")[1].split("\n")[0].strip() for m in box.messages
    )
    assert subjects == ["Sorry", "Weekly review"]
    bad_triggers: list[tuple[dict[str, Any], str]] = [
        ({"type": "tomorrow"}, "trigger: Input tag 'tomorrow' .* does not match"),
        ({"hours": 4}, "trigger.type: Field required"),
        ({"type": "schedule", "cron": "every day"}, "trigger.cron: .*expected 5 fields"),
        (
            {"type": "metric", "metric": "vibes", "op": "above", "value": 1},
            "trigger.metric: unknown metric",
        ),
        ({"type": "metric", "metric": "mrr", "op": "over", "value": 1}, "trigger.op: Input"),
        ({"type": "state_duration"}, "trigger.hours: Field required"),
        ({"type": "state_duration", "hours": "abc"}, "trigger.hours: Input should be a valid num"),
        ({"type": "state_duration", "hours": 0}, "trigger.hours: Input should be greater than 0"),
        ({"type": "state_duration", "hour": 4}, "trigger.hours: Field required \\(and 1 more"),
        ({"type": "event_delay", "table": "users", "delay_days": 1}, "trigger.table: Input"),
        ({"type": "health_band", "band": "blue"}, "trigger.band: Input should be 'red'"),
    ]
    for trigger, message in bad_triggers:
        with pytest.raises(TenureError, match=message):
            automations.create_rule(store, "bad", trigger, [], [{"kind": "task", "title": "x"}])
    hours = {"type": "state_duration", "hours": 1}
    bad_parts: list[tuple[list[dict[str, Any]], list[dict[str, Any]], str]] = [
        ([], [{"kind": "email", "subject": "x", "body": "y"}], "actions.0.to: Field required"),
        ([], [{"kind": "fax"}], "actions.0: Input tag 'fax'"),
        ([], [], "actions: List should have at least 1 item"),
        (
            [],
            [
                {"kind": "task", "title": "x"},
                {"kind": "email", "to": "a", "subject": "b", "body": "{% if %}"},
            ],
            "actions.1.body: template cannot be read",
        ),
        (
            [],
            [{"kind": "chat", "url": "http://x", "text": "y", "body": "z"}],
            "actions.0.body: Extra",
        ),
        ([], [{"kind": "task", "title": "x", "due_in_days": "soon"}], "actions.0.due_in_days"),
        (
            [{"variable": "score", "op": "~", "value": 3}],
            [{"kind": "tag", "tag": "t"}],
            "conditions.0.op",
        ),
        (
            [{"where": "nosuch = 1"}],
            [{"kind": "tag", "tag": "t"}],
            "conditions.0.where: unknown column 'nosuch'",
        ),
        (
            [{"where": "plan = 'pro' AND"}],
            [{"kind": "tag", "tag": "t"}],
            "conditions.0.where: cannot read",
        ),
    ]
    for conditions, rule_actions, message in bad_parts:
        with pytest.raises(TenureError, match=message):
            automations.create_rule(store, "bad", hours, conditions, rule_actions, tables=company)
    # Without the workspace the filter is only checked when the rule runs.
    automations.create_rule(
        store, "later", hours, [{"where": "nosuch = 1"}], [{"kind": "tag", "tag": "t"}]
    )
    # Stored as given, with values of their declared types.
    number = automations.create_rule(
        store,
        "typed",
        {"type": "state_duration", "hours": "48"},
        [{"where": "plan = 'pro'"}],
        [{"kind": "tag", "tag": "t"}],
        tables=company,
    )
    with store.session() as session:
        saved = session.get(AutomationRule, number)
        assert saved is not None and saved.trigger == {"type": "state_duration", "hours": 48.0}
        assert saved.conditions == [{"where": "plan = 'pro'"}]
    with pytest.raises(TenureError, match=r"trigger\.hours: Input should be a valid number"):
        automations.update_rule(store, number, trigger={"type": "state_duration", "hours": "abc"})
    with pytest.raises(TenureError, match=r"conditions\.0\.where: unknown column 'seats'"):
        automations.update_rule(store, number, conditions=[{"where": "seats > 3"}], tables=company)
    shown = automations.update_rule(
        store,
        number,
        name="renamed",
        trigger={"type": "state_duration", "hours": 24},
        enabled=False,
    )
    assert (shown["name"], shown["trigger"]["hours"], shown["enabled"]) == ("renamed", 24.0, False)
    with pytest.raises(TenureError, match="no rule 999"):
        automations.update_rule(store, 999, enabled=True)


def test_automation_routes_and_commands(company: Workspace, store: Store, tmp_path: Path) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from typer.testing import CliRunner

    from tenure.api.app import create_app
    from tenure.app.keys import create_key
    from tenure.cli import app

    client = TestClient(create_app(company, store))
    editor = {"Authorization": f"Bearer {create_key(store, 'e', 'editor')}"}
    admin = {"Authorization": f"Bearer {create_key(store, 'a', 'admin')}"}
    rule = {
        "name": "open tickets",
        "trigger": {"type": "state_duration", "hours": 48},
        "actions": [{"kind": "task", "title": "{{ ticket_id }}"}],
    }
    made = client.post("/api/automations", headers=editor, json=rule)
    assert made.status_code == 201, made.text
    number = made.json()["id"]
    bad = client.post(
        "/api/automations", headers=editor, json={**rule, "trigger": {"type": "never"}}
    )
    assert bad.status_code == 400 and "trigger: Input tag 'never'" in bad.json()["detail"]
    worse = client.post(
        "/api/automations",
        headers=editor,
        json={**rule, "trigger": {"type": "state_duration", "hours": "abc"}},
    )
    assert worse.status_code == 400
    assert worse.json()["detail"].startswith("trigger.hours: Input should be a valid number")
    unknown = client.post(
        "/api/automations",
        headers=editor,
        json={**rule, "conditions": [{"where": "no_such_column = 'x'"}]},
    )
    assert unknown.status_code == 400 and "no_such_column" in unknown.json()["detail"]
    preview = client.post(f"/api/automations/{number}/dry-run", headers=editor)
    assert [f["subject"] for f in preview.json()["fired"]] == ["T1"]
    assert preview.json()["failed"] == []
    retimed = client.patch(
        f"/api/automations/{number}",
        headers=editor,
        json={"trigger": {"type": "state_duration", "hours": "soon"}},
    )
    assert retimed.status_code == 400 and retimed.json()["detail"].startswith("trigger.hours")
    # A rule stored broken (bypassing the checks) is reported by the run; the others still fire.
    with store.session() as session:
        broken_rule = AutomationRule(
            name="broken",
            trigger={"type": "state_duration", "hours": 48},
            conditions=[{"where": "no_such_column = 'x'"}],
            actions=[{"kind": "task", "title": "never"}],
            enabled=True,
        )
        session.add(broken_rule)
        session.flush()
        broken_id = broken_rule.id
    assert client.get(f"/api/automations/{number}/firings", headers=editor).json() == []
    assert client.post("/api/automations/run", headers=editor).status_code == 403
    ran = client.post("/api/automations/run", headers=admin).json()
    assert ran["sent"] == 1 and [f["subject"] for f in ran["fired"]] == ["T1"]
    assert [f["rule_id"] for f in ran["failed"]] == [broken_id]
    shown = client.get("/api/automations", headers=editor).json()
    assert [r["failures"] for r in shown if r["id"] == broken_id] == [1]
    assert client.post("/api/automations/run", headers=admin).json()["fired"] == []
    assert client.get("/api/dead-letters", headers=editor).json() == []
    off = client.patch(f"/api/automations/{number}", headers=editor, json={"enabled": False})
    assert off.json()["enabled"] is False
    assert client.delete(f"/api/automations/{number}", headers=editor).status_code == 204

    path = tmp_path / "rule.yaml"
    path.write_text(
        "name: Detractors\ntrigger: {type: survey_response, survey: nps, max_score: 6}\nactions:\n  - {kind: tag, tag: detractor}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    app_db = str(store.url)
    added = runner.invoke(app, ["automations", "add", str(path), "--app-db", app_db])
    assert added.exit_code == 0 and "created" in added.output
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "name: x\ntrigger: {type: state_duration}\nactions: [{kind: task, title: y}]\n",
        encoding="utf-8",
    )
    refused = runner.invoke(app, ["automations", "add", str(broken), "--app-db", app_db])
    assert refused.exit_code == 2 and "trigger.hours: Field required" in refused.output


def test_the_server_runs_the_automations_on_a_schedule(company: Workspace, store: Store) -> None:
    import time
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from tenure.api.app import create_app

    automations.create_rule(
        store,
        "open",
        {"type": "state_duration", "hours": 48},
        [],
        [{"kind": "tag", "tag": "waiting"}],
    )
    with TestClient(create_app(company, store, schedule_seconds=0.2)):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with store.session() as session:
                if session.query(AccountTag).count():
                    break
            time.sleep(0.1)
    with store.session() as session:
        assert [(t.account_id, t.tag) for t in session.query(AccountTag).all()] == [
            ("A1", "waiting")
        ]


def test_a_rule_that_breaks_at_run_time_does_not_stop_the_others(
    company: Workspace, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with store.session() as session:  # stored directly, as an older version may have let them in
        broken = AutomationRule(
            name="broken filter",
            trigger={"type": "state_duration", "hours": 48},
            conditions=[{"where": "nosuch = 1"}],
            actions=[{"kind": "tag", "tag": "never"}],
        )
        uncomputable = AutomationRule(
            name="no such metric",
            trigger={"type": "metric", "metric": "vibes", "op": "above", "value": 1},
            conditions=[],
            actions=[{"kind": "tag", "tag": "never"}],
        )
        session.add_all([broken, uncomputable])
        session.flush()
        broken_id, uncomputable_id = broken.id, uncomputable.id
    healthy = automations.create_rule(
        store,
        "healthy",
        {"type": "state_duration", "hours": 48},
        [{"where": "plan = 'pro'"}],
        [{"kind": "tag", "tag": "waiting"}],
        tables=company,
    )
    moment = at("2026-03-04T10:00:00")
    preview = automations.run(store, company, at=moment, dry_run=True)
    assert [f["rule_id"] for f in preview.fired] == [healthy]
    assert [f["rule_id"] for f in preview.failed] == [broken_id, uncomputable_id]
    with caplog.at_level("ERROR", logger="tenure.app.automations"):
        report = automations.run(store, company, at=moment)
    assert [(f["rule_id"], f["subject"]) for f in report.fired] == [(healthy, "T1")]
    assert report.sent == 1
    failed = {f["rule_id"]: f["error"] for f in report.failed}
    assert set(failed) == {broken_id, uncomputable_id}
    assert "unknown column 'nosuch'" in failed[broken_id] and "vibes" in failed[uncomputable_id]
    assert any("broken filter" in r.getMessage() for r in caplog.records)
    with store.session() as session:
        assert [(t.account_id, t.tag) for t in session.query(AccountTag).all()] == [
            ("A1", "waiting")
        ]
    automations.run(store, company, at=moment + dt.timedelta(hours=1))
    with store.session() as session:
        rules = {r.id: r for r in session.query(AutomationRule).all()}
        assert rules[broken_id].failures == 2 and rules[uncomputable_id].failures == 2
        assert "nosuch" in (rules[broken_id].last_error or "")
        assert rules[broken_id].last_error_at is not None and rules[broken_id].last_run_at is None
        assert (rules[healthy].failures, rules[healthy].last_error) == (0, None)
    # Fixed, the rule runs and its count of failures in a row starts again.
    with store.session() as session:
        fixed = session.get(AutomationRule, broken_id)
        assert fixed is not None
        fixed.conditions = [{"where": "plan = 'free'"}]
    assert automations.run(store, company, at=moment + dt.timedelta(hours=2)).failed[0][
        "rule_id"
    ] == (uncomputable_id)
    with store.session() as session:
        again = session.get(AutomationRule, broken_id)
        assert again is not None and again.failures == 0 and again.last_run_at is not None


def test_an_expired_lease_on_its_last_attempt_ends_as_a_dead_letter(
    company: Workspace, store: Store
) -> None:
    from tenure.app.store import Delivery, Firing, now

    receiver = Receiver()
    rule = automations.create_rule(
        store,
        "hook",
        {"type": "state_duration", "hours": 48},
        [],
        [{"kind": "webhook", "url": receiver.url}],
    )
    moment = at("2026-03-04T10:00:00")
    # T1 fired, and the sender died holding its fifth attempt: the lease ran out a second ago.
    with store.session() as session:
        firing = Firing(rule_id=rule, subject="T1", window="once", fired_at=moment, variables={})
        session.add(firing)
        session.flush()
        session.add(
            Delivery(
                firing_id=firing.id,
                action_index=0,
                kind="webhook",
                status="sending",
                attempts=automations.MAX_ATTEMPTS,
                next_attempt_at=moment,
                lease_until=now() - dt.timedelta(seconds=1),
            )
        )
    report = automations.run(store, company, at=moment)
    assert (report.reclaimed, report.dead, report.fired) == (1, 1, [])
    (dead,) = automations.firings(store, status="dead")
    assert "lease expired" in dead["last_error"] and receiver.requests == []
    assert automations.firings(store, status="sending") == []


class HangingReceiver:
    """A webhook endpoint that hangs on its first request until the sender goes away, and records
    the `webhook-id` of every request it received and of every one it answered completely."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.completed: list[str] = []
        self.abandoned: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                message_id = self.headers["webhook-id"]
                receiver.received.append(message_id)
                if len(receiver.received) == 1:
                    if self._wait_for_the_sender_to_go(timeout=60):
                        receiver.abandoned.append(message_id)
                    return  # never answered
                self.send_response(200)
                self.end_headers()
                self.wfile.flush()
                receiver.completed.append(message_id)

            def _wait_for_the_sender_to_go(self, timeout: float) -> bool:
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    readable, _, _ = select.select([self.connection], [], [], 0.1)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return True  # end of stream: the peer closed (or was killed)
                return False

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


SENDER = """
import tenure
from tenure.app import automations
from tenure.app.actions import Outbox
from tenure.app.store import Store

with tenure.connect({workspace!r}, read_only=True) as ws:
    automations.run(Store(), ws, outbox=Outbox(timeout=120))
"""


def eventually(check: Any, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} seconds: {check}")


def test_a_delivery_whose_sender_is_killed_mid_send_is_sent_once_after_its_lease(
    store: Store, tmp_path: Path
) -> None:
    import tenure
    from tenure.app.store import Delivery

    path = tmp_path / "company.duckdb"
    with tenure.connect(f"duckdb:///{path}") as workspace:
        load_company(workspace)
    receiver = HangingReceiver()
    automations.create_rule(
        store,
        "hook",
        {"type": "state_duration", "hours": 48},
        [],
        [{"kind": "webhook", "url": receiver.url}],
    )
    source = str(Path(tenure.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [source, os.environ.get("PYTHONPATH")])),
        "TENURE_APP_DB": store.url,
        "TENURE_DELIVERY_LEASE_SECONDS": "1",
    }
    sender = subprocess.Popen(
        [sys.executable, "-c", SENDER.format(workspace=f"duckdb:///{path}")], env=env
    )
    try:
        eventually(lambda: receiver.received or sender.poll() is not None)
        assert sender.poll() is None, "the sender finished instead of hanging"
        with store.session() as session:
            (held,) = session.query(Delivery).all()
            assert (held.status, held.attempts) == ("sending", 1) and held.lease_until is not None
    finally:
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
    eventually(lambda: receiver.abandoned)
    assert receiver.completed == []

    with tenure.connect(f"duckdb:///{path}", read_only=True) as workspace:

        def settled() -> bool:
            automations.run(store, workspace, lease=30)
            return automations.firings(store, status="sending") == []

        eventually(settled, seconds=15)  # once the 1-second lease has run out
    (delivery,) = automations.firings(store)
    assert (delivery["status"], delivery["attempts"]) == ("sent", 2)
    assert receiver.received == [f"msg_{delivery['delivery_id']}"] * 2
    assert receiver.completed == [f"msg_{delivery['delivery_id']}"]
    receiver.server.shutdown()


def test_rules_stored_before_the_failure_columns_load_and_run(
    company: Workspace, store: Store
) -> None:
    from importlib import resources

    from alembic import command
    from alembic.config import Config
    from sqlalchemy import text

    from tenure.app.store import migrate

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("tenure.app").joinpath("migrations"))
    )
    with store.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO automation_rules (name, enabled, trigger, conditions, actions,"
                " created_at) VALUES (:name, :enabled, :trigger, :conditions, :actions, :at)"
            ),
            {
                "name": "old",
                "enabled": True,
                "trigger": json.dumps({"type": "state_duration", "hours": 48}),
                "conditions": "[]",
                "actions": json.dumps([{"kind": "tag", "tag": "old"}]),
                "at": dt.datetime(2026, 1, 1),
            },
        )
    migrate(store.engine)
    report = automations.run(store, company, at=at("2026-03-04T10:00:00"))
    assert [f["subject"] for f in report.fired] == ["T1"] and report.failed == []
    with store.session() as session:
        (rule,) = session.query(AutomationRule).all()
        assert (rule.failures, rule.last_error) == (0, None)
