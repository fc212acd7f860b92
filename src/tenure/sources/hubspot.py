"""HubSpot CRM companies as accounts with their attributes (domain, owner, industry, lifecycle
stage, chosen custom properties, and when a property took its current value from its history),
through the official `hubspot-api-client` package.

Full pulls, resumable within a run: each page is staged with the `paging.next.after` cursor of
the next one, and the last page resets the cursor so the next sync reads everything again. Why not
incremental by hs_lastmodifieddate: that filter exists only in the CRM search API, which stops at
10,000 results per query and returns no property history; companies are few enough (one row per
customer) that a full read is cheap, and the merge keeps unchanged rows unchanged.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pandas as pd
from hubspot import HubSpot  # type: ignore[import-untyped]
from hubspot.crm.companies.exceptions import (  # type: ignore[import-untyped]
    ApiException as CompaniesError,
)
from hubspot.crm.owners.exceptions import (  # type: ignore[import-untyped]
    ApiException as OwnersError,
)
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from tenure.errors import TenureError
from tenure.sources.base import Connector, Page, Record

OPTIONS: dict[str, str] = {
    "base_url": "send API calls here instead of https://api.hubapi.com (proxy, test server)",
    "account_key": "the company property holding your account id (default hs_object_id, "
    "HubSpot's own id)",
    "properties": "comma-separated custom company properties kept as account attributes",
    "history": "comma-separated properties whose history is read; each adds <name>_since, when "
    "the current value was set (default lifecyclestage)",
    "page_size": "companies per page (default 50, HubSpot's maximum when history is asked for)",
}
SECRET = "a HubSpot private app access token with the crm.objects.companies.read and "
SECRET += "crm.objects.owners.read scopes"
SECRET_ENV = "HUBSPOT_ACCESS_TOKEN"

STANDARD = ("name", "domain", "industry", "lifecyclestage", "hubspot_owner_id", "createdate")
RENAMED = {"lifecyclestage": "lifecycle_stage", "hubspot_owner_id": "owner_id"}
_WHOLE = re.compile(r"^-?\d+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _names(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        text: str = value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return text
    return str(value)


class HubSpotConnector(Connector):
    kind = "hubspot"
    streams = ("owners", "companies")

    def __init__(self, options: Mapping[str, str], token: str) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise TenureError(f"hubspot: unknown option(s) {', '.join(sorted(unknown))}")
        if not token:
            raise TenureError(f"hubspot: no access token (set {SECRET_ENV})")
        self._token = token
        self.account_key = options.get("account_key", "hs_object_id")
        self.custom = _names(options.get("properties"))
        self.history = _names(options.get("history", "lifecyclestage"))
        try:
            self.page_size = int(options.get("page_size", "50"))
        except ValueError:
            raise TenureError("hubspot: page_size must be a whole number") from None
        retry = Retry(
            total=6,
            backoff_factor=0.5,
            status_forcelist=(429, 502, 503, 504),
            allowed_methods=("GET", "POST"),
            respect_retry_after_header=True,
        )
        settings: dict[str, Any] = {"access_token": token, "retry": retry}
        if options.get("base_url"):
            settings["host"] = options["base_url"].rstrip("/")
        self.client = HubSpot(**settings)

    def __repr__(self) -> str:
        return "HubSpotConnector()"

    def _scrubbed(self, text: str) -> str:
        return text.replace(self._token, "***")

    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        try:
            yield from self._pages(stream, cursor or None)
        except (CompaniesError, OwnersError) as error:
            detail = f"HTTP {error.status} {error.reason}: {error.body!r}"
            raise TenureError(f"hubspot: {stream}: {self._scrubbed(detail)}") from None
        except HTTPError as error:
            raise TenureError(f"hubspot: {stream}: {self._scrubbed(str(error))}") from None

    def _pages(self, stream: str, after: str | None) -> Iterator[Page]:
        while True:
            if stream == "owners":
                page = self.client.crm.owners.owners_api.get_page(limit=500, after=after)
                records = [_owner(o.to_dict()) for o in page.results]
            else:
                asked = [*STANDARD, self.account_key, *self.custom, *self.history]
                page = self.client.crm.companies.basic_api.get_page(
                    limit=self.page_size,
                    after=after,
                    properties=sorted(set(asked)),
                    properties_with_history=self.history or None,
                    archived=False,
                )
                records = [_company(c.to_dict()) for c in page.results]
            following = page.paging.next.after if page.paging and page.paging.next else None
            yield Page(stream, records, following or "")  # "" = start over on the next sync
            if not following:
                return
            after = following

    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        return transform(
            staged, account_key=self.account_key, custom=self.custom, history=self.history
        )


def _owner(o: Mapping[str, Any]) -> Record:
    return {
        "id": str(o["id"]),
        "email": o.get("email"),
        "firstName": o.get("first_name"),
        "lastName": o.get("last_name"),
        "archived": o.get("archived"),
    }


def _company(c: Mapping[str, Any]) -> Record:
    """A company in HubSpot's own JSON shape (the client hands out snake_case models)."""
    history = {
        name: [
            {"value": v["value"], "timestamp": _iso(v["timestamp"])}
            for v in (_plain(version) for version in versions or [])
        ]
        for name, versions in (c.get("properties_with_history") or {}).items()
    }
    return {
        "id": str(c["id"]),
        "properties": dict(c.get("properties") or {}),
        "propertiesWithHistory": history,
        "createdAt": _iso(c.get("created_at")),
        "updatedAt": _iso(c.get("updated_at")),
        "archived": bool(c.get("archived")),
    }


