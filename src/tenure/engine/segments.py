"""Segments: account attributes (any non-canonical column of accounts) to split results by."""

from __future__ import annotations

from collections.abc import Sequence

import ibis.expr.types as ir

from tenure.data.contract import ACCOUNTS
from tenure.errors import QueryError


def attribute_columns(accounts: ir.Table) -> list[str]:
    return [c for c in accounts.columns if c not in ACCOUNTS.column_names]


def check_segments(accounts: ir.Table, by: Sequence[str]) -> list[str]:
    valid = attribute_columns(accounts)
    for name in by:
        if name not in valid:
            raise QueryError(
                f"unknown segment attribute {name!r}; valid: {', '.join(valid) or 'none loaded'}"
            )
    return list(by)


def with_segments(facts: ir.Table, accounts: ir.Table, by: Sequence[str]) -> ir.Table:
    """Attach the `by` attributes of each fact row's account (NULL for unknown accounts)."""
    if not by:
        return facts
    attrs = accounts.select("account_id", *check_segments(accounts, by))
    joined = facts.left_join(attrs, facts.account_id == attrs.account_id)
    return joined.drop("account_id_right") if "account_id_right" in joined.columns else joined
