"""Stripe as an ELT tool landed it in a warehouse, read through Ibis from any database URL it
connects to and rebuilt as the Stripe API objects `tenure.sources.stripe`'s transform consumes
(one transform: the subscription history is rebuilt from invoice lines the same way).

Layouts, each following a published schema:
- fivetran: Fivetran's Stripe connector as modelled by fivetran/dbt_stripe_source (macros
  get_*_columns.sql): `customer` (`metadata` JSON text, `is_deleted`), `product`, `price` (or the
  legacy `plan`), `coupon`, `subscription_history` (rows with `_fivetran_active`) or
  `subscription`, `subscription_item` (`plan_id`, `quantity`), `invoice` (`customer_id`),
  `invoice_line_item` (`invoice_id`, `price_id`/`plan_id`, `proration`, `subscription_id`,
  `subscription_item_id`, `invoice_item_id`, `period_start`/`period_end`), `discount` (`type`,
  `type_id`, `coupon_id`, `subscription_id`, `invoice_item_id`, `amount`, `start`, `end`),
  `refund` (`charge_id`), `charge` (`customer_id`), `credit_note` (`invoice_id`); timestamps as
  timestamps, rows with `_fivetran_deleted` skipped. Fivetran keeps no discounts on a line: a
  subscription line carries the discounts of its subscription in force at the period's start, a
  one-time line those of its invoice item. Its `credit_note` has no out-of-band amount, so credit
  notes become refunds only where such a column exists.
- airbyte: Airbyte's source-stripe streams (airbytehq/airbyte,
  airbyte-integrations/connectors/source-stripe/source_stripe/schemas) as Destinations v2 lands
  them: `customers`, `products`, `prices`, `coupons`, `subscriptions`, `invoices`,
  `invoice_line_items` (`invoice_id`), `refunds`, `charges`, `credit_notes`, one column per
  top-level field, nested values as JSON, `_airbyte_extracted_at`; the latest extraction of an id
  wins (append syncs).
- dlt: dlt's verified source `stripe_analytics` (dlt-hub/verified-sources) as dlt normalizes it:
  tables `customer`, `product`, `price`, `coupon`, `subscription`, `invoice` (plus `refund`,
  `charge`, `credit_note` when those endpoints are loaded) with nested objects flattened into
  `a__b` columns and lists in child tables (`invoice__lines__data`,
  `invoice__lines__data__discounts`, `subscription__items__data`, ...) joined by
  `_dlt_parent_id` = `_dlt_id`, ordered by `_dlt_list_idx`, scalars in `value`; `_dlt_load_id`.

The three land the objects of the API version they call (2022-11-15 for dlt, the columns above
for Fivetran and Airbyte): a line's `price`, `proration`, `subscription`, `subscription_item`
and `invoice_item` become the `parent` / `pricing` of today's API, discount ids are expanded from
the subscriptions' (and customers') `discount`, a refund's charge from `charge`/`charges`.

Sync: each stream is incremental by the layout's sync column (`_fivetran_synced`,
`_airbyte_extracted_at`, `_dlt_load_id`): the cursor is the newest value seen (over the stream's
table and its line or item table) and the next sync reads the objects changed after it, in full.
dlt replaces its tables on every load, so a new load re-reads everything (and merges unchanged).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import ibis
import ibis.expr.types as ir
import pandas as pd

from tenure.errors import TenureError
from tenure.sources import stripe
from tenure.sources.base import Connector, Page, Record

OPTIONS: dict[str, str] = {
    "layout": "whose tables: fivetran, airbyte or dlt",
    "schema": "the schema (database) holding them (default stripe)",
    "account_key": stripe.OPTIONS["account_key"],
}
SECRET = "the warehouse URL for Ibis (duckdb:///file, postgres://user:password@host/db, ...)"
SECRET_ENV = "STRIPE_WAREHOUSE_URL"

LAYOUTS = ("fivetran", "airbyte", "dlt")
SYNCED = {"fivetran": "_fivetran_synced", "airbyte": "_airbyte_extracted_at", "dlt": "_dlt_load_id"}
PAGE = 5000
OPTIONAL = frozenset({"refunds", "credit_notes"})  # dlt's default endpoints leave them out
# Airbyte keeps nested values as JSON text.
NESTED = frozenset(
    {
        "metadata",
        "items",
        "lines",
        "period",
        "price",
        "plan",
        "discount",
        "discounts",
        "discount_amounts",
        "recurring",
        "pause_collection",
        "charge",
        "coupon",
        "parent",
        "pricing",
    }
)
# stream -> (table, its line/item table and the column naming the parent) per layout
FIVETRAN = {
    "customers": ("customer", None),
    "products": ("product", None),
    "prices": ("price", None),
    "coupons": ("coupon", None),
    "subscriptions": ("subscription", ("subscription_item", "subscription_id")),
    "invoices": ("invoice", ("invoice_line_item", "invoice_id")),
    "credit_notes": ("credit_note", None),
    "refunds": ("refund", None),
}
AIRBYTE = {
    "customers": ("customers", None),
    "products": ("products", None),
    "prices": ("prices", None),
    "coupons": ("coupons", None),
    "subscriptions": ("subscriptions", None),
    "invoices": ("invoices", ("invoice_line_items", "invoice_id")),
    "credit_notes": ("credit_notes", None),
    "refunds": ("refunds", None),
}
DLT = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "coupons": "coupon",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "credit_notes": "credit_note",
    "refunds": "refund",
}


def unix(value: Any) -> int | None:
    """Unix seconds from a warehouse timestamp (naive = UTC) or an integer."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return int(value.timestamp())
    if isinstance(value, str):
        return unix(pd.Timestamp(value).to_pydatetime())
    return int(value)


