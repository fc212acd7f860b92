"""Zendesk as an ELT tool landed it in a warehouse: Fivetran's `zendesk` schema or Airbyte's
Zendesk Support tables, read through Ibis from any database URL it connects to, and handed to the
Zendesk connector's own transform as Zendesk API records (so there is one transform).

Fivetran lands no ticket metrics, so they are derived the way Zendesk defines them: replies =
the public comments of agents and admins, reply time = first such comment - created_at (to the
second, finer than the API's whole minutes), solved_at = the first time the status history turns
solved or closed, reopens = turns from solved back to new, open, pending or hold. Custom ticket
fields come from ticket_field_history (latest value per field), tags from ticket_tag; rows with
`_fivetran_deleted` true are skipped. Airbyte's tables are the API objects with nested values as
JSON; with append syncs the latest `_airbyte_extracted_at` of an id wins.

Each sync reads the tables in full: the reader scans tables next to the data, derived metrics
span several tables, and the merge leaves unchanged rows unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from tenure.errors import TenureError
from tenure.sources import zendesk
from tenure.sources.base import Connector, Page, Record

OPTIONS: dict[str, str] = {
    "layout": "whose tables: fivetran or airbyte",
    "schema": "the schema (database) holding them (default zendesk)",
    "account_key": zendesk.OPTIONS["account_key"],
    "abandoned_tag": zendesk.OPTIONS["abandoned_tag"],
    "confirmed_field": zendesk.OPTIONS["confirmed_field"],
}
SECRET = "the warehouse URL for Ibis (duckdb:///file, postgres://user:password@host/db, ...)"
SECRET_ENV = "ZENDESK_WAREHOUSE_URL"

PAGE = 5000
NESTED = {
    "via",
    "tags",
    "custom_fields",
    "fields",
    "organization_fields",
    "domain_names",
    "collaborator_ids",
    "satisfaction_rating",
    "reply_time_in_minutes",
    "first_resolution_time_in_minutes",
    "full_resolution_time_in_minutes",
    "agent_wait_time_in_minutes",
    "requester_wait_time_in_minutes",
    "on_hold_time_in_minutes",
}
SOLVED = ("solved", "closed")
REOPENED = ("new", "open", "pending", "hold")


def _value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _rows(expr: ir.Table) -> list[Record]:
    return [{k: _value(v) for k, v in row.items()} for row in expr.to_pyarrow().to_pylist()]


class ZendeskWarehouse(Connector):
    kind = "zendesk_elt"
    streams = zendesk.ZendeskConnector.streams

    def __init__(self, options: Mapping[str, str], url: str) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise TenureError(f"zendesk_elt: unknown option(s) {', '.join(sorted(unknown))}")
        self.layout = options.get("layout", "")
        if self.layout not in ("fivetran", "airbyte"):
            raise TenureError("zendesk_elt: the layout option must be fivetran or airbyte")
        if not url:
            raise TenureError(f"zendesk_elt: no warehouse URL (set {SECRET_ENV})")
        self._url = url
        self.schema = options.get("schema", "zendesk")
        self.options = dict(options)
        self._con: Any = None

    def __repr__(self) -> str:
        return f"ZendeskWarehouse(layout={self.layout!r}, schema={self.schema!r})"

    def _table(self, name: str) -> ir.Table:
        if self._con is None:
            self._con = ibis.connect(self._url)
        table: ir.Table = self._con.table(name, database=self.schema)
        if "_fivetran_deleted" in table.columns:
            table = table.filter(~table._fivetran_deleted.fill_null(False))
        return table

    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        try:
            records = self._fivetran(stream) if self.layout == "fivetran" else self._airbyte(stream)
        except TenureError:
            raise
        except Exception as error:  # any driver's error; the URL (and its password) kept out
            text = str(error).replace(self._url, "***").splitlines()[0] if str(error) else ""
            raise TenureError(f"zendesk_elt: {stream}: {type(error).__name__}: {text}") from None
        for start in range(0, max(len(records), 1), PAGE):
            yield Page(stream, records[start : start + PAGE], None)

    # -- Airbyte -----------------------------------------------------------------------------------
    def _airbyte(self, stream: str) -> list[Record]:
        table = self._table(stream)
        if "_airbyte_extracted_at" in table.columns:
            table = table.order_by("_airbyte_extracted_at")
        latest: dict[Any, Record] = {}
        for row in _rows(table):
            record = {k: v for k, v in row.items() if not k.startswith("_airbyte_")}
            for key in NESTED & record.keys():
                if isinstance(record[key], str):
                    record[key] = json.loads(record[key])
            latest[record["id"]] = record
        return list(latest.values())

    # -- Fivetran ----------------------------------------------------------------------------------
    def _fivetran(self, stream: str) -> list[Record]:
        if stream == "organizations":
            rows = _rows(self._table("organization"))
            return [{**row, "organization_fields": dict(row)} for row in rows]
        if stream == "satisfaction_ratings":
            return _rows(self._table("satisfaction_rating"))
        if stream == "tickets":
            return self._fivetran_tickets()
        return self._fivetran_metrics()

    def _fivetran_tickets(self) -> list[Record]:
        tags: dict[Any, list[str]] = {}
        for row in _rows(self._table("ticket_tag").select("ticket_id", "tag")):
            tags.setdefault(row["ticket_id"], []).append(row["tag"])
        history = self._table("ticket_field_history")
        custom = history.filter(history.field_name.re_search(r"^[0-9]+$"))
        fields: dict[Any, dict[str, Any]] = {}
        for row in _rows(custom.order_by("updated").select("ticket_id", "field_name", "value")):
            fields.setdefault(row["ticket_id"], {})[row["field_name"]] = row["value"]
        tickets = []
        for row in _rows(self._table("ticket")):
            channel = row.pop("via_channel", None)
            tickets.append(
                {
                    **row,
                    "via": {"channel": channel},
                    "tags": tags.get(row["id"], []),
                    "custom_fields": [
                        {"id": int(field), "value": _field_value(value)}
                        for field, value in fields.get(row["id"], {}).items()
                    ],
                }
            )
        return tickets

    def _fivetran_metrics(self) -> list[Record]:
        comments = self._table("ticket_comment")
        users = self._table("user")
        agents = users.filter(users.role.isin(["agent", "admin"])).select(agent_id="id")
        replies = (
            comments.filter(comments.public)
            .join(agents, comments.user_id == agents.agent_id)
            .group_by("ticket_id")
            .aggregate(replies=ibis._.count(), first_reply=ibis._.created.min())
        )
        tickets = self._table("ticket").select("id", "created_at")
        answered = {r["ticket_id"]: r for r in _rows(replies)}
        history = self._table("ticket_field_history")
        statuses = history.filter(history.field_name == "status").select(
            "ticket_id", "updated", "value"
        )
        changes: dict[Any, list[Record]] = {}
        for row in _rows(statuses.order_by(["ticket_id", "updated"])):
            changes.setdefault(row["ticket_id"], []).append(row)
        metrics = []
        for ticket in _rows(tickets):
            tid = ticket["id"]
            solved_at, reopens, was_solved = None, 0, False
            for change in changes.get(tid, []):
                if change["value"] in SOLVED:
                    solved_at = solved_at or change["updated"]
                    was_solved = True
                elif change["value"] in REOPENED and was_solved:
                    reopens += 1
                    was_solved = False
            reply = answered.get(tid)
            minutes = None
            if reply is not None:
                opened = dt.datetime.strptime(ticket["created_at"], "%Y-%m-%dT%H:%M:%SZ")
                first = dt.datetime.strptime(reply["first_reply"], "%Y-%m-%dT%H:%M:%SZ")
                minutes = (first - opened).total_seconds() / 60
            metrics.append(
                {
                    "id": tid,
                    "ticket_id": tid,
                    "replies": 0 if reply is None else reply["replies"],
                    "reopens": reopens,
                    "solved_at": solved_at,
                    "reply_time_in_minutes": {"calendar": minutes, "business": None},
                }
            )
        return metrics

    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        return zendesk.transform(
            staged,
            account_key=self.options.get("account_key", "external_id"),
            abandoned_tag=self.options.get("abandoned_tag", "abandoned"),
            confirmed_field=self.options.get("confirmed_field"),
        )


def _field_value(value: Any) -> Any:
    """ticket_field_history keeps values as text: checkboxes are 'true' / 'false'."""
    return {"true": True, "false": False}.get(value, value) if isinstance(value, str) else value


def build(options: Mapping[str, str], secret: str | None) -> Connector:
    return ZendeskWarehouse(options, secret or "")
