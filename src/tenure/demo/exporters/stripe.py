"""The demo company as Stripe API objects (API version 2026-10-28.endive, as the `stripe` package
parses them): customers, products, prices, coupons, discounts, subscriptions, invoices with a line
per billing period, charges and refunds.

Each run of demo subscription rows that follow one another (a price or seat change ends a row and
starts the next at the same instant) is one Stripe subscription whose item changes with
`billing_cycle_anchor=now`: the change invoice credits the unused time of the old state (a
proration) and bills a full period of the new one. A trial is a $0 line up to the trial end, when
the billing anchor moves; a churn is a cancellation at the row's end (`cancel_at`, proration
none), still scheduled when that end is after `as_of`. Discounts are `forever` percent coupons.
One-time orders are paid invoices of one invoice item; refunds refund the charge of a one-time
order of the same account and amount.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from tenure.demo.company import LOCAL

Obj = dict[str, Any]
COLLECTIONS = (
    "customers",
    "products",
    "prices",
    "coupons",
    "discounts",
    "subscriptions",
    "invoices",
    "charges",
    "refunds",
    "credit_notes",
)


def _unix(value: Any) -> int:
    stamp = pd.Timestamp(value)
    return (
        int(stamp.tz_localize("UTC").timestamp())
        if stamp.tzinfo is None
        else int(stamp.timestamp())
    )


def _minor(amount: Any, currency: str) -> int:
    return int(Decimal(str(amount)).scaleb(LOCAL[currency][2]))


def add_months(t: int, months: int) -> int:
    """Stripe's billing arithmetic: the same day and time `months` later, clipped to month end."""
    when = dt.datetime.fromtimestamp(t, dt.UTC)
    index = when.year * 12 + when.month - 1 + months
    year, month = divmod(index, 12)
    next_month = dt.date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    last_day = (next_month - dt.timedelta(days=1)).day
    return int(when.replace(year=year, month=month + 1, day=min(when.day, last_day)).timestamp())


