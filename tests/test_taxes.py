"""policy.taxes: an order's optional `tax` column is the tax part of its amount; revenue counts
it (included) or not (excluded, the default and every vendor's rule)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from tenure.metrics.policy import RevenuePolicy
from tenure.workspace import Workspace
from tests.books import load_book

Write = Callable[[str, str], Path]

JAN = dt.date(2025, 1, 1)
ORDERS = (
    "order_id,account_id,ordered_at,amount,currency,kind,tax\n"
    "O1,A1,2025-01-03,120.00,USD,one_time,20.00\n"
    "O2,A1,2025-01-09,60.00,USD,refund,10.00\n"
    "O3,A2,2025-01-10,50.00,USD,one_time,\n"
    "O4,A2,2025-01-11,50.00,USD,one_time,-5\n"
    "O5,A2,2025-01-12,10.00,USD,one_time,12\n"
)


def _revenue(ws: Workspace, **policy: str) -> dict[str, float]:
    result = ws.metrics(
        ["revenue", "average_purchase_value"], start=JAN, end=JAN, policy=RevenuePolicy(**policy)
    )
    assert result.attrs["policy"]["taxes"] == policy.get("taxes", "excluded")
    return dict(zip(result["metric"], result["value"].astype(float), strict=True))


def test_tax_is_loaded_with_its_sign_and_bad_rows_are_named(ws: Workspace, write: Write) -> None:
    load_book(ws, [], accounts={"A1": {}, "A2": {}})
    report = ws.load("orders", write("orders.csv", ORDERS))
    assert [(r.line, r.column, r.reason) for r in report.rejects] == [
        (5, "tax", "negative tax is only allowed for refunds"),
        (6, "tax", "tax is more than the amount it is part of"),
    ]
    stored = ws.table("orders").order_by("order_id").select("order_id", "amount", "tax")
    assert [tuple(r) for r in stored.to_pandas().itertuples(index=False)] == [
        ("O1", Decimal("120"), Decimal("20")),
        ("O2", Decimal("-60"), Decimal("-10")),  # a refund's tax is refunded too
        ("O3", Decimal("50"), Decimal("0")),  # no tax given: none
    ]


@pytest.mark.parametrize(
    ("policy", "revenue", "purchases"),
    [
        ({}, 150, 75),  # (120 - 20) + 50 over two purchases
        ({"taxes": "included"}, 170, 85),
        ({"refunds": "deducted"}, 100, 75),  # less the refund's 60 - 10
        ({"refunds": "deducted", "taxes": "included"}, 110, 85),
    ],
)
def test_revenue_counts_tax_by_policy(
    ws: Workspace, write: Write, policy: dict[str, str], revenue: float, purchases: float
) -> None:
    load_book(ws, [], accounts={"A1": {}, "A2": {}})
    ws.load("orders", write("orders.csv", ORDERS))
    assert _revenue(ws, **policy) == {"revenue": revenue, "average_purchase_value": purchases}


def test_the_setting_switches_it(ws: Workspace, write: Write) -> None:
    load_book(ws, [], accounts={"A1": {}, "A2": {}})
    ws.load("orders", write("orders.csv", ORDERS))
    ws.set_setting("policy.taxes", "included")
    result = ws.metrics(["revenue"], start=JAN, end=JAN)
    assert (result.attrs["policy"]["taxes"], result["value"].tolist()) == ("included", [170])
    with pytest.raises(Exception, match="taxes cannot be 'gross'"):
        ws.set_setting("policy.taxes", "gross")
