"""Stripe: customers, products, prices, coupons, subscriptions, invoices (with all their lines),
credit notes and refunds, pulled with the official `stripe` client; history rebuilt from invoices.

Sync. Each stream is listed newest first with `starting_after` pages of `page_size`; the cursor
staged with each page holds where the list resumes (`after`), so an interrupted sync continues
with the next page. Invoices, credit notes and refunds are incremental: a finished pass records
the newest `created` seen and the next sync lists `created[gte]` = that minus `lookback_days`.
That catches new objects and changes to recent ones (an invoice paid or voided within the window);
a change to an older invoice is only seen by a full resync (forget the source's staged records
and sync again), which is also how deletions disappear. Customers, products, prices, coupons and
subscriptions are small and mutable (a subscription is canceled years after it was created), so
every sync lists them in full. An invoice's `lines` come embedded (first page); when `has_more`,
the rest are listed from /v1/invoices/{id}/lines. Rate limits: the client retries a 429 that
carries `Stripe-Should-Retry: true` with its own backoff (`max_retries`); a 429 it gives up on is
retried here after `Retry-After` seconds. Errors never carry the API key.

Conventions of the transform (tenure.sources.stripe_history):
- accounts: one per customer; account_id is the customer id, or with `account_key=metadata:<f>`
  the metadata field f (the id when missing), to link with a CRM and product events; metadata
  fields become attributes (strings, as Stripe keeps them).
- subscriptions: rebuilt from the lines of open and paid invoices (void, draft and uncollectible
  invoices bill nothing), per subscription item. A run of lines with the same price, quantity and
  discount is one row; a change starts a new row when the old one ends (at the positive proration
  line's period start, or the new period's start when the billing anchor was reset; a change
  made without proration shows at the next renewal). Credit prorations ("unused time") end a row.
  The same state billed again from inside its current period (a reset billing anchor) starts a
  row too, because Tenure's billing periods, and the exchange rate each takes, run from a row's
  start. Row ids are `<subscription>:<item>:<start>`, stable across syncs.
  A gap in billed periods (a pause with voided or draft invoices) ends a row; the next billed
  period starts a new one. The current row ends at `ended_at`, at a scheduled `cancel_at` (or the
  period end with `cancel_at_period_end`), at the last billed period while `pause_collection` is
  set, and is open otherwise; past-due subscriptions keep their MRR until Stripe cancels them.
  Subscriptions still `incomplete` (or `incomplete_expired`) never started and have no rows.
  canceled_at is the subscription's, on its last row. amount = price per billing period per unit
  (tiered prices: the period's line amount, quantity 1); billing_period / billing_unit are the
  price's interval_count / interval; currency is the line's. trial_ends_at = the subscription's
  trial_end on the row that starts within the trial.
- discount: percent_off / 100 of the coupons on the line; amount_off as its share of the line's
  amount (6 places). Coupons with duration `once` are one-time adjustments and do not count in
  MRR; `repeating` ones count while Stripe applies them (N months), so MRR steps up when they
  expire; `forever` ones always.
- prorations are one-time adjustments: neither MRR nor orders. Metered prices (usage_type
  metered) are excluded from MRR, as Stripe's own analytics does.
- orders: each line of a paid invoice that is an invoice item outside a subscription is a
  `one_time` order (net of its discounts, at the invoice's creation); each succeeded refund is a
  `refund` (its charge's customer); an issued credit note's out-of-band amount is a `refund` too
  (its refunded part is already a refund object; credit to the customer balance is not revenue
  returned).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd
import stripe as stripe_api

from tenure.errors import TenureError
from tenure.sources import stripe_history as history
from tenure.sources.base import Connector, Page, Record

OPTIONS: dict[str, str] = {
    "base_url": "API address (default https://api.stripe.com); point it at a test server",
    "account_key": "'id' (default): account_id is the Stripe customer id; 'metadata:<field>': "
    "that customer metadata field, to link with a CRM and product events",
    "lookback_days": "days the invoice, credit note and refund cursor rewinds each sync to catch "
    "changes to recent objects (default 35)",
    "page_size": "records per list request, 1 to 100 (default 100)",
    "max_retries": "retries per request on network errors, 5xx and retryable 429s (default 4)",
}
SECRET = "a restricted API key (rk_...) with read access to customers, products, prices, coupons, subscriptions, invoices, credit notes and refunds"
SECRET_ENV = "STRIPE_API_KEY"

INCREMENTAL = frozenset({"invoices", "credit_notes", "refunds"})
RATE_LIMIT_RETRIES = 5
MAX_RETRY_AFTER = 60.0


def build(options: Mapping[str, str], secret: str | None) -> StripeConnector:
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise TenureError(f"unknown Stripe option(s): {', '.join(sorted(unknown))}")
    if not secret:
        raise TenureError(f"the Stripe connector needs an API key (set {SECRET_ENV})")
    key = options.get("account_key", "id")
    if key != "id" and not (key.startswith("metadata:") and len(key) > len("metadata:")):
        raise TenureError("account_key must be 'id' or 'metadata:<field>'")
    try:
        lookback = int(options.get("lookback_days", "35"))
        page_size = int(options.get("page_size", "100"))
        retries = int(options.get("max_retries", "4"))
    except ValueError:
        raise TenureError("lookback_days, page_size and max_retries must be integers") from None
    if not 1 <= page_size <= 100 or lookback < 0 or retries < 0:
        raise TenureError("page_size must be 1 to 100; lookback_days and max_retries >= 0")
    return StripeConnector(
        secret,
        base_url=options.get("base_url"),
        account_key=key,
        lookback_days=lookback,
        page_size=page_size,
        max_retries=retries,
    )


class StripeConnector(Connector):
    kind = "stripe"
    streams: ClassVar[tuple[str, ...]] = (
        "customers",
        "products",
        "prices",
        "coupons",
        "subscriptions",
        "invoices",
        "credit_notes",
        "refunds",
    )

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        account_key: str = "id",
        lookback_days: int = 35,
        page_size: int = 100,
        max_retries: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        addresses: Any = {"api": base_url.rstrip("/")} if base_url else None
        self._key = api_key
        self._client = stripe_api.StripeClient(
            api_key, base_addresses=addresses, max_network_retries=max_retries
        )
        self.account_key = account_key
        self.lookback = lookback_days * 86_400
        self.page_size = page_size
        self._sleep = sleep
        self.requests = 0

    def __repr__(self) -> str:
        return f"StripeConnector(account_key={self.account_key!r})"

    # -- pulling -------------------------------------------------------------------------------
    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        state: dict[str, Any] = json.loads(cursor) if cursor else {}
        if state.get("after"):  # an interrupted pass: resume with the next page
            since, after, top = state.get("since"), state["after"], state.get("top")
        else:
            last_top = state.get("top")
            since = last_top - self.lookback if stream in INCREMENTAL and last_top else None
            after, top = None, None
        while True:
            params: dict[str, Any] = {"limit": self.page_size}
            if since is not None:
                params["created"] = {"gte": since}
            if after is not None:
                params["starting_after"] = after
            params.update(_EXTRA.get(stream, {}))
            page = self._call(functools.partial(self._service(stream).list, params=params))
            records = [obj.to_dict(for_json=True) for obj in page.data]
            if stream == "invoices":
                for invoice in records:
                    self._complete_lines(invoice)
            if records:
                after = records[-1]["id"]
                newest = max(int(r["created"]) for r in records)
                top = newest if top is None else max(top, newest)
            if page.has_more and records:
                yield Page(
                    stream, records, json.dumps({"since": since, "after": after, "top": top})
                )
                continue
            yield Page(
                stream, records, json.dumps({"top": top if top is not None else state.get("top")})
            )
            return

    def _service(self, stream: str) -> Any:
        v1 = self._client.v1
        return {
            "customers": v1.customers,
            "products": v1.products,
            "prices": v1.prices,
            "coupons": v1.coupons,
            "subscriptions": v1.subscriptions,
            "invoices": v1.invoices,
            "credit_notes": v1.credit_notes,
            "refunds": v1.refunds,
        }[stream]

    def _complete_lines(self, invoice: Record) -> None:
        """Fetch the lines beyond the first embedded page, so the invoice carries all of them."""
        lines = invoice.get("lines") or {"data": [], "has_more": False}
        data = list(lines.get("data") or [])
        has_more = bool(lines.get("has_more"))
        while has_more:
            params: dict[str, Any] = {"limit": 100, "expand": ["data.discounts"]}
            if data:
                params["starting_after"] = data[-1]["id"]
            lines_of: Any = self._client.v1.invoices.line_items.list
            page = self._call(functools.partial(lines_of, invoice["id"], params=params))
            data.extend(obj.to_dict(for_json=True) for obj in page.data)
            has_more = bool(page.has_more) and bool(page.data)
        invoice["lines"] = {**lines, "data": data, "has_more": False}

    def _call(self, request: Callable[[], Any]) -> Any:
        """One API request: a 429 the client did not retry waits for Retry-After; every error is
        re-raised as a one-line TenureError without the key."""
        for attempt in range(RATE_LIMIT_RETRIES + 1):
            self.requests += 1
            try:
                return request()
            except stripe_api.RateLimitError as error:
                if attempt == RATE_LIMIT_RETRIES:
                    raise self._error(error) from None
                self._sleep(_retry_after(error.headers, attempt))
            except stripe_api.StripeError as error:
                raise self._error(error) from None
        raise AssertionError("unreachable")

    def _error(self, error: stripe_api.StripeError) -> TenureError:
        status = f" (HTTP {error.http_status})" if error.http_status else ""
        message = (error.user_message or type(error).__name__).replace(self._key, "[key]")
        if len(self._key) > 8:
            message = message.replace(self._key[-8:], "[key]")  # partial echoes too
        return TenureError(f"Stripe: {type(error).__name__}{status}: {message}")

    # -- transform -----------------------------------------------------------------------------
    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        keys = history.AccountKeys(staged.get("customers", []), self.account_key)
        by_id = {
            name: {r["id"]: r for r in staged.get(name, [])}
            for name in ("prices", "products", "coupons")
        }
        return {
            "accounts": history.accounts(staged.get("customers", []), keys),
            "subscriptions": history.subscriptions(
                staged.get("subscriptions", []),
                staged.get("invoices", []),
                by_id["prices"],
                by_id["products"],
                by_id["coupons"],
                keys,
            ),
            "orders": history.orders(
                staged.get("invoices", []),
                staged.get("refunds", []),
                staged.get("credit_notes", []),
                keys,
            ),
        }


# Per-stream list parameters: every subscription (the default hides canceled ones), the
# coupons on invoice lines and the charge of a refund (for its customer) expanded.
_EXTRA: dict[str, dict[str, Any]] = {
    "subscriptions": {"status": "all"},
    "invoices": {"expand": ["data.lines.data.discounts"]},
    "refunds": {"expand": ["data.charge"]},
}


def _retry_after(headers: Any, attempt: int) -> float:
    value: Any = (headers or {}).get("retry-after") or (headers or {}).get("Retry-After")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 2.0**attempt
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
