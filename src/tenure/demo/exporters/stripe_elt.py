"""The demo company's Stripe objects as ELT tools land them in a warehouse.

The objects are tenure.demo.exporters.stripe's, turned back into the API version these tools
read (a line carries `price`, `proration`, `subscription`, `subscription_item`, `invoice_item`;
a subscription its `current_period_*` and its expanded `discount`), then written as:
- Fivetran (per fivetran/dbt_stripe_source's column macros): `customer`, `product`, `price`,
  `coupon`, `subscription_history` (an inactive earlier version of each canceled subscription,
  as history mode keeps), `subscription_item`, `invoice`, `invoice_line_item`, `discount`
  (type SUBSCRIPTION), `charge`, `refund`, `credit_note`, timestamps as timestamps, with
  `_fivetran_synced`;
- Airbyte (source-stripe streams, Destinations v2): `customers`, `products`, `prices`,
  `coupons`, `subscriptions`, `invoices`, `invoice_line_items` (with `invoice_id`), `charges`,
  `refunds`, `credit_notes`, one column per top-level field, nested values as JSON text, with
  `_airbyte_raw_id`, `_airbyte_extracted_at`, `_airbyte_meta`, `_airbyte_generation_id`;
- dlt (verified source stripe_analytics, with the Refund, Charge and CreditNote endpoints added):
  root tables `customer`, `product`, `price`, `coupon`, `subscription`, `invoice`, `charge`,
  `refund`, `credit_note` with nested objects flattened into `a__b` columns and lists in child
  tables `<parent>__<field>` (`_dlt_parent_id`, `_dlt_list_idx`, `_dlt_id`, scalars in `value`);
  roots carry `_dlt_load_id` and `_dlt_id`.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from tenure.data.readers import quote

Obj = dict[str, Any]
SYNCED = dt.datetime(2026, 6, 15, 3, 0, 0)
LOAD_ID = "1781492400.123456"


def _ts(seconds: Any) -> dt.datetime | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).replace(tzinfo=None)


def _table(rows: list[Obj], columns: Iterable[str] = ("id",)) -> pa.Table:
    if not rows:
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    names: dict[str, None] = {}
    for row in rows:
        names.update(dict.fromkeys(row))
    return pa.Table.from_pylist([{n: row.get(n) for n in names} for row in rows])


# -- the API version ELT tools read -------------------------------------------------------------------
def legacy(objects: Mapping[str, list[Obj]]) -> dict[str, list[Obj]]:
    """The demo objects as the pre-2025 API returns them (see the module docstring)."""
    prices = {p["id"]: p for p in objects["prices"]}
    coupons = {c["id"]: c for c in objects["coupons"]}
    discounts = {
        d["id"]: {
            "id": d["id"],
            "object": "discount",
            "coupon": coupons[d["source"]["coupon"]],
            "customer": d["customer"],
            "start": d["start"],
            "end": d["end"],
            "subscription": d["subscription"],
        }
        for d in objects["discounts"]
    }
    subscriptions = []
    for sub in objects["subscriptions"]:
        items = sub["items"]["data"]
        ids = sub.get("discounts") or []
        subscriptions.append(
            {
                **sub,
                "current_period_start": items[0]["current_period_start"] if items else None,
                "current_period_end": items[0]["current_period_end"] if items else None,
                "discount": discounts[ids[0]] if ids else None,
            }
        )
    invoices = []
    lines: list[Obj] = []
    for invoice in objects["invoices"]:
        old_lines = [_legacy_line(line, invoice["id"], prices) for line in invoice["lines"]["data"]]
        lines.extend(old_lines)
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        sub_id = details.get("subscription")
        invoices.append(
            {
                **{k: v for k, v in invoice.items() if k != "parent"},
                "subscription": sub_id,
                "paid": invoice["status"] == "paid",
                "lines": {**invoice["lines"], "data": old_lines},
            }
        )
    return {
        **{k: list(v) for k, v in objects.items()},
        "subscriptions": subscriptions,
        "invoices": invoices,
        "invoice_line_items": lines,
        "discounts": list(discounts.values()),
    }


def _legacy_line(line: Obj, invoice: str, prices: Mapping[str, Obj]) -> Obj:
    parent = line["parent"]
    details = parent.get("subscription_item_details") or parent.get("invoice_item_details") or {}
    price_id = ((line.get("pricing") or {}).get("price_details") or {}).get("price")
    item = details.get("subscription_item")
    return {
        "id": line["id"],
        "object": "line_item",
        "amount": line["amount"],
        "currency": line["currency"],
        "description": line["description"],
        "discount_amounts": line["discount_amounts"],
        "discountable": line["discountable"],
        "discounts": line["discounts"],
        "invoice": invoice,
        "invoice_item": details.get("invoice_item"),
        "livemode": False,
        "metadata": {},
        "period": line["period"],
        "price": prices.get(price_id) if price_id else None,
        "proration": bool(details.get("proration")),
        "quantity": line["quantity"],
        "subscription": details.get("subscription"),
        "subscription_item": item,
        "type": "subscription" if item else "invoiceitem",
    }


# -- Fivetran -----------------------------------------------------------------------------------------
def fivetran_tables(objects: Mapping[str, list[Obj]]) -> dict[str, pa.Table]:
    old = legacy(objects)
    synced = {"_fivetran_synced": SYNCED}
    customer = [
        {
            "id": c["id"],
            "balance": c["balance"],
            "created": _ts(c["created"]),
            "currency": c["currency"],
            "delinquent": c["delinquent"],
            "description": c["description"],
            "email": c["email"],
            "invoice_prefix": c["invoice_prefix"],
            "is_deleted": False,
            "livemode": False,
            "metadata": json.dumps(c["metadata"]),
            "name": c["name"],
            **synced,
        }
        for c in old["customers"]
    ]
    product = [
        {
            "id": p["id"],
            "active": p["active"],
            "created": _ts(p["created"]),
            "is_deleted": False,
            "livemode": False,
            "name": p["name"],
            "type": p["type"],
            **synced,
        }
        for p in old["products"]
    ]
    price = [
        {
            "id": p["id"],
            "active": p["active"],
            "billing_scheme": p["billing_scheme"],
            "created": _ts(p["created"]),
            "currency": p["currency"],
            "is_deleted": False,
            "livemode": False,
            "metadata": json.dumps(p["metadata"]),
            "nickname": p["nickname"],
            "product_id": p["product"],
            "recurring_interval": p["recurring"]["interval"],
            "recurring_interval_count": p["recurring"]["interval_count"],
            "recurring_usage_type": p["recurring"]["usage_type"],
            "unit_amount": p["unit_amount"],
            "unit_amount_decimal": p["unit_amount_decimal"],
            **synced,
        }
        for p in old["prices"]
    ]
    coupon = [
        {
            **{k: c[k] for k in ("id", "amount_off", "currency", "duration", "name", "valid")},
            "created": _ts(c["created"]),
            "duration_in_months": c["duration_in_months"],
            "livemode": False,
            "metadata": json.dumps(c["metadata"]),
            "percent_off": float(c["percent_off"]),
            "times_redeemed": c["times_redeemed"],
            **synced,
        }
        for c in old["coupons"]
    ]
    history: list[Obj] = []
    items: list[Obj] = []
    discount: list[Obj] = []
    for s in old["subscriptions"]:
        row = {
            "id": s["id"],
            "_fivetran_active": True,
            "billing_cycle_anchor": _ts(s["billing_cycle_anchor"]),
            "cancel_at": _ts(s["cancel_at"]),
            "cancel_at_period_end": s["cancel_at_period_end"],
            "canceled_at": _ts(s["canceled_at"]),
            "collection_method": s["collection_method"],
            "created": _ts(s["created"]),
            "current_period_end": _ts(s["current_period_end"]),
            "current_period_start": _ts(s["current_period_start"]),
            "customer_id": s["customer"],
            "ended_at": _ts(s["ended_at"]),
            "livemode": False,
            "metadata": json.dumps(s["metadata"]),
            "pause_collection_behavior": None,
            "start_date": _ts(s["start_date"]),
            "status": s["status"],
            "trial_end": _ts(s["trial_end"]),
            "trial_start": _ts(s["trial_start"]),
            **synced,
        }
        if s["status"] == "canceled":  # history mode keeps the version before the cancellation
            history.append(
                {
                    **row,
                    "_fivetran_active": False,
                    "status": "active",
                    "ended_at": None,
                    "canceled_at": None,
                }
            )
        history.append(row)
        items.extend(
            {
                "id": i["id"],
                "subscription_id": s["id"],
                "created": _ts(i["created"]),
                "metadata": json.dumps(i["metadata"]),
                "plan_id": i["price"]["id"],
                "quantity": i["quantity"],
                **synced,
            }
            for i in s["items"]["data"]
        )
    for d in old["discounts"]:
        discount.append(
            {
                "id": d["id"],
                "type": "SUBSCRIPTION",
                "type_id": d["subscription"],
                "amount": None,
                "coupon_id": d["coupon"]["id"],
                "customer_id": d["customer"],
                "end": _ts(d["end"]),
                "invoice_id": None,
                "invoice_item_id": None,
                "promotion_code": None,
                "start": _ts(d["start"]),
                "subscription_id": d["subscription"],
                **synced,
            }
        )
    invoice = [
        {
            **{k: i[k] for k in ("id", "amount_due", "amount_paid", "amount_remaining")},
            **{k: i[k] for k in ("billing_reason", "currency", "paid", "status", "subtotal")},
            "created": _ts(i["created"]),
            "customer_id": i["customer"],
            "is_deleted": False,
            "livemode": False,
            "metadata": json.dumps(i["metadata"]),
            "period_end": _ts(i["period_end"]),
            "period_start": _ts(i["period_start"]),
            "subscription_id": i["subscription"],
            "total": i["total"],
            **synced,
        }
        for i in old["invoices"]
    ]
    line_item = [
        {
            "id": li["id"],
            "invoice_id": li["invoice"],
            "amount": li["amount"],
            "currency": li["currency"],
            "description": li["description"],
            "discountable": li["discountable"],
            "invoice_item_id": li["invoice_item"],
            "livemode": False,
            "metadata": json.dumps(li["metadata"]),
            "period_end": _ts(li["period"]["end"]),
            "period_start": _ts(li["period"]["start"]),
            "plan_id": li["price"]["id"] if li["price"] else None,
            "price_id": li["price"]["id"] if li["price"] else None,
            "proration": li["proration"],
            "quantity": li["quantity"],
            "subscription_id": li["subscription"],
            "subscription_item_id": li["subscription_item"],
            "type": li["type"],
            "unique_id": f"{li['invoice']}:{li['id']}",
            **synced,
        }
        for li in old["invoice_line_items"]
    ]
    charge = [
        {
            **{k: c[k] for k in ("id", "amount", "amount_refunded", "currency", "paid", "status")},
            "created": _ts(c["created"]),
            "customer_id": c["customer"],
            "invoice_id": c["invoice"],
            **synced,
        }
        for c in old["charges"]
    ]
    refund = [
        {
            **{k: r[k] for k in ("id", "amount", "currency", "reason", "status")},
            "charge_id": r["charge"],
            "created": _ts(r["created"]),
            "metadata": json.dumps(r["metadata"]),
            **synced,
        }
        for r in old["refunds"]
    ]
    credit_note = [
        {
            **{k: n[k] for k in ("id", "amount", "currency", "status", "type")},
            "created": _ts(n["created"]),
            "invoice_id": n["invoice"],
            **synced,
        }
        for n in old["credit_notes"]
    ]
    note_columns = ("id", "amount", "created", "currency", "invoice_id", "status")
    return {
        "customer": _table(customer),
        "product": _table(product),
        "price": _table(price),
        "coupon": _table(coupon, ("id", "percent_off", "duration")),
        "subscription_history": _table(history),
        "subscription_item": _table(items),
        "discount": _table(discount, ("id", "coupon_id", "subscription_id", "_fivetran_synced")),
        "invoice": _table(invoice),
        "invoice_line_item": _table(line_item),
        "charge": _table(charge, ("id", "customer_id")),
        "refund": _table(refund, ("id", "charge_id", "status")),
        "credit_note": _table(credit_note, (*note_columns, "_fivetran_synced")),
    }


# -- Airbyte ------------------------------------------------------------------------------------------
AIRBYTE_STREAMS = {
    "customers": "customers",
    "products": "products",
    "prices": "prices",
    "coupons": "coupons",
    "subscriptions": "subscriptions",
    "invoices": "invoices",
    "invoice_line_items": "invoice_line_items",
    "charges": "charges",
    "refunds": "refunds",
    "credit_notes": "credit_notes",
}


def airbyte_tables(objects: Mapping[str, list[Obj]]) -> dict[str, pa.Table]:
    old = legacy(objects)
    tables = {}
    for collection, stream in AIRBYTE_STREAMS.items():
        rows = []
        for obj in old[collection]:
            record = {
                k: v for k, v in obj.items() if not (collection == "invoices" and k == "lines")
            }
            if collection == "invoice_line_items":
                record["invoice_id"] = record["invoice"]
            row: Obj = {
                "_airbyte_raw_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{stream}/{obj['id']}")),
                "_airbyte_extracted_at": SYNCED,
                "_airbyte_meta": json.dumps({"changes": [], "sync_id": 1}),
                "_airbyte_generation_id": 0,
            }
            for key, value in record.items():
                row[key] = json.dumps(value) if isinstance(value, dict | list) else value
            rows.append(row)
        tables[stream] = _table(rows, ("id", "_airbyte_extracted_at"))
    return tables


# -- dlt ----------------------------------------------------------------------------------------------
DLT_ROOTS = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "coupons": "coupon",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "charges": "charge",
    "refunds": "refund",
    "credit_notes": "credit_note",
}


def dlt_tables(objects: Mapping[str, list[Obj]]) -> dict[str, pa.Table]:
    old = legacy(objects)
    out: dict[str, list[Obj]] = {}
    for collection, root in DLT_ROOTS.items():
        out.setdefault(root, [])
        for obj in old[collection]:
            row = _dlt_row(out, root, obj, f"{root}/{obj['id']}")
            row["_dlt_load_id"] = LOAD_ID
    return {name: _table(rows, ("id", "_dlt_load_id", "_dlt_id")) for name, rows in out.items()}


def _dlt_row(out: dict[str, list[Obj]], table: str, obj: Obj, key: str) -> Obj:
    """Flatten `obj` into a row of `table` the way dlt's normalizer does; lists go to child
    tables. Returns the row (already appended)."""
    row: Obj = {"_dlt_id": _uid(key)}
    out.setdefault(table, []).append(row)

    def flatten(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                flatten(f"{prefix}__{k}" if prefix else k, v)
        elif isinstance(value, list):
            child = f"{table}__{prefix}"
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    kid = _dlt_row(out, child, item, f"{key}/{prefix}/{index}")
                else:
                    kid = {"value": item, "_dlt_id": _uid(f"{key}/{prefix}/{index}")}
                    out.setdefault(child, []).append(kid)
                kid["_dlt_parent_id"] = row["_dlt_id"]
                kid["_dlt_list_idx"] = index
        else:
            row[prefix] = value

    flatten("", obj)
    return row


def _uid(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def write_duckdb(path: Path, schema: str, tables: Mapping[str, pa.Table]) -> None:
    """Land `tables` in schema `schema` of the DuckDB file at `path`."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(schema)}")
        con.execute(f"USE {quote(schema)}")
        for name, table in tables.items():
            con.from_arrow(table).create(quote(name))
    finally:
        con.close()
