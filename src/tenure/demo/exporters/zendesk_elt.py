"""The demo company's support desk as ELT tools land Zendesk in a warehouse.

- Fivetran (schema `zendesk`, per its published Zendesk ERD): `organization`, `ticket` (via as
  `via_channel`), `ticket_tag`, `ticket_field_history` (status and custom-field changes, with
  `updated`), `ticket_comment` (`created`, `public`, `user_id`), `user` (`role`),
  `satisfaction_rating`; every table has `_fivetran_synced`. Fivetran lands no ticket metrics:
  the reader derives them from the status history and the agents' public comments, so here the
  first reply is a comment at the exact first-response time, one agent comment per customer
  contact, and a reopened ticket goes solved -> open -> solved.
- Airbyte (source-zendesk-support, Destinations v2): `organizations`, `tickets`,
  `ticket_metrics`, `satisfaction_ratings`, one column per top-level API field (nested objects
  and arrays as JSON) plus `_airbyte_raw_id`, `_airbyte_extracted_at`, `_airbyte_meta`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from tenure.data.readers import quote
from tenure.demo.exporters import zendesk as api

SYNCED = dt.datetime(2025, 7, 1, 3, 0, 0)
AGENT, CUSTOMER_BASE = 1, 1_000_000


def fivetran_tables(demo_dir: Path) -> dict[str, pd.DataFrame]:
    objects = api.export(demo_dir)
    demo_tickets = {
        api._number(t["ticket_id"]): t
        for t in pq.read_table(demo_dir / "tickets.parquet").to_pylist()
    }
    organization = pd.DataFrame(
        {
            "id": o["id"],
            "name": o["name"],
            "external_id": o["external_id"],
            "details": None,
            "notes": None,
            "group_id": None,
            "shared_comments": False,
            "shared_tickets": False,
            "url": o["url"],
            "created_at": o["created_at"],
            "updated_at": o["updated_at"],
            "_fivetran_synced": SYNCED,
        }
        for o in objects["organizations"]
    )
    tickets: list[dict[str, Any]] = []
    tags: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    comments: list[dict[str, Any]] = []
    users = [{"id": AGENT, "name": "Agent", "role": "agent", "organization_id": None}]

    def change(ticket: int, field: str, value: Any, when: dt.datetime) -> None:
        text = None if value is None else str(value).lower() if isinstance(value, bool) else value
        history.append(
            {
                "ticket_id": ticket,
                "field_name": field,
                "updated": when,
                "value": text,
                "user_id": AGENT,
                "_fivetran_synced": SYNCED,
            }
        )

    def comment(ticket: int, user: int, when: dt.datetime) -> None:
        comments.append(
            {
                "id": len(comments) + 1,
                "ticket_id": ticket,
                "user_id": user,
                "created": when,
                "public": True,
                "body": "...",
                "_fivetran_synced": SYNCED,
            }
        )

    for t in objects["tickets"]:
        d = demo_tickets[t["id"]]
        opened: dt.datetime = d["opened_at"]
        requester = CUSTOMER_BASE + t["id"]
        users.append(
            {"id": requester, "name": "Customer", "role": "end-user", "organization_id": None}
        )
        tickets.append(
            {
                "id": t["id"],
                "external_id": t["external_id"],
                "url": t["url"],
                "created_at": opened,
                "updated_at": pd.Timestamp(t["updated_at"]).tz_localize(None),
                "type": t["type"],
                "subject": t["subject"],
                "status": t["status"],
                "priority": None,
                "requester_id": requester,
                "submitter_id": requester,
                "assignee_id": AGENT,
                "organization_id": t["organization_id"],
                "via_channel": t["via"]["channel"],
                "_fivetran_synced": SYNCED,
            }
        )
        tags.extend(
            {"ticket_id": t["id"], "tag": tag, "_fivetran_synced": SYNCED} for tag in t["tags"]
        )
        comment(t["id"], requester, opened)
        change(t["id"], "status", "new", opened)
        if d["first_response_at"] is not None and d["status"] != "abandoned":
            first: dt.datetime = d["first_response_at"]
            for k in range(int(d["contacts"])):
                comment(t["id"], AGENT, first + dt.timedelta(seconds=k))
        if d["resolved_at"] is not None:
            change(t["id"], "status", "solved", d["resolved_at"])
        if d["reopened_at"] is not None:
            change(t["id"], "status", "open", d["reopened_at"])
            change(t["id"], "status", "solved", d["reopened_at"] + dt.timedelta(minutes=1))
        if d["status"] == "abandoned":
            change(t["id"], "status", "closed", opened)
        change(t["id"], str(api.CONFIRMED_FIELD), d["confirmed_resolved"], opened)
    rating = pd.DataFrame(
        {
            **{k: r[k] for k in ("id", "ticket_id", "score", "comment", "reason", "url")},
            "assignee_id": AGENT,
            "group_id": None,
            "requester_id": CUSTOMER_BASE + r["ticket_id"],
            "created_at": pd.Timestamp(r["created_at"]).tz_localize(None),
            "updated_at": pd.Timestamp(r["updated_at"]).tz_localize(None),
            "_fivetran_synced": SYNCED,
        }
        for r in objects["satisfaction_ratings"]
    )
    users_frame = pd.DataFrame(users).assign(_fivetran_synced=SYNCED)
    tag_columns = ["ticket_id", "tag", "_fivetran_synced"]
    return {
        "organization": _timestamps(organization, "created_at", "updated_at"),
        "ticket": pd.DataFrame(tickets),
        "ticket_tag": pd.DataFrame(tags, columns=tag_columns),
        "ticket_field_history": pd.DataFrame(history),
        "ticket_comment": pd.DataFrame(comments),
        "user": users_frame,
        "satisfaction_rating": rating,
    }


def _timestamps(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(None)
    return frame


def airbyte_tables(demo_dir: Path) -> dict[str, pd.DataFrame]:
    tables = {}
    for name, objects in api.export(demo_dir).items():
        rows = []
        for obj in objects:
            row: dict[str, Any] = {
                "_airbyte_raw_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{name}/{obj['id']}")),
                "_airbyte_extracted_at": SYNCED,
                "_airbyte_meta": json.dumps({"changes": [], "sync_id": 1}),
                "_airbyte_generation_id": 0,
            }
            for key, value in obj.items():
                row[key] = json.dumps(value) if isinstance(value, dict | list) else value
            rows.append(row)
        frame = pd.DataFrame(rows)
        stamps = [c for c in ("created_at", "updated_at", "solved_at") if c in frame]
        tables[name] = _timestamps(frame, *stamps)
    return tables


def write_duckdb(path: Path, schema: str, tables: dict[str, pd.DataFrame]) -> None:
    """Land `tables` in schema `schema` of the DuckDB file at `path`."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        for name, frame in tables.items():
            con.execute(f"USE {quote(schema)}")
            con.from_df(frame).create(quote(name))
    finally:
        con.close()
