"""Stripe objects -> Tenure's canonical accounts, subscriptions and orders.

A Stripe Subscription holds only its current state, so the history is rebuilt from invoice lines,
as ChartMogul does. The conventions are listed in `tenure.sources.stripe` and docs/sources.md.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

Record = Mapping[str, Any]

# Stripe amounts are integers in the currency's minor unit; these currencies have none or three.
ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "JPY",
        "KMF",
        "KRW",
        "MGA",
        "PYG",
        "RWF",
        "UGX",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
THREE_DECIMAL = frozenset(["BHD", "JOD", "KWD", "OMR", "TND"])
COUNTED_INVOICES = frozenset({"open", "paid"})  # billed and not written off
NEVER_STARTED = frozenset({"incomplete", "incomplete_expired"})  # the first payment never succeeded
ACCOUNT_COLUMNS = frozenset({"account_id", "name", "created_at"})


def money(minor: int | Decimal | str, currency: str) -> Decimal:
    exponent = (
        0 if currency.upper() in ZERO_DECIMAL else 3 if currency.upper() in THREE_DECIMAL else 2
    )
    return Decimal(str(minor)).scaleb(-exponent)


def when(seconds: int | None) -> dt.datetime | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).replace(tzinfo=None)


def _id(value: Any) -> str | None:
    """An expandable field's id, whether it came expanded or not."""
    if value is None or isinstance(value, str):
        return value
    return str(value["id"])


class AccountKeys:
    """Which account a Stripe customer is: its id, or a metadata field (`metadata:<field>`)."""

    def __init__(self, customers: Sequence[Record], account_key: str) -> None:
        self.field = account_key.removeprefix("metadata:") if account_key != "id" else None
        self.keys = {c["id"]: self.key(c) for c in customers}

    def key(self, customer: Record) -> str:
        if self.field is not None:
            value = (customer.get("metadata") or {}).get(self.field)
            if value:
                return str(value)
        return str(customer["id"])

    def __call__(self, customer: Any) -> str:
        cid = _id(customer) or ""
        return self.keys.get(cid, cid)


def accounts(customers: Sequence[Record], keys: AccountKeys) -> pd.DataFrame:
    rows = []
    for customer in customers:
        if customer.get("deleted"):
            continue
        row: dict[str, Any] = {
            str(k): v
            for k, v in (customer.get("metadata") or {}).items()
            if k not in ACCOUNT_COLUMNS and k != keys.field
        }
        row.update(
            account_id=keys.key(customer),
            name=customer.get("name") or customer.get("email") or customer["id"],
            created_at=when(customer["created"]),
        )
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["account_id", "name", "created_at"])


# -- subscription history from invoice lines --------------------------------------------------------
@dataclass(frozen=True)
class State:
    """What MRR depends on: one canonical subscriptions row per run of equal states."""

    price: str
    quantity: int
    discount: Decimal


@dataclass
class Segment:
    item: str
    state: State
    start: int
    covered_end: int  # the end of the last billed period seen in this state
    currency: str
    gross: int | None  # a full period's amount before discounts, for tiered prices
    last_start: int  # the start of the last billed period seen in this state
    end: int | None = None


def _subscription_parent(line: Record) -> Record | None:
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details")
    if details and details.get("subscription"):
        return details  # type: ignore[no-any-return]
    return None


def _line_price(line: Record) -> str | None:
    pricing = line.get("pricing") or {}
    details = pricing.get("price_details") or {}
    return _id(details.get("price"))


def _discount_fraction(line: Record, price: Record, coupons: Mapping[str, Record]) -> Decimal:
    """The recurring discount on a line: percent_off exactly, amount_off as its share of the
    line (rounded to 6 places); `once` coupons are one-time adjustments and do not count."""
    total = Decimal(0)
    for discount in line.get("discounts") or []:
        if isinstance(discount, str):
            continue  # not expanded: nothing to tell the coupon by
        source = discount.get("source") or {}
        coupon_ref = source.get("coupon") or discount.get("coupon")
        coupon = coupon_ref if isinstance(coupon_ref, Mapping) else coupons.get(coupon_ref or "")
        if coupon is None or coupon.get("duration") == "once":
            continue
        if coupon.get("percent_off") is not None:
            total += Decimal(str(coupon["percent_off"])) / 100
        elif coupon.get("amount_off") is not None:
            gross = int(line.get("amount") or 0) or _unit_minor(price) * int(
                line.get("quantity") or 1
            )
            if gross > 0:
                total += Decimal(int(coupon["amount_off"])) / gross
    return min(total, Decimal(1)).quantize(Decimal("0.000001"))


