"""The demo company's accounts as HubSpot's CRM API returns them: owners (/crm/v3/owners) and
companies (/crm/v3/objects/companies) with their properties and property history.

Conventions: the account id is the custom property `tenure_account_id`; the demo's plan, country,
channel and seats are custom company properties; every demo account is a `customer` since it was
created (so the lifecycle stage's history has one entry); an owner's name is first + last name.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

Obj = dict[str, Any]
CUSTOM = ("tenure_account_id", "plan", "country", "channel", "seats")


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def owner_email(name: str) -> str:
    return name.lower().replace(" ", ".") + "@example.com"


def domain(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "company"
    return f"{slug}.example.com"


def export(demo_dir: Path) -> dict[str, list[Obj]]:
    """HubSpot objects from a generated demo directory: owners and companies."""
    accounts = pq.read_table(demo_dir / "accounts.parquet").to_pylist()
    names = sorted({a["owner"] for a in accounts})
    created = min(a["created_at"] for a in accounts)
    owners = [
        {
            "id": str(100 + i),
            "email": owner_email(name),
            "type": "PERSON",
            "firstName": name.split(" ", 1)[0],
            "lastName": name.split(" ", 1)[1],
            "userId": 9000 + i,
            "userIdIncludingInactive": 9000 + i,
            "createdAt": iso(created),
            "updatedAt": iso(created),
            "archived": False,
            "teams": [],
        }
        for i, name in enumerate(names)
    ]
    owner_ids = {o["email"]: o["id"] for o in owners}
    companies = []
    for n, a in enumerate(accounts, start=1):
        stamp = iso(a["created_at"])
        properties = {
            "hs_object_id": str(n),
            "name": a["name"],
            "domain": domain(a["name"]),
            "industry": a["industry"],
            "lifecyclestage": "customer",
            "hubspot_owner_id": owner_ids[owner_email(a["owner"])],
            "createdate": stamp,
            "hs_lastmodifieddate": stamp,
            "tenure_account_id": a["account_id"],
            "plan": a["plan"],
            "country": a["country"],
            "channel": a["channel"],
            "seats": str(a["seats"]),
        }
        history = {
            prop: [
                {
                    "value": properties[prop],
                    "timestamp": stamp,
                    "sourceType": "CRM_UI",
                    "sourceId": None,
                    "sourceLabel": None,
                    "updatedByUserId": None,
                }
            ]
            for prop in ("lifecyclestage", "hubspot_owner_id")
        }
        companies.append(
            {
                "id": str(n),
                "properties": properties,
                "propertiesWithHistory": history,
                "createdAt": stamp,
                "updatedAt": stamp,
                "archived": False,
            }
        )
    return {"owners": owners, "companies": companies}
