"""Exchange rates per billing period (policy.fx_rate_date = period_start, the default) or per
reporting period (month_end)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from tenure.workspace import Workspace
from tests.books import load_book, sub

MEASURES = ["mrr", "mrr_fx_impact", "mrr_expansion", "mrr_contraction", "mrr_churned", "mrr_new"]


def _series(ws: Workspace, first: str, last: str, policy: str) -> pd.DataFrame:
    ws.set_setting("policy.fx_rate_date", policy)
    result = ws.metrics(
        MEASURES, start=dt.date.fromisoformat(first), end=dt.date.fromisoformat(last)
    )
    table = result.pivot(index="period_start", columns="metric", values="value")
    return table.astype(float)[MEASURES]


def _fx(*rates: tuple[str, float]) -> list[dict]:
    return [
        {"date": dt.date.fromisoformat(d), "currency": "EUR", "rate_to_reporting": r}
        for d, r in rates
    ]


def test_an_annual_contract_keeps_its_rate_until_renewal(ws: Workspace) -> None:
    """1,200 EUR a year from 1 January 2024 (100 a month): the rate moves from 1.10 to 1.20 in
    June; the contract shows 110 for its twelve months and 120 from the renewal, whose +10 is FX
    impact, not expansion."""
    fx = _fx(("2023-12-01", 1.1), ("2024-06-01", 1.2))
    load_book(
        ws,
        [sub("EU", 1200, "2024-01-01", currency="EUR", billing_period=12)],
        fx=fx,
    )
    table = _series(ws, "2024-01-01", "2025-02-01", "period_start")
    assert (table.loc[: dt.date(2024, 12, 1), "mrr"] == 110).all()
    assert (table.loc[dt.date(2025, 1, 1) :, "mrr"] == 120).all()
    assert table.loc[dt.date(2025, 1, 1), "mrr_fx_impact"] == pytest.approx(10)
    assert table["mrr_fx_impact"].sum() == pytest.approx(10)
    assert table["mrr_expansion"].sum() == 0 and table["mrr_contraction"].sum() == 0

    by_month = _series(ws, "2024-01-01", "2025-02-01", "month_end")  # today's rule
    assert by_month.loc[dt.date(2024, 5, 1), "mrr"] == 110
    assert by_month.loc[dt.date(2024, 6, 1), "mrr"] == 120
    assert by_month.loc[dt.date(2024, 6, 1), "mrr_fx_impact"] == pytest.approx(10)
    assert by_month.loc[dt.date(2025, 1, 1), "mrr_fx_impact"] == 0


@pytest.mark.parametrize("policy", ["period_start", "month_end"])
def test_a_monthly_contract_moves_with_each_month_under_both_rules(
    ws: Workspace, policy: str
) -> None:
    fx = _fx(("2024-12-01", 1.1), ("2025-02-01", 1.2), ("2025-03-01", 1.0))
    load_book(ws, [sub("EU", 100, "2024-12-01", currency="EUR")], fx=fx)
    table = _series(ws, "2025-01-01", "2025-03-01", policy)
    assert table["mrr"].tolist() == [110, 120, 100]
    assert table["mrr_fx_impact"].tolist() == [0, 10, -20]
    assert table["mrr_expansion"].sum() == 0 and table["mrr_contraction"].sum() == 0


def test_billing_periods_start_on_the_contract_day_and_a_churn_moves_at_its_own_rate(
    ws: Workspace,
) -> None:
    """Quarterly from 15 November 2024 (periods from 15 Nov, 15 Feb, 15 May); rates change on the
    first of each month. It ends on 15 May 2025, before a renewal: its churn is the MRR it was
    paid at, with no FX line."""
    fx = _fx(("2024-11-01", 1.0), ("2024-12-01", 1.1), ("2025-02-01", 1.2), ("2025-05-01", 1.5))
    load_book(
        ws,
        [sub("EU", 300, "2024-11-15", "2025-05-15", currency="EUR", billing_period=3)],
        fx=fx,
    )
    table = _series(ws, "2024-12-01", "2025-05-01", "period_start")
    assert table["mrr"].tolist() == [100, 100, 120, 120, 120, 0]
    assert table["mrr_fx_impact"].tolist() == [0, 0, 20, 0, 0, 0]
    assert table.loc[dt.date(2025, 5, 1), "mrr_churned"] == -120


def test_a_new_subscription_mid_month_takes_its_start_days_rate(ws: Workspace) -> None:
    fx = _fx(("2025-01-01", 1.0), ("2025-01-20", 1.3))
    load_book(ws, [sub("EU", 100, "2025-01-10", currency="EUR")], fx=fx)
    assert _series(ws, "2025-01-01", "2025-01-01", "period_start")["mrr"].tolist() == [100]
    assert _series(ws, "2025-01-01", "2025-01-01", "month_end")["mrr"].tolist() == [130]


def test_the_policy_is_a_setting_recorded_with_each_result(ws: Workspace) -> None:
    load_book(ws, [sub("A", 10, "2025-01-01")])
    result = ws.metrics(["mrr"], start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 1))
    assert result.attrs["policy"]["fx_rate_date"] == "period_start"
    with pytest.raises(Exception, match="fx_rate_date cannot be 'invoice'"):
        ws.set_setting("policy.fx_rate_date", "invoice")


@pytest.mark.parametrize(
    ("policy", "fx", "churn"), [("month_end", 20, -130), ("period_start", 0, -110)]
)
def test_a_drilled_churn_row_adds_up_with_its_fx_column(
    ws: Workspace, policy: str, fx: float, churn: float
) -> None:
    """A monthly EUR contract paid on 1 February ends on the 20th, after the rate moved on the
    15th: month_end shows the opening at January's rate, the FX change and the churn at
    February's; period_start churns at the rate February was paid at."""
    rates = _fx(("2024-12-01", 1.1), ("2025-02-15", 1.3))
    load_book(
        ws,
        [sub("EU", 100, "2025-01-01", "2025-02-20", currency="EUR"), sub("US", 5, "2025-01-01")],
        fx=rates,
    )
    ws.set_setting("policy.fx_rate_date", policy)
    (row,) = ws.drill("mrr_churned", "2025-02").to_dict("records")
    assert (row["account_id"], row["movement"]) == ("EU", "churned")
    assert (row["mrr_start"], row["mrr_fx_impact"], row["mrr_churned"]) == (110, fx, churn)
    assert row["mrr_start"] + row["mrr_fx_impact"] + row["mrr_churned"] == row["mrr_end"] == 0