def _plain(value: Any) -> Mapping[str, Any]:
    """A model's fields (the client leaves models nested in a dict of lists unconverted)."""
    plain: Mapping[str, Any] = value.to_dict() if hasattr(value, "to_dict") else value
    return plain


def _since(versions: Sequence[Mapping[str, Any]], current: Any) -> str | None:
    """When the property took its current value: the oldest entry of the newest run of it."""
    ordered = sorted(versions, key=lambda v: str(v.get("timestamp")), reverse=True)
    since = None
    for version in ordered:
        if version.get("value") != current:
            break
        since = version.get("timestamp")
    return since


def _typed(frame: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """HubSpot sends every property value as text; whole or decimal numbers become numbers."""
    for column in columns:
        values = frame[column].dropna().astype(str)
        if len(values) and values.str.match(_WHOLE).all():
            frame[column] = pd.to_numeric(frame[column]).astype("Int64")
        elif len(values) and values.str.match(_NUMBER).all():
            frame[column] = pd.to_numeric(frame[column])
    return frame


def transform(
    staged: Mapping[str, Sequence[Record]],
    *,
    account_key: str = "hs_object_id",
    custom: Sequence[str] = (),
    history: Sequence[str] = ("lifecyclestage",),
) -> dict[str, pd.DataFrame]:
    owners = {o["id"]: o for o in staged.get("owners", ())}
    rows = []
    for company in staged.get("companies", ()):
        if company.get("archived"):
            continue
        props = company["properties"]
        account = company["id"] if account_key == "id" else props.get(account_key)
        if not account:
            continue
        owner = owners.get(str(props.get("hubspot_owner_id") or ""))
        name = None
        if owner is not None:
            name = " ".join(p for p in (owner.get("firstName"), owner.get("lastName")) if p)
        row: Record = {
            "account_id": str(account),
            "name": props.get("name"),
            "created_at": props.get("createdate") or company.get("createdAt"),
            "domain": props.get("domain"),
            "industry": props.get("industry"),
            "lifecycle_stage": props.get("lifecyclestage"),
            "owner": name or None,
            "owner_email": None if owner is None else owner.get("email"),
        }
        for prop in custom:
            row[prop] = props.get(prop)
        for prop in history:
            versions = (company.get("propertiesWithHistory") or {}).get(prop) or []
            row[f"{RENAMED.get(prop, prop)}_since"] = _since(versions, props.get(prop))
        rows.append(row)
    if not rows:
        return {}
    frame = _typed(pd.DataFrame(rows), list(custom))
    for prop in history:
        column = f"{RENAMED.get(prop, prop)}_since"
        frame[column] = pd.to_datetime(frame[column], utc=True).dt.tz_convert(None)
    return {"accounts": frame}


def build(options: Mapping[str, str], secret: str | None) -> Connector:
    return HubSpotConnector(options, secret or "")