def _unit_minor(price: Record) -> int:
    if price.get("unit_amount") is not None:
        return int(price["unit_amount"])
    return int(Decimal(str(price.get("unit_amount_decimal") or 0)))


def _metered(price: Record) -> bool:
    return ((price.get("recurring") or {}).get("usage_type")) == "metered"


def subscriptions(
    subs: Sequence[Record],
    invoices: Sequence[Record],
    prices: Mapping[str, Record],
    products: Mapping[str, Record],
    coupons: Mapping[str, Record],
    keys: AccountKeys,
) -> pd.DataFrame:
    lines_by_sub: dict[str, list[Record]] = defaultdict(list)
    for invoice in invoices:
        if invoice.get("status") not in COUNTED_INVOICES:
            continue
        for line in (invoice.get("lines") or {}).get("data") or []:
            parent = _subscription_parent(line)
            if parent is not None:
                lines_by_sub[str(parent["subscription"])].append(line)
    rows: list[dict[str, Any]] = []
    for sub in subs:
        if sub.get("status") in NEVER_STARTED:
            continue
        segments = _segments(sub, lines_by_sub.get(sub["id"], []), prices, coupons)
        rows.extend(_rows(sub, segments, prices, products, keys))
    columns = [
        "subscription_id",
        "account_id",
        "plan",
        "started_at",
        "ended_at",
        "canceled_at",
        "billing_period",
        "billing_unit",
        "amount",
        "quantity",
        "discount",
        "currency",
        "trial_ends_at",
    ]
    return pd.DataFrame(rows, columns=columns)


def _segments(
    sub: Record,
    lines: Sequence[Record],
    prices: Mapping[str, Record],
    coupons: Mapping[str, Record],
) -> list[Segment]:
    by_item: dict[str, list[Record]] = defaultdict(list)
    for line in lines:
        price = prices.get(_line_price(line) or "")
        if price is None or _metered(price) or not price.get("recurring"):
            continue
        by_item[str(_subscription_parent(line)["subscription_item"])].append(line)  # type: ignore[index]
    current_items = {item["id"] for item in (sub.get("items") or {}).get("data") or []}
    segments: list[Segment] = []
    for item, item_lines in sorted(by_item.items()):
        item_segments: list[Segment] = []
        credits: list[tuple[int, State]] = []
        ordered = sorted(
            item_lines, key=lambda line: (line["period"]["start"], line["period"]["end"])
        )
        for line in ordered:
            price = prices[_line_price(line) or ""]
            state = State(
                price=price["id"],
                quantity=int(line.get("quantity") or 0),
                discount=_discount_fraction(line, price, coupons),
            )
            start, end = int(line["period"]["start"]), int(line["period"]["end"])
            if end <= start:
                continue  # an instant: nothing billed over time
            if _subscription_parent(line)["proration"] and int(line.get("amount") or 0) <= 0:  # type: ignore[index]
                credits.append((start, state))  # "unused time after <start>": the state stopped
                continue
            last = item_segments[-1] if item_segments else None
            proration = bool(_subscription_parent(line)["proration"])  # type: ignore[index]
            gross = None if proration else int(line.get("amount") or 0)
            # The same state billed again from inside its current period is a new billing
            # anchor (billing_cycle_anchor=now): a new row, as Tenure's billing periods (and the
            # exchange rate of each) run from a row's start.
            reanchored = gross is not None and last is not None and last.last_start < start
            if (
                last is not None
                and last.state == state
                and start <= last.covered_end
                and not (reanchored and start < last.covered_end)
            ):
                last.covered_end = max(last.covered_end, end)
                last.last_start = max(last.last_start, start)
                last.gross = gross if gross is not None else last.gross
                continue
            if last is not None and start < last.covered_end:
                last.end = start  # changed mid-period
            item_segments.append(
                Segment(item, state, start, end, str(line["currency"]).upper(), gross, start)
            )
        for seg in item_segments:
            if seg.end is None:  # a credit ends the state unless a later period billed it again
                stops = [
                    t for t, s in credits if s == seg.state and seg.last_start < t < seg.covered_end
                ]
                seg.end = min(stops) if stops else seg.covered_end
        if item_segments and item in current_items:
            _close_current(sub, item_segments[-1])
        segments.extend(item_segments)
    return segments


