"""Segments: account attributes (any non-canonical column of accounts) to split results by, and
the built-in segments of the subscriptions an account pays for (paid_plan, billing_interval,
billing_currency), which only revenue metrics can be split by."""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from tenure.data.contract import ACCOUNTS
from tenure.errors import QueryError

# Built-in segments read from the subscriptions in force at each period's end (not account
# attributes: a loaded accounts column of the same name is shadowed by them).
SUBSCRIPTION_SEGMENTS: dict[str, str] = {
    "paid_plan": "the plan of the subscriptions the account pays for at the period's end (the "
    "plan carrying the largest MRR, ties by name; after it stops paying, the last one it paid)",
    "billing_interval": "their billing interval: monthly, quarterly, annual, weekly, daily, or "
    "'every N months' (chosen as paid_plan is)",
    "billing_currency": "their currency (chosen as paid_plan is)",
}


def attribute_columns(accounts: ir.Table) -> list[str]:
    return [
        c
        for c in accounts.columns
        if c not in ACCOUNTS.column_names and c not in SUBSCRIPTION_SEGMENTS
    ]


def segment_names(accounts: ir.Table) -> list[str]:
    """Every name a revenue metric can be split by: the account attributes, then the built-in
    subscription segments."""
    return [*attribute_columns(accounts), *SUBSCRIPTION_SEGMENTS]


def check_segments(accounts: ir.Table, by: Sequence[str]) -> list[str]:
    valid = segment_names(accounts)
    for name in by:
        if name not in valid:
            raise QueryError(f"unknown segment attribute {name!r}; valid: {', '.join(valid)}")
    return list(by)


def with_segments(facts: ir.Table, accounts: ir.Table, by: Sequence[str]) -> ir.Table:
    """Attach the `by` attributes of each fact row's account (NULL for unknown accounts)."""
    if not by:
        return facts
    paid = [name for name in by if name in SUBSCRIPTION_SEGMENTS]
    if paid:
        raise QueryError(
            f"{', '.join(paid)} split revenue metrics only (MRR, its movements and the customer "
            "counts); split this result by an account attribute instead"
        )
    attrs = accounts.select("account_id", *check_segments(accounts, by))
    joined = facts.left_join(attrs, facts.account_id == attrs.account_id)
    return joined.drop("account_id_right") if "account_id_right" in joined.columns else joined