def _null(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


class _Writer:
    def __init__(self, as_of: int) -> None:
        self.as_of = as_of
        self.out: dict[str, list[Obj]] = {name: [] for name in COLLECTIONS}
        self.prices: dict[tuple[str, str, int, int], Obj] = {}
        self.products: dict[str, Obj] = {}
        self.coupons: dict[Decimal, Obj] = {}
        self.invoice_number = 0
        self.line_number = 0

    # -- catalog --------------------------------------------------------------------------------
    def product(self, plan: str) -> Obj:
        if plan not in self.products:
            self.products[plan] = {
                "id": f"prod_{plan}",
                "object": "product",
                "active": True,
                "created": 1_600_000_000,
                "name": plan,
                "livemode": False,
                "metadata": {},
                "type": "service",
            }
        return self.products[plan]

    def price(self, plan: str, currency: str, months: int, unit: int) -> Obj:
        key = (plan, currency, months, unit)
        if key not in self.prices:
            self.prices[key] = {
                "id": f"price_{plan}_{currency.lower()}_{months}m_{unit}",
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": 1_600_000_000,
                "currency": currency.lower(),
                "livemode": False,
                "metadata": {},
                "nickname": None,
                "product": self.product(plan)["id"],
                "recurring": {
                    "interval": "month",
                    "interval_count": months,
                    "meter": None,
                    "usage_type": "licensed",
                },
                "tax_behavior": "unspecified",
                "type": "recurring",
                "unit_amount": unit,
                "unit_amount_decimal": str(unit),
            }
        return self.prices[key]

    def coupon(self, fraction: Decimal) -> Obj:
        if fraction not in self.coupons:
            percent = float(fraction * 100)
            self.coupons[fraction] = {
                "id": f"demo_{percent:g}_off",
                "object": "coupon",
                "amount_off": None,
                "created": 1_600_000_000,
                "currency": None,
                "duration": "forever",
                "duration_in_months": None,
                "livemode": False,
                "metadata": {},
                "name": f"{percent:g}% off",
                "percent_off": percent,
                "times_redeemed": 0,
                "valid": True,
            }
        return self.coupons[fraction]

    # -- invoices -------------------------------------------------------------------------------
    def invoice(
        self, customer: str, created: int, currency: str, lines: list[Obj], sub: str | None
    ) -> Obj:
        self.invoice_number += 1
        invoice_id = f"in_{self.invoice_number:08d}"
        for line in lines:
            line["invoice"] = invoice_id
        subtotal = sum(line["amount"] for line in lines)
        discounts = sum(d["amount"] for line in lines for d in line["discount_amounts"])
        total = subtotal - discounts
        invoice: Obj = {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": max(total, 0),
            "amount_paid": max(total, 0),
            "amount_remaining": 0,
            "billing_reason": "subscription_cycle" if sub else "manual",
            "collection_method": "charge_automatically",
            "created": created,
            "currency": currency.lower(),
            "customer": customer,
            "discounts": [],
            "lines": {
                "object": "list",
                "data": lines,
                "has_more": False,
                "url": f"/v1/invoices/{invoice_id}/lines",
            },
            "livemode": False,
            "metadata": {},
            "parent": {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": sub},
            }
            if sub
            else None,
            "period_end": created,
            "period_start": created,
            "status": "paid",
            "status_transitions": {
                "finalized_at": created,
                "marked_uncollectible_at": None,
                "paid_at": created,
                "voided_at": None,
            },
            "subtotal": subtotal,
            "total": total,
            "total_discount_amounts": [],
        }
        self.out["invoices"].append(invoice)
        return invoice

    def line(
        self,
        *,
        amount: int,
        currency: str,
        period: tuple[int, int],
        price: Obj | None,
        quantity: int,
        parent: Obj,
        discount: Obj | None = None,
        fraction: Decimal = Decimal(0),
        description: str = "",
    ) -> Obj:
        self.line_number += 1
        off = int((Decimal(amount) * fraction).to_integral_value()) if discount else 0
        return {
            "id": f"il_{self.line_number:09d}",
            "object": "line_item",
            "amount": amount,
            "currency": currency.lower(),
            "description": description,
            "discount_amounts": [{"amount": off, "discount": discount["id"]}] if discount else [],
            "discountable": not parent.get("proration", False),
            "discounts": [discount["id"]] if discount else [],
            "livemode": False,
            "metadata": {},
            "parent": parent,
            "period": {"end": period[1], "start": period[0]},
            "pretax_credit_amounts": [],
            "pricing": {
                "type": "price_details",
                "price_details": {"price": price["id"], "product": price["product"]},
                "unit_amount_decimal": price["unit_amount_decimal"],
            }
            if price
            else None,
            "quantity": quantity,
            "subtotal": amount,
            "taxes": [],
        }


def stripe_objects(tables: Mapping[str, pd.DataFrame], as_of: dt.datetime) -> dict[str, list[Obj]]:
    """Every Stripe object of the demo company (accounts, subscriptions and orders tables) that
    exists at `as_of`, by collection."""
    writer = _Writer(_unix(as_of))
    customers = _customers(writer, tables["accounts"])
    subs = tables["subscriptions"].sort_values(["account_id", "started_at", "subscription_id"])
    for account, rows in subs.groupby("account_id", sort=True):
        chain: list[Any] = []
        for row in rows.itertuples(index=False):
            if chain and not _continues(chain[-1], row):
                _subscription(writer, customers[str(account)], chain)
                chain = []
            chain.append(row)
        if chain:
            _subscription(writer, customers[str(account)], chain)
    _orders(writer, tables["orders"], customers)
    writer.out["products"] = list(writer.products.values())
    writer.out["prices"] = list(writer.prices.values())
    writer.out["coupons"] = list(writer.coupons.values())
    return writer.out


def _continues(previous: Any, row: Any) -> bool:
    """A change: the previous row ended (not canceled) at the instant this one starts."""
    return (
        not _null(previous.ended_at)
        and _null(previous.canceled_at)
        and _unix(previous.ended_at) == _unix(row.started_at)
    )


def _customers(writer: _Writer, accounts: pd.DataFrame) -> dict[str, str]:
    ids: dict[str, str] = {}
    extra = [c for c in accounts.columns if c not in ("account_id", "name", "created_at")]
    for row in accounts.to_dict("records"):
        customer_id = f"cus_{row['account_id']}"
        ids[str(row["account_id"])] = customer_id
        metadata = {"account_id": str(row["account_id"])}
        metadata.update({c: str(row[c]) for c in extra if not _null(row[c])})
        writer.out["customers"].append(
            {
                "id": customer_id,
                "object": "customer",
                "balance": 0,
                "created": _unix(row["created_at"]),
                "currency": None,
                "delinquent": False,
                "description": None,
                "email": None,
                "invoice_prefix": customer_id[-8:].upper(),
                "livemode": False,
                "metadata": metadata,
                "name": row["name"],
            }
        )
    return ids


def _subscription(writer: _Writer, customer: str, chain: list[Any]) -> None:
    as_of = writer.as_of
    first, last = chain[0], chain[-1]
    sub_id = f"sub_{first.subscription_id}"
    item_id = f"si_{first.subscription_id}"
    currency = str(first.currency)
    fraction = Decimal(str(first.discount))
    discount: Obj | None = None
    if fraction > 0:
        discount = {
            "id": f"di_{first.subscription_id}",
            "object": "discount",
            "customer": customer,
            "end": None,
            "invoice": None,
            "invoice_item": None,
            "promotion_code": None,
            "source": {"coupon": writer.coupon(fraction)["id"], "type": "coupon"},
            "start": _unix(first.started_at),
            "subscription": sub_id,
            "subscription_item": None,
        }
        writer.out["discounts"].append(discount)
    trial_start = trial_end = None
    previous: tuple[Obj, int, int, int] | None = None  # line amount, period of the last line
    period = (0, 0)
    price: Obj = {}
    for j, row in enumerate(chain):
        start = _unix(row.started_at)
        end = _unix(row.ended_at) if not _null(row.ended_at) else None
        stop = min(end, as_of) if end is not None else as_of
        months = int(row.billing_period)
        unit = _minor(row.amount, currency)
        price = writer.price(str(row.plan), currency, months, unit)
        quantity = int(row.quantity)
        sub_parent = {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
                "subscription_item": item_id,
            },
        }
        lines: list[Obj] = []
        if previous is not None:  # the change credits the unused time of the old state
            old_price, old_quantity, old_start, old_end = previous
            old_amount = old_price["unit_amount"] * old_quantity
            unused = -round(old_amount * (old_end - start) / (old_end - old_start))
            credit_parent = json.loads(json.dumps(sub_parent))
            credit_parent["subscription_item_details"]["proration"] = True
            lines.append(
                writer.line(
                    amount=unused,
                    currency=currency,
                    period=(start, old_end),
                    price=old_price,
                    quantity=old_quantity,
                    parent=credit_parent,
                    description=f"Unused time on {old_quantity} × {old_price['id']}",
                )
            )
        anchor = start
        if j == 0 and not _null(row.trial_ends_at):
            trial_start = start
            trial_end = (
                _unix(row.trial_ends_at) if end is None else min(_unix(row.trial_ends_at), end)
            )
            lines.append(
                writer.line(
                    amount=0,
                    currency=currency,
                    period=(start, trial_end),
                    price=price,
                    quantity=quantity,
                    parent=sub_parent,
                    discount=discount,
                    fraction=fraction,
                    description=f"Trial period for {price['product']}",
                )
            )
            writer.invoice(customer, start, currency, lines, sub_id)
            lines = []
            anchor = trial_end
            period = (start, trial_end)
        k = 0
        while add_months(anchor, k * months) < stop:
            period = (add_months(anchor, k * months), add_months(anchor, (k + 1) * months))
            lines.append(
                writer.line(
                    amount=price["unit_amount"] * quantity,
                    currency=currency,
                    period=period,
                    price=price,
                    quantity=quantity,
                    parent=sub_parent,
                    discount=discount,
                    fraction=fraction,
                    description=f"{quantity} × {price['product']}",
                )
            )
            writer.invoice(customer, period[0], currency, lines, sub_id)
            lines = []
            k += 1
        if lines:
            writer.invoice(customer, start, currency, lines, sub_id)
        previous = (price, quantity, period[0], period[1])
    end = _unix(last.ended_at) if not _null(last.ended_at) else None
    canceled = _unix(last.canceled_at) if not _null(last.canceled_at) else None
    ended = end is not None and end <= as_of and canceled is not None
    trialing = trial_end is not None and trial_end > as_of and len(chain) == 1
    writer.out["subscriptions"].append(
        {
            "id": sub_id,
            "object": "subscription",
            "billing_cycle_anchor": period[0],
            "cancel_at": end if canceled is not None and not ended else None,
            "cancel_at_period_end": bool(canceled is not None and not ended and end == period[1]),
            "canceled_at": canceled,
            "collection_method": "charge_automatically",
            "created": _unix(first.started_at),
            "currency": currency.lower(),
            "customer": customer,
            "discounts": [discount["id"]] if discount else [],
            "ended_at": end if ended else None,
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": item_id,
                        "object": "subscription_item",
                        "created": _unix(first.started_at),
                        "current_period_end": period[1],
                        "current_period_start": period[0],
                        "metadata": {},
                        "price": price,
                        "quantity": int(last.quantity),
                        "subscription": sub_id,
                    }
                ],
                "has_more": False,
                "url": f"/v1/subscription_items?subscription={sub_id}",
            },
            "livemode": False,
            "metadata": {},
            "pause_collection": None,
            "start_date": _unix(first.started_at),
            "status": "canceled" if ended else "trialing" if trialing else "active",
            "trial_end": trial_end,
            "trial_start": trial_start,
        }
    )