def _json(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in ("{", "["):
        return json.loads(value)
    return value


def _cursor_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return str(value)


class StripeWarehouse(Connector):
    kind = "stripe_elt"
    streams: ClassVar[tuple[str, ...]] = stripe.StripeConnector.streams

    def __init__(self, options: Mapping[str, str], url: str) -> None:
        unknown = set(options) - set(OPTIONS)
        if unknown:
            raise TenureError(f"stripe_elt: unknown option(s) {', '.join(sorted(unknown))}")
        self.layout = options.get("layout", "")
        if self.layout not in LAYOUTS:
            raise TenureError("stripe_elt: the layout option must be fivetran, airbyte or dlt")
        if not url:
            raise TenureError(f"stripe_elt: no warehouse URL (set {SECRET_ENV})")
        # The API connector's transform, with its check of account_key; it never connects.
        self._api = stripe.build({"account_key": options.get("account_key", "id")}, "unused")
        self._url = url
        self.schema = options.get("schema", "stripe")
        self.synced = SYNCED[self.layout]
        self._con: Any = None
        self._tables: set[str] | None = None

    def __repr__(self) -> str:
        return f"StripeWarehouse(layout={self.layout!r}, schema={self.schema!r})"

    # -- the warehouse -----------------------------------------------------------------------------
    def _has(self, name: str) -> bool:
        if self._tables is None:
            self._connect()
            self._tables = set(self._con.list_tables(database=self.schema))
        return name in self._tables

    def _connect(self) -> None:
        if self._con is None:
            self._con = ibis.connect(self._url)

    def _table(self, name: str) -> ir.Table:
        self._connect()
        table: ir.Table = self._con.table(name, database=self.schema)
        if "_fivetran_deleted" in table.columns:
            table = table.filter(~table._fivetran_deleted.fill_null(False))
        if "_fivetran_active" in table.columns:
            table = table.filter(table._fivetran_active.fill_null(True))
        return table

    def _rows(self, name: str, where: Any = None) -> list[Record]:
        """The rows of table `name` (none when it is missing), filtered by where(table)."""
        if not self._has(name):
            return []
        table = self._table(name)
        if where is not None:
            table = table.filter(where(table))
        rows: list[Record] = table.to_pyarrow().to_pylist()
        return rows

    def _newest(self, names: Sequence[str]) -> Any:
        newest = None
        for name in names:
            if self._has(name) and self.synced in (table := self._table(name)).columns:
                value = table[self.synced].max().to_pyarrow().as_py()
                if value is not None and (newest is None or value > newest):
                    newest = value
        return newest

    # -- pulling -----------------------------------------------------------------------------------
    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        try:
            newest, records = self._read(stream, cursor)
        except TenureError:
            raise
        except Exception as error:  # any driver's error; the URL (and its password) kept out
            text = str(error).replace(self._url, "***").splitlines()[0] if str(error) else ""
            raise TenureError(f"stripe_elt: {stream}: {type(error).__name__}: {text}") from None
        last = _cursor_text(newest) or cursor
        for start in range(0, max(len(records), 1), PAGE):
            done = start + PAGE >= len(records)
            yield Page(stream, records[start : start + PAGE], last if done else cursor)

    def _read(self, stream: str, cursor: str | None) -> tuple[Any, list[Record]]:
        if self.layout == "dlt":
            table = DLT[stream]
            self._require(stream, table)
            newest = self._newest([table])
            if cursor is not None and _cursor_text(newest) == cursor:
                return newest, []
            return newest, self._dlt(stream)
        layout = FIVETRAN if self.layout == "fivetran" else AIRBYTE
        table, child = layout[stream]
        if self.layout == "fivetran":
            table = self._fivetran_table(stream) or table
        self._require(stream, table)
        names = [table] + ([child[0]] if child else [])
        newest = self._newest(names)
        ids = self._changed(table, child, cursor)
        if ids is not None and not ids:
            return newest, []
        if self.layout == "fivetran":
            return newest, self._fivetran(stream, table, ids)
        return newest, self._airbyte(stream, ids)

    def _require(self, stream: str, table: str) -> None:
        """A stream's own table must be there; refunds and credit notes may not be landed."""
        if stream not in OPTIONAL and not self._has(table):
            raise TenureError(f"stripe_elt: {stream}: no table {table} in schema {self.schema}")

    def _after(self, cursor: str) -> Any:
        def where(table: ir.Table) -> Any:
            column = table[self.synced]
            if column.type().is_timestamp():
                return column > ibis.literal(dt.datetime.fromisoformat(cursor))
            return column > cursor

        return where

    def _changed(self, table: str, child: tuple[str, str] | None, cursor: str | None) -> Any:
        """The ids changed after `cursor` in the table or its child table; None = all."""
        if cursor is None:
            return None
        where = self._after(cursor)
        ids = {r["id"] for r in self._rows(table, where)}
        if child is not None:
            ids |= {r[child[1]] for r in self._rows(child[0], where)}
        return ids

    # -- Fivetran ----------------------------------------------------------------------------------
    def _fivetran_table(self, stream: str) -> str | None:
        if stream == "prices" and not self._has("price"):
            return "plan"
        if stream == "subscriptions" and self._has("subscription_history"):
            return "subscription_history"
        return None

    def _fivetran(self, stream: str, table: str, ids: set[Any] | None) -> list[Record]:
        def only(column: str) -> Any:
            return None if ids is None else (lambda t: t[column].isin(sorted(ids)))

        rows = self._rows(table, only("id"))
        if stream == "customers":
            return [
                {
                    "id": r["id"],
                    "name": r.get("name"),
                    "email": r.get("email"),
                    "created": unix(r["created"]),
                    "metadata": _json(r.get("metadata")) or {},
                    "deleted": bool(r.get("is_deleted")),
                }
                for r in rows
            ]
        if stream == "products":
            return [{"id": r["id"], "name": r.get("name")} for r in rows]
        if stream == "prices":
            return [_fivetran_price(r) for r in rows]
        if stream == "coupons":
            keys = ("id", "name", "duration", "duration_in_months", "percent_off", "amount_off")
            return [{k: r.get(k) for k in keys} for r in rows]
        if stream == "subscriptions":
            return self._fivetran_subscriptions(rows, only("subscription_id"))
        if stream == "invoices":
            return self._fivetran_invoices(rows, only("invoice_id"))
        if stream == "refunds":
            charges = {c["id"]: c.get("customer_id") for c in self._rows("charge")}
            return [
                {
                    "id": r["id"],
                    "status": r.get("status"),
                    "amount": r["amount"],
                    "currency": r["currency"],
                    "created": unix(r["created"]),
                    "charge": {"id": r["charge_id"], "customer": charges.get(r["charge_id"])}
                    if r.get("charge_id") in charges
                    else r.get("charge_id"),
                }
                for r in rows
            ]
        customers = {
            i["id"]: i.get("customer_id") for i in self._rows("invoice") if i.get("customer_id")
        }
        return [
            {
                "id": r["id"],
                "status": r.get("status"),
                "customer": r.get("customer_id") or customers.get(r.get("invoice_id")),
                "created": unix(r["created"]),
                "currency": r["currency"],
                "out_of_band_amount": r.get("out_of_band_amount"),
            }
            for r in rows
        ]

    def _fivetran_subscriptions(self, rows: list[Record], only_items: Any) -> list[Record]:
        items: dict[Any, list[Record]] = defaultdict(list)
        for item in self._rows("subscription_item", only_items):
            items[item["subscription_id"]].append(item)
        subs = []
        for r in rows:
            period_end = unix(r.get("current_period_end"))
            behavior = r.get("pause_collection_behavior")
            subs.append(
                {
                    "id": r["id"],
                    "customer": r["customer_id"],
                    "status": r.get("status"),
                    "canceled_at": unix(r.get("canceled_at")),
                    "cancel_at": unix(r.get("cancel_at")),
                    "cancel_at_period_end": bool(r.get("cancel_at_period_end")),
                    "ended_at": unix(r.get("ended_at")),
                    "trial_start": unix(r.get("trial_start")),
                    "trial_end": unix(r.get("trial_end")),
                    "pause_collection": {"behavior": behavior} if behavior else None,
                    "items": {
                        "data": [
                            {
                                "id": i["id"],
                                "price": {"id": i.get("price_id") or i.get("plan_id")},
                                "quantity": i.get("quantity"),
                                "current_period_end": period_end,
                            }
                            for i in sorted(items.get(r["id"], []), key=lambda i: str(i["id"]))
                        ]
                    },
                }
            )
        return subs

    def _fivetran_invoices(self, rows: list[Record], only_lines: Any) -> list[Record]:
        coupons: dict[str, list[tuple[int, int | None, str, int | None]]] = defaultdict(list)
        for d in self._rows("discount"):
            if not d.get("coupon_id"):
                continue
            entry = (unix(d.get("start")) or 0, unix(d.get("end")), d["coupon_id"], d.get("amount"))
            if d.get("invoice_item_id"):
                coupons[f"ii:{d['invoice_item_id']}"].append(entry)
            elif d.get("subscription_id"):
                coupons[f"sub:{d['subscription_id']}"].append(entry)
        lines: dict[Any, list[Record]] = defaultdict(list)
        for line in self._rows("invoice_line_item", only_lines):
            start, end = unix(line.get("period_start")), unix(line.get("period_end"))
            if line.get("invoice_item_id") and not line.get("subscription_item_id"):
                applied = coupons.get(f"ii:{line['invoice_item_id']}", [])
            else:
                applied = [
                    c
                    for c in coupons.get(f"sub:{line.get('subscription_id')}", [])
                    if c[0] <= (start or 0) and (c[1] is None or (start or 0) < c[1])
                ]
            old = {
                "id": line["id"],
                "amount": line["amount"],
                "currency": line["currency"],
                "quantity": line.get("quantity"),
                "period": {"start": start, "end": end},
                "price": line.get("price_id") or line.get("plan_id"),
                "proration": bool(line.get("proration")),
                "subscription": line.get("subscription_id"),
                "subscription_item": line.get("subscription_item_id"),
                "invoice_item": line.get("invoice_item_id"),
                "discounts": [{"source": {"coupon": c[2]}} for c in applied],
                "discount_amounts": [{"amount": c[3]} for c in applied if c[3] is not None]
                if line.get("invoice_item_id") and not line.get("subscription_item_id")
                else [],
            }
            lines[line["invoice_id"]].append(modern_line(old, {}))
        return [
            {
                "id": r["id"],
                "customer": r["customer_id"],
                "status": r.get("status"),
                "created": unix(r["created"]),
                "currency": r.get("currency"),
                "lines": {"data": lines.get(r["id"], []), "has_more": False},
            }
            for r in rows
            if not r.get("is_deleted")
        ]

    # -- Airbyte -----------------------------------------------------------------------------------
    def _airbyte_rows(self, name: str, ids: set[Any] | None, key: str = "id") -> list[Record]:
        rows = self._rows(name, None if ids is None else (lambda t: t[key].isin(sorted(ids))))
        rows.sort(key=lambda r: (r.get("_airbyte_extracted_at") is None, r.get(self.synced)))
        latest: dict[Any, Record] = {}
        for row in rows:
            record = {
                k: (_json(v) if k in NESTED else v)
                for k, v in row.items()
                if not k.startswith("_airbyte_")
            }
            latest[record["id"]] = record
        return list(latest.values())

    def _airbyte(self, stream: str, ids: set[Any] | None) -> list[Record]:
        records = self._airbyte_rows(AIRBYTE[stream][0], ids)
        if stream == "subscriptions":
            return [modern_subscription(r) for r in records]
        if stream == "invoices":
            discounts = self._discounts(
                self._airbyte_rows("subscriptions", None) + self._airbyte_rows("customers", None)
            )
            lines: dict[Any, list[Record]] = defaultdict(list)
            if self._has("invoice_line_items"):
                for line in self._airbyte_rows("invoice_line_items", ids, "invoice_id"):
                    lines[line.get("invoice_id") or line.get("invoice")].append(line)
            for invoice in records:
                data = lines.get(invoice["id"]) or (invoice.get("lines") or {}).get("data") or []
                invoice["lines"] = {
                    "data": [modern_line(line, discounts) for line in data],
                    "has_more": False,
                }
            return records
        if stream == "refunds":
            charges = {c["id"]: c for c in self._airbyte_rows("charges", None)}
            for refund in records:
                charge = refund.get("charge")
                if isinstance(charge, str) and charge in charges:
                    refund["charge"] = charges[charge]
            return records
        return records

    def _discounts(self, owners: Sequence[Record]) -> dict[str, Record]:
        """Discount objects by id, from the `discount` (and expanded `discounts`) of subscriptions
        and customers."""
        found: dict[str, Record] = {}
        for owner in owners:
            candidates = [owner.get("discount"), *(owner.get("discounts") or [])]
            for discount in candidates:
                if isinstance(discount, Mapping) and discount.get("id"):
                    found[str(discount["id"])] = dict(discount)
        return found

    # -- dlt ---------------------------------------------------------------------------------------
    def _dlt(self, stream: str) -> list[Record]:
        records = self._dlt_objects(DLT[stream])
        if stream == "subscriptions":
            return [modern_subscription(r) for r in records]
        if stream == "invoices":
            owners = self._dlt_objects("subscription") + self._dlt_objects("customer")
            discounts = self._discounts(owners)
            for invoice in records:
                data = (invoice.get("lines") or {}).get("data") or []
                invoice["lines"] = {
                    "data": [modern_line(line, discounts) for line in data],
                    "has_more": False,
                }
        if stream == "refunds":
            charges = {c["id"]: c for c in self._dlt_objects("charge")}
            for refund in records:
                charge = refund.get("charge")
                if isinstance(charge, str) and charge in charges:
                    refund["charge"] = charges[charge]
        return records

    def _dlt_objects(self, table: str) -> list[Record]:
        """The objects of a dlt root table, nested back from `a__b` columns and child tables."""
        if not self._has(table):
            return []
        self._connect()
        prefix = f"{table}__"
        children = sorted(
            (t for t in self._tables or () if t.startswith(prefix)), key=lambda t: t.count("__")
        )
        rows = self._rows(table)
        by_dlt_id = {row["_dlt_id"]: unflatten(row) or {} for row in rows}
        nodes: dict[str, tuple[str, Record]] = {k: (table, v) for k, v in by_dlt_id.items()}
        for child in children:
            kids = self._rows(child)
            kids.sort(key=lambda r: (r["_dlt_parent_id"], r["_dlt_list_idx"]))
            for kid in kids:
                parent = nodes.get(kid["_dlt_parent_id"])
                if parent is None:
                    continue
                path = child[len(parent[0]) + 2 :].split("__")
                value: Any = kid["value"] if "value" in kid else unflatten(kid) or {}
                holder = parent[1]
                for key in path[:-1]:
                    if not isinstance(holder.get(key), dict):
                        holder[key] = {}
                    holder = holder[key]
                if not isinstance(holder.get(path[-1]), list):
                    holder[path[-1]] = []
                holder[path[-1]].append(value)
                if isinstance(value, dict):
                    nodes[kid["_dlt_id"]] = (child, value)
        return list(by_dlt_id.values())

    # -- transform ---------------------------------------------------------------------------------
    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        return self._api.transform(staged)


def unflatten(row: Mapping[str, Any]) -> Record:
    """A dlt row as the object it came from: `a__b` columns nested, dlt's columns dropped, and a
    nested object whose fields are all null is null."""
    out: Record = {}
    for key, value in row.items():
        if key.startswith("_dlt_"):
            continue
        parts = key.split("__")
        holder = out
        for part in parts[:-1]:
            if not isinstance(holder.get(part), dict):  # a null `a` beside `a__b` columns
                holder[part] = {}
            holder = holder[part]
        if value is not None or parts[-1] not in holder:
            holder[parts[-1]] = value
    return _prune(out)  # type: ignore[no-any-return]


def _prune(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    pruned = {k: _prune(v) for k, v in value.items()}
    if pruned and all(v is None for v in pruned.values()):
        return None
    return pruned


def _fivetran_price(r: Record) -> Record:
    """A `price` row (or a legacy `plan` row, whose columns dbt_stripe_source aliases)."""
    interval = r.get("recurring_interval", r.get("interval"))
    return {
        "id": r["id"],
        "product": r.get("product_id"),
        "nickname": r.get("nickname"),
        "currency": r.get("currency"),
        "billing_scheme": r.get("billing_scheme"),
        "unit_amount": r.get("unit_amount", r.get("amount")),
        "unit_amount_decimal": r.get("unit_amount_decimal"),
        "recurring": {
            "interval": interval,
            "interval_count": r.get("recurring_interval_count", r.get("interval_count")),
            "usage_type": r.get("recurring_usage_type", r.get("usage_type")),
        }
        if interval
        else None,
    }


def modern_subscription(sub: Record) -> Record:
    """Before API 2025-03-31 a subscription's current period was its own, not its items'."""
    items = (sub.get("items") or {}).get("data") or []
    for item in items:
        if item.get("current_period_end") is None:
            item["current_period_end"] = sub.get("current_period_end")
    return {**sub, "items": {**(sub.get("items") or {}), "data": items}}


def modern_line(line: Record, discounts: Mapping[str, Record]) -> Record:
    """An invoice line of the older API (price, proration, subscription, subscription_item,
    invoice_item on the line) in today's shape (parent, pricing), discount ids expanded."""
    expanded = [
        discounts.get(d, d) if isinstance(d, str) else d for d in line.get("discounts") or []
    ]
    if line.get("parent"):
        return {**line, "discounts": expanded}
    price = line.get("price") or line.get("plan")
    price_id = price.get("id") if isinstance(price, Mapping) else price
    proration = bool(line.get("proration"))
    if line.get("subscription_item"):
        parent = {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": line.get("invoice_item"),
                "proration": proration,
                "subscription": line.get("subscription"),
                "subscription_item": line["subscription_item"],
            },
        }
    else:
        parent = {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": line.get("invoice_item"),
                "proration": proration,
                "subscription": line.get("subscription"),
            },
            "subscription_item_details": None,
        }
    return {
        "id": line["id"],
        "amount": line.get("amount"),
        "currency": line.get("currency"),
        "quantity": line.get("quantity"),
        "period": line.get("period"),
        "discounts": expanded,
        "discount_amounts": line.get("discount_amounts") or [],
        "parent": parent,
        "pricing": {"type": "price_details", "price_details": {"price": price_id}}
        if price_id
        else None,
    }


def build(options: Mapping[str, str], secret: str | None) -> Connector:
    return StripeWarehouse(options, secret or "")