def _close_current(sub: Record, seg: Segment) -> None:
    """The last segment of an item still on the subscription runs until the subscription ends,
    is scheduled to end, or (paused) until the last billed period ends."""
    if sub.get("ended_at"):
        seg.end = int(sub["ended_at"])
    elif sub.get("cancel_at"):
        seg.end = int(sub["cancel_at"])
    elif sub.get("cancel_at_period_end"):
        items = (sub.get("items") or {}).get("data") or []
        seg.end = max(
            (int(i.get("current_period_end") or 0) for i in items), default=seg.covered_end
        )
    elif sub.get("pause_collection"):
        seg.end = seg.covered_end
    else:
        seg.end = None


def _rows(
    sub: Record,
    segments: Sequence[Segment],
    prices: Mapping[str, Record],
    products: Mapping[str, Record],
    keys: AccountKeys,
) -> list[dict[str, Any]]:
    rows = []
    canceled = (
        sub.get("canceled_at")
        if (
            sub.get("status") == "canceled"
            or sub.get("cancel_at_period_end")
            or sub.get("cancel_at")
        )
        else None
    )
    last_end = max((s.end or 2**62 for s in segments), default=0)
    trial_start: Any = sub.get("trial_start")
    trial_end: Any = sub.get("trial_end")
    for seg in segments:
        price = prices[seg.state.price]
        recurring = price["recurring"]
        product = products.get(_id(price.get("product")) or "") or {}
        is_last = (seg.end or 2**62) == last_end
        in_trial = trial_end is not None and (trial_start or 0) <= seg.start < int(trial_end)
        tiered = price.get("billing_scheme") == "tiered" or (
            price.get("unit_amount") is None and price.get("unit_amount_decimal") is None
        )
        amount_minor = _unit_minor(price) if not tiered else (seg.gross or 0)
        quantity = seg.state.quantity if not tiered else 1
        rows.append(
            {
                "subscription_id": f"{sub['id']}:{seg.item}:{seg.start}",
                "account_id": keys(sub["customer"]),
                "plan": product.get("name") or price.get("nickname") or price["id"],
                "started_at": when(seg.start),
                "ended_at": when(seg.end),
                "canceled_at": when(max(int(canceled), seg.start))
                if canceled and is_last
                else None,
                "billing_period": int(recurring.get("interval_count") or 1),
                "billing_unit": recurring["interval"],
                "amount": str(money(amount_minor, seg.currency)),
                "quantity": quantity,
                "discount": str(seg.state.discount),
                "currency": seg.currency,
                "trial_ends_at": when(int(trial_end)) if in_trial else None,
            }
        )
    return rows


# -- orders ------------------------------------------------------------------------------------------
def orders(
    invoices: Sequence[Record],
    refunds: Sequence[Record],
    credit_notes: Sequence[Record],
    keys: AccountKeys,
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    for invoice in invoices:
        if invoice.get("status") != "paid":
            continue
        for line in (invoice.get("lines") or {}).get("data") or []:
            parent = line.get("parent") or {}
            details = parent.get("invoice_item_details") or {}
            if parent.get("type") != "invoice_item_details" or details.get("subscription"):
                continue
            if details.get("proration"):
                continue
            discounted = int(line["amount"]) - sum(
                int(d["amount"]) for d in line.get("discount_amounts") or []
            )
            rows.append(
                {
                    "order_id": line["id"],
                    "account_id": keys(invoice["customer"]),
                    "ordered_at": when(invoice["created"]),
                    "amount": str(money(discounted, line["currency"])),
                    "currency": str(line["currency"]).upper(),
                    "kind": "one_time",
                }
            )
    for refund in refunds:
        charge = refund.get("charge")
        if refund.get("status") != "succeeded" or not isinstance(charge, Mapping):
            continue
        rows.append(
            {
                "order_id": refund["id"],
                "account_id": keys(charge.get("customer")),
                "ordered_at": when(refund["created"]),
                "amount": str(-money(int(refund["amount"]), refund["currency"])),
                "currency": str(refund["currency"]).upper(),
                "kind": "refund",
            }
        )
    for note in credit_notes:
        outside = int(note.get("out_of_band_amount") or 0)
        if note.get("status") != "issued" or outside <= 0:
            continue
        rows.append(
            {
                "order_id": note["id"],
                "account_id": keys(note["customer"]),
                "ordered_at": when(note["created"]),
                "amount": str(-money(outside, note["currency"])),
                "currency": str(note["currency"]).upper(),
                "kind": "refund",
            }
        )
    columns = ["order_id", "account_id", "ordered_at", "amount", "currency", "kind"]
    return pd.DataFrame(rows, columns=columns)