def _orders(writer: _Writer, orders: pd.DataFrame, customers: Mapping[str, str]) -> None:
    charges: dict[tuple[str, int], list[Obj]] = defaultdict(list)
    for row in orders.sort_values(["ordered_at", "order_id"]).itertuples(index=False):
        customer = customers[str(row.account_id)]
        currency = str(row.currency)
        amount = _minor(row.amount, currency)
        created = _unix(row.ordered_at)
        if row.kind == "refund":
            refunded = charges[(customer, -amount)]
            charge = refunded.pop(0) if refunded else None
            if charge is None:  # nothing of that amount to refund: a charge of its own
                charge = _charge(writer, customer, -amount, currency, created, None)
            writer.out["refunds"].append(
                {
                    "id": f"re_{row.order_id}",
                    "object": "refund",
                    "amount": -amount,
                    "charge": charge["id"],
                    "created": created,
                    "currency": currency.lower(),
                    "metadata": {},
                    "payment_intent": None,
                    "reason": "requested_by_customer",
                    "status": "succeeded",
                }
            )
            continue
        parent = {
            "type": "invoice_item_details",
            "invoice_item_details": {
                "invoice_item": f"ii_{row.order_id}",
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
        }
        line = writer.line(
            amount=amount,
            currency=currency,
            period=(created, created),
            price=None,
            quantity=1,
            parent=parent,
            description="One-time purchase",
        )
        invoice = writer.invoice(customer, created, currency, [line], None)
        charges[(customer, amount)].append(
            _charge(writer, customer, amount, currency, created, invoice["id"])
        )


def _charge(
    writer: _Writer, customer: str, amount: int, currency: str, created: int, invoice: str | None
) -> Obj:
    charge = {
        "id": f"ch_{len(writer.out['charges']) + 1:08d}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": 0,
        "created": created,
        "currency": currency.lower(),
        "customer": customer,
        "invoice": invoice,
        "paid": True,
        "status": "succeeded",
    }
    writer.out["charges"].append(charge)
    return charge


def write(demo_dir: Path, out: Path, as_of: dt.datetime) -> dict[str, int]:
    """Write the Stripe objects of the demo company generated into `demo_dir` as one JSON file
    per collection in `out`; returns the count of each."""
    tables = {
        name: pq.read_table(demo_dir / f"{name}.parquet").to_pandas()
        for name in ("accounts", "subscriptions", "orders")
    }
    objects = stripe_objects(tables, as_of)
    out.mkdir(parents=True, exist_ok=True)
    for name, items in objects.items():
        (out / f"{name}.json").write_text(json.dumps(items))
    return {name: len(items) for name, items in objects.items()}
