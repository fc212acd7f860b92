"""Zendesk Support: tickets with their metrics (the first-contact-resolution inputs), CSAT
ratings and organizations, through the official `zenpy` client.

Streams and how each resumes:
- organizations: the time-based incremental export; the cursor is the page's `end_time`
  (inclusive, so the last second's records are pulled again and merged).
- tickets: the cursor-based incremental export (/api/v2/incremental/tickets/cursor.json); the
  cursor is the page's `after_cursor`, so an interrupted sync resumes after its last page.
- ticket_metrics: the List Ticket Metrics endpoint has no change filter, and zenpy does not hand
  out the `metric_sets` sideload of the export, so every sync pulls them all (merged by id).
- satisfaction_ratings: listed from the newest `updated_at` already staged (`start_time`).

Transform (documented in docs/sources.md): an organization is an account (`account_key`);
via.channel `voice` is `phone`; solved/closed tickets are resolved, those tagged
`abandoned_tag` abandoned, the rest open; first_response_at = created_at +
reply_time_in_minutes.calendar (whole minutes: Zendesk's precision); resolved_at = solved_at;
contacts = replies (one agent reply per customer contact, at least 1); Zendesk counts reopens
but does not time them, so a reopened ticket is reopened at its resolution (never a first-contact
resolution, as in Zendesk's one-touch); a `good` rating is CSAT 5 and `bad` 1 on the 1-5 scale,
so the top-two-box CSAT is Zendesk's satisfaction score.

zenpy builds https://{subdomain}.zendesk.com URLs; `base_url` points it elsewhere through a
requests transport adapter mounted on the session zenpy accepts (`Zenpy(session=...)`): the
adapter sends a copy of each request to the other host and hands zenpy back the original request
on the response, so nothing inside zenpy is patched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from zenpy import Zenpy  # type: ignore[import-untyped]
from zenpy.lib.exception import APIException, ZenpyException  # type: ignore[import-untyped]

from tenure.errors import TenureError
from tenure.sources.base import Connector, Page, Record

OPTIONS: dict[str, str] = {
    "subdomain": "your Zendesk subdomain: acme for acme.zendesk.com",
    "email": "the e-mail of the agent the API token belongs to",
    "base_url": "send API calls here instead of https://{subdomain}.zendesk.com (proxy, test server)",
    "account_key": "an organization's account id: external_id (default), id, or field:<key> "
    "(an organization field)",
    "abandoned_tag": "tickets with this tag are abandoned contacts (default abandoned)",
    "confirmed_field": "id of a checkbox ticket field: the customer confirmed the fix (optional)",
    "start_date": "the first sync pulls records changed from this day on (YYYY-MM-DD; default all)",
    "page_size": "records per page of the incremental exports (default 1000, Zendesk's maximum)",
}
SECRET = "a Zendesk API token (Admin Center > Apps and integrations > Zendesk API) of `email`"
SECRET_ENV = "ZENDESK_API_TOKEN"

CHANNELS = {"voice": "phone"}
RESOLVED = {"solved", "closed"}
LIST_PAGE = 500  # records staged per page for the streams listed in full


class Redirect(HTTPAdapter):
    """Sends requests for `origin` (https://acme.zendesk.com) to `target` instead."""

    def __init__(self, origin: str, target: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.origin, self.target = origin.rstrip("/"), target.rstrip("/")

    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        moved = request.copy()
        url = request.url or ""
        if url.startswith(self.origin):
            moved.url = self.target + url[len(self.origin) :]
        response = super().send(moved, *args, **kwargs)
        response.request = request  # zenpy recognises its responses by their request's host
        return response


def _iso(value: str | None) -> dt.datetime | None:
    return None if not value else dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")


def _text(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


class ZendeskConnector(Connector):
    kind = "zendesk"
    streams = ("organizations", "tickets", "ticket_metrics", "satisfaction_ratings")

    def __init__(self, options: Mapping[str, str], token: str) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise TenureError(f"zendesk: unknown option(s) {', '.join(sorted(unknown))}")
        for needed in ("subdomain", "email"):
            if not options.get(needed):
                raise TenureError(f"zendesk: the {needed} option is required")
        if not token:
            raise TenureError(f"zendesk: no API token (set {SECRET_ENV})")
        self.options = dict(options)
        self._token = token
        self.account_key = options.get("account_key", "external_id")
        if not (self.account_key in ("external_id", "id") or self.account_key.startswith("field:")):
            raise TenureError("zendesk: account_key must be external_id, id or field:<key>")
        self.abandoned_tag = options.get("abandoned_tag", "abandoned")
        self.confirmed_field = options.get("confirmed_field")
        start = options.get("start_date")
        try:
            self.start_time = (
                0
                if not start
                else int(dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC).timestamp())
            )
            self.page_size = int(options.get("page_size", "1000"))
        except ValueError as error:
            raise TenureError(f"zendesk: {error}") from None
        session = requests.Session()
        adapter_kwargs = Zenpy.http_adapter_kwargs()
        origin = f"https://{options['subdomain']}.zendesk.com"
        if options.get("base_url"):
            session.mount(origin, Redirect(origin, options["base_url"], **adapter_kwargs))
        else:
            session.mount("https://", HTTPAdapter(**adapter_kwargs))
        self.client = Zenpy(
            subdomain=options["subdomain"], email=options["email"], token=token, session=session
        )

    def __repr__(self) -> str:
        return f"ZendeskConnector(subdomain={self.options['subdomain']!r})"

    # -- pull --------------------------------------------------------------------------------------
    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        pulls: dict[str, Callable[[str | None], Iterator[Page]]] = {
            "organizations": self._organizations,
            "tickets": self._tickets,
            "ticket_metrics": self._ticket_metrics,
            "satisfaction_ratings": self._ratings,
        }
        try:
            yield from pulls[stream](cursor)
        except APIException as error:
            raise TenureError(f"zendesk: {stream}: {self._described(error)}") from None
        except (ZenpyException, requests.RequestException) as error:
            raise TenureError(f"zendesk: {stream}: {self._scrubbed(str(error))}") from None

    def _scrubbed(self, text: str) -> str:
        return text.replace(self._token, "***")

    def _described(self, error: APIException) -> str:
        response = error.response
        status = "" if response is None else f"HTTP {response.status_code}: "
        return self._scrubbed(f"{status}{error}")

    def _organizations(self, cursor: str | None) -> Iterator[Page]:
        start = int(cursor) if cursor else self.start_time
        while True:
            page = self.client.organizations.incremental(start_time=start, per_page=self.page_size)
            records = [o.to_dict() for o in page.values or []]
            end = int(page.end_time)
            yield Page("organizations", records, str(end))
            if page.end_of_stream:
                return
            if end <= start:
                raise TenureError(
                    "zendesk: organizations: more organizations changed in one second than a "
                    "page holds; raise page_size"
                )
            start = end

    def _tickets(self, cursor: str | None) -> Iterator[Page]:
        """Page by page along the export's after_url (it keeps per_page; zenpy's cursor call
        does not pass it, so a resumed sync's first page has Zendesk's default size)."""
        if cursor:
            page = self.client.tickets.incremental(cursor=cursor)
        else:
            page = self.client.tickets.incremental(
                start_time=self.start_time, per_page=self.page_size
            )
        while True:
            records = [t.to_dict() for t in page.values or []]
            yield Page("tickets", records, page.after_cursor)
            if page.end_of_stream or not page.after_cursor:
                return
            page.handle_pagination()

    def _listed(self, stream: str, items: Iterator[Any], cursor: str | None) -> Iterator[Page]:
        """Stage a listed stream in pages; the cursor moves (to the newest updated_at) only at
        its end, so an interrupted listing starts again."""
        batch: list[Record] = []
        newest = int(cursor) if cursor else None
        for item in items:
            record = item.to_dict()
            batch.append(record)
            stamp = _iso(record.get("updated_at"))
            if stamp is not None:
                seconds = int(stamp.replace(tzinfo=dt.UTC).timestamp())
                newest = seconds if newest is None else max(newest, seconds)
            if len(batch) == LIST_PAGE:
                yield Page(stream, batch, None)
                batch = []
        yield Page(stream, batch, None if newest is None else str(newest))

    def _ticket_metrics(self, cursor: str | None) -> Iterator[Page]:
        yield from self._listed("ticket_metrics", iter(self.client.ticket_metrics()), None)

    def _ratings(self, cursor: str | None) -> Iterator[Page]:
        start = int(cursor) if cursor else self.start_time
        when = dt.datetime.fromtimestamp(start, dt.UTC) if start else None
        ratings = self.client.satisfaction_ratings(start_time=when)
        yield from self._listed("satisfaction_ratings", iter(ratings), cursor)

    # -- transform ---------------------------------------------------------------------------------
    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        return transform(
            staged,
            account_key=self.account_key,
            abandoned_tag=self.abandoned_tag,
            confirmed_field=self.confirmed_field,
        )


def _account_of(organization: Record, key: str) -> str | None:
    if key == "id":
        value = organization.get("id")
    elif key == "external_id":
        value = organization.get("external_id")
    else:
        value = (organization.get("organization_fields") or {}).get(key.removeprefix("field:"))
    return None if value in (None, "") else str(value)


def transform(
    staged: Mapping[str, Sequence[Record]],
    *,
    account_key: str = "external_id",
    abandoned_tag: str = "abandoned",
    confirmed_field: str | None = None,
) -> dict[str, pd.DataFrame]:
    """Canonical accounts, tickets and survey_responses from Zendesk API records (also what the
    warehouse reader makes of Fivetran's and Airbyte's tables)."""
    organizations = {o["id"]: o for o in staged.get("organizations", ())}
    accounts = {oid: _account_of(o, account_key) for oid, o in organizations.items()}
    metrics = {m["ticket_id"]: m for m in staged.get("ticket_metrics", ())}
    ticket_account: dict[Any, str | None] = {}
    tickets = []
    for t in staged.get("tickets", ()):
        if t.get("status") == "deleted":
            continue
        account = accounts.get(t.get("organization_id"))
        ticket_account[t["id"]] = account
        m = metrics.get(t["id"], {})
        opened = _iso(t["created_at"])
        assert opened is not None
        reply = (m.get("reply_time_in_minutes") or {}).get("calendar")
        tags = t.get("tags") or []
        status = (
            "abandoned"
            if abandoned_tag in tags
            else "resolved"
            if t.get("status") in RESOLVED
            else "open"
        )
        solved = _iso(m.get("solved_at"))
        resolved = solved if status == "resolved" else None
        confirmed = None
        if confirmed_field is not None:
            for field in t.get("custom_fields") or []:
                if str(field.get("id")) == str(confirmed_field):
                    confirmed = field.get("value")
        channel = ((t.get("via") or {}).get("channel")) or "unknown"
        tickets.append(
            {
                "ticket_id": str(t["id"]),
                "account_id": account,
                "channel": CHANNELS.get(channel, channel),
                "opened_at": _text(opened),
                "first_response_at": None
                if reply is None
                else _text(opened + dt.timedelta(seconds=round(float(reply) * 60))),
                "resolved_at": _text(resolved),
                "status": status,
                "contacts": max(1, int(m.get("replies") or 0)),
                "reopened_at": _text(solved) if (m.get("reopens") or 0) > 0 else None,
                "confirmed_resolved": None if confirmed is None else bool(confirmed),
            }
        )
    responses = [
        {
            "response_id": str(r["id"]),
            "account_id": ticket_account.get(r.get("ticket_id")),
            "survey": "csat",
            "score": 5.0 if r["score"] == "good" else 1.0,
            "scale_min": 1.0,
            "scale_max": 5.0,
            "comment": r.get("comment") or None,
            "touchpoint": "support",
            "responded_at": r["created_at"],
        }
        for r in staged.get("satisfaction_ratings", ())
        if r.get("score") in ("good", "bad")
    ]
    tables: dict[str, pd.DataFrame] = {}
    rows = [
        {
            "account_id": a,
            "name": organizations[oid].get("name"),
            "created_at": organizations[oid]["created_at"],
        }
        for oid, a in accounts.items()
        if a is not None
    ]
    if rows:
        tables["accounts"] = pd.DataFrame(rows)
    if tickets:
        tables["tickets"] = pd.DataFrame(tickets)
    if responses:
        tables["survey_responses"] = pd.DataFrame(responses)
    return tables


def build(options: Mapping[str, str], secret: str | None) -> Connector:
    return ZendeskConnector(options, secret or "")
