"""The demo company's support desk as Zendesk's REST API returns it: organizations, tickets
(incremental export objects), ticket metrics and satisfaction ratings.

Conventions (the Zendesk connector reads them back the same way):
- an account is an organization whose `external_id` is the account id;
- phone tickets come `via` the `voice` channel; abandoned calls are closed tickets tagged
  `abandoned`; reopened tickets have `reopens` = 1 and `solved_at` = their first resolution;
- `replies` = the customer contacts until resolution (one agent reply per contact);
- reply time is whole minutes, as Zendesk reports it (`reply_time_in_minutes.calendar`);
- the customer's confirmation is the checkbox custom field `CONFIRMED_FIELD`;
- a CSAT answer of 4-5 (the top two boxes) is a `good` rating, 1-3 `bad`, on the ticket it
  follows (same account, one day after the ticket's resolution).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

CONFIRMED_FIELD = 360_000_001
ABANDONED_TAG = "abandoned"
ORG_BASE = 360_000_000
METRIC_BASE = 10_000_000
VIA = {"phone": "voice", "chat": "chat", "email": "email"}

Obj = dict[str, Any]


def iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(identifier: str) -> int:
    return int(identifier[1:])


def export(demo_dir: Path) -> dict[str, list[Obj]]:
    """Zendesk objects from a generated demo directory, by collection name."""
    accounts = pq.read_table(demo_dir / "accounts.parquet").to_pylist()
    tickets = pq.read_table(demo_dir / "tickets.parquet").to_pylist()
    surveys = pq.read_table(demo_dir / "survey_responses.parquet").to_pylist()
    organizations = [
        {
            "id": ORG_BASE + _number(a["account_id"]),
            "url": f"/api/v2/organizations/{ORG_BASE + _number(a['account_id'])}.json",
            "external_id": a["account_id"],
            "name": a["name"],
            "domain_names": [],
            "details": None,
            "notes": None,
            "group_id": None,
            "shared_tickets": False,
            "shared_comments": False,
            "tags": [],
            "organization_fields": {"plan": a["plan"]},
            "created_at": iso(a["created_at"]),
            "updated_at": iso(a["created_at"]),
        }
        for a in accounts
    ]
    exported_tickets: list[Obj] = []
    metrics: list[Obj] = []
    by_resolution: dict[tuple[str, dt.datetime], int] = {}
    for t in tickets:
        tid = _number(t["ticket_id"])
        opened: dt.datetime = t["opened_at"]
        abandoned = t["status"] == "abandoned"
        status = "closed" if abandoned else "solved" if t["status"] == "resolved" else "open"
        times = [
            x for x in (opened, t["first_response_at"], t["resolved_at"], t["reopened_at"]) if x
        ]
        updated = max(times)
        confirmed = t["confirmed_resolved"]
        exported_tickets.append(
            {
                "id": tid,
                "url": f"/api/v2/tickets/{tid}.json",
                "external_id": t["ticket_id"],
                "via": {
                    "channel": VIA[t["channel"]],
                    "source": {"from": {}, "to": {}, "rel": None},
                },
                "created_at": iso(opened),
                "updated_at": iso(updated),
                "type": "question",
                "subject": f"Request {t['ticket_id']}",
                "status": status,
                "requester_id": None,
                "organization_id": ORG_BASE + _number(t["account_id"]),
                "tags": [ABANDONED_TAG] if abandoned else [],
                "custom_fields": [{"id": CONFIRMED_FIELD, "value": confirmed}],
            }
        )
        reply = t["first_response_at"]
        reply_minutes = None if reply is None else round((reply - opened).total_seconds() / 60)
        solved = t["resolved_at"]
        solved_minutes = None if solved is None else round((solved - opened).total_seconds() / 60)
        metrics.append(
            {
                "id": METRIC_BASE + tid,
                "url": f"/api/v2/ticket_metrics/{METRIC_BASE + tid}.json",
                "ticket_id": tid,
                "created_at": iso(opened),
                "updated_at": iso(updated),
                "group_stations": 1,
                "assignee_stations": 1,
                "reopens": 0 if t["reopened_at"] is None else 1,
                "replies": 0 if abandoned else int(t["contacts"]),
                "solved_at": iso(solved),
                "status_updated_at": iso(updated),
                "reply_time_in_minutes": {"calendar": reply_minutes, "business": reply_minutes},
                "first_resolution_time_in_minutes": {
                    "calendar": solved_minutes,
                    "business": solved_minutes,
                },
                "full_resolution_time_in_minutes": {
                    "calendar": solved_minutes,
                    "business": solved_minutes,
                },
            }
        )
        if solved is not None:
            by_resolution[(t["account_id"], solved)] = tid
    ratings: list[Obj] = []
    for s in surveys:
        if s["survey"] != "csat":
            continue
        rated = by_resolution.get((s["account_id"], s["responded_at"] - dt.timedelta(days=1)))
        if rated is None:
            continue
        ratings.append(
            {
                "id": _number(s["response_id"]),
                "url": f"/api/v2/satisfaction_ratings/{_number(s['response_id'])}.json",
                "assignee_id": None,
                "group_id": None,
                "requester_id": None,
                "ticket_id": rated,
                "score": "good" if s["score"] >= 4 else "bad",
                "comment": s["comment"],
                "reason": None,
                "created_at": iso(s["responded_at"]),
                "updated_at": iso(s["responded_at"]),
            }
        )
    return {
        "organizations": organizations,
        "tickets": exported_tickets,
        "ticket_metrics": metrics,
        "satisfaction_ratings": ratings,
    }
