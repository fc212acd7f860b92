"""Vendor presets of the revenue policy, and "why does Stripe show a different MRR?": a metric
under the workspace's policy and a preset's, the difference split by setting (switched one at a
time in RevenuePolicy's field order) with the accounts behind each part. Every expected number
is worked out by hand in the docstrings."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import tenure
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app
from tenure.errors import TenureError
from tenure.metrics.compare import ORDER, Comparison, compare
from tenure.metrics.policy import PRESETS, RevenuePolicy
from tenure.workspace import Workspace
from tests.books import load_book, sub

# What each vendor documents (docs/metrics.md, "Vendor presets"), written out rather than read
# from PRESETS so that a changed preset fails here.
DOCUMENTED = {
    "tenure": {},
    "chartmogul": {},  # Tenure's defaults are ChartMogul's rules
    "stripe": {"fx_rate_date": "month_end", "pause": "churn", "same_period_churn": "counted"},
    "baremetrics": {
        "past_due": "exclude_after_days:30",
        "pause": "churn",
        "same_period_churn": "counted",
    },
}


def _days(*values: str) -> list[dt.date]:
    return [dt.date.fromisoformat(v) for v in values]


def _adds_up(c: Comparison) -> None:
    """Each period's parts sum to its difference, and each part's accounts to the part, exactly
    (decimals for money, whole numbers for counts)."""
    for row in c.series.itertuples(index=False):
        parts = c.parts[c.parts.period_start == row.period_start]
        assert sum(parts["difference"], start=0) == row.difference == row.other - row.base
        for part in parts.itertuples(index=False):
            moved = c.accounts[
                (c.accounts.period_start == part.period_start)
                & (c.accounts.setting == part.setting)
            ]
            assert sum(moved["difference"], start=0) == part.difference
    assert list(c.parts.setting.drop_duplicates()) == list(c.settings)
    assert list(c.settings) == [s for s in ORDER if s in c.settings]


def _part(c: Comparison, setting: str) -> list[float]:
    return [float(v) for v in c.parts[c.parts.setting == setting]["difference"]]


# -- presets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DOCUMENTED))
def test_a_preset_writes_every_policy_setting(ws: Workspace, name: str) -> None:
    ws.set_setting("policy.past_due", "exclude_after_days:7")  # overwritten by any preset
    ws.set_setting("policy.preset", name)
    assert ws.setting("policy.preset") == name
    expected = RevenuePolicy(**DOCUMENTED[name])  # type: ignore[arg-type]
    assert ws.policy == expected == PRESETS[name]
    assert ws.metrics(["mrr"]).attrs["policy"]["past_due"] == expected.past_due


def test_a_setting_after_a_preset_overrides_that_setting_only(ws: Workspace) -> None:
    ws.set_setting("policy.preset", "stripe")
    ws.set_setting("policy.pause", "contraction")
    assert ws.policy.pause == "contraction"
    assert ws.policy.fx_rate_date == "month_end" and ws.policy.same_period_churn == "counted"
    ws.set_setting("policy.preset", "Stripe")  # writing the preset again restores all of it
    assert ws.policy == PRESETS["stripe"]
    assert ws.setting("policy.preset") == "stripe"
    with pytest.raises(TenureError, match="choose one of: tenure, chartmogul, stripe"):
        ws.set_setting("policy.preset", "profitwell")
    assert ws.policy == PRESETS["stripe"]


def test_config_sets_and_lists_the_preset(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path / 'c.duckdb'}"
    runner = CliRunner()
    listed = runner.invoke(app, ["config", "list", "--db", db]).output
    assert "policy.preset (default 'tenure')" in listed and "baremetrics" in listed
    done = runner.invoke(app, ["config", "policy.preset", "baremetrics", "--db", db])
    assert done.exit_code == 0 and "policy.preset = baremetrics" in done.output
    read = runner.invoke(app, ["config", "policy.past_due", "--db", db]).output
    assert "policy.past_due = exclude_after_days:30" in read
    bad = runner.invoke(app, ["config", "policy.preset", "nope", "--db", db])
    assert bad.exit_code == 2 and "unknown policy preset 'nope'" in bad.output


# -- compare-policy -----------------------------------------------------------------------------
def _fx_book(ws: Workspace) -> Workspace:
    """EU: 1,200 EUR a year from 1 January 2024 (100 a month); EUR is 1.10 until June, then
    1.20: 110 a month for the year at its period's start rate (Tenure), 120 from June at each
    month's end rate (Stripe). K: 50 USD throughout. J: 100 USD from 5 to 20 May 2024 only, new
    and churned in May under Stripe's rule, nothing under ChartMogul's."""
    fx = [
        {"date": dt.date(2023, 12, 1), "currency": "EUR", "rate_to_reporting": 1.1},
        {"date": dt.date(2024, 6, 1), "currency": "EUR", "rate_to_reporting": 1.2},
    ]
    return load_book(
        ws,
        [
            sub("EU", 1200, "2024-01-01", currency="EUR", billing_period=12),
            sub("K", 50, "2023-12-01"),
            sub("J", 100, "2024-05-05", "2024-05-20"),
        ],
        fx=fx,
    )


def test_stripe_mrr_differs_by_the_fx_date(ws: Workspace) -> None:
    _fx_book(ws)
    first, last = dt.date(2024, 4, 1), dt.date(2024, 8, 1)
    c = compare(ws, "mrr", "stripe", start=first, end=last)
    assert c.settings == ("fx_rate_date", "pause", "same_period_churn")
    assert [float(v) for v in c.series.base] == [160] * 5
    assert [float(v) for v in c.series.other] == [160, 160, 170, 170, 170]
    assert _part(c, "fx_rate_date") == [0, 0, 10, 10, 10]
    assert _part(c, "pause") == _part(c, "same_period_churn") == [0] * 5
    assert all(isinstance(v, Decimal) for v in c.parts.difference)
    _adds_up(c)
    assert c.accounts[["period_start", "setting", "account_id"]].values.tolist() == [
        [day, "fx_rate_date", "EU"] for day in _days("2024-06-01", "2024-07-01", "2024-08-01")
    ]
    assert c.accounts.name.tolist() == ["Account EU"] * 3
    # The two series are the metric itself under each policy.
    mine = ws.metrics(["mrr"], start=first, end=last)
    assert mine.value.tolist() == c.series.base.tolist()
    theirs = ws.metrics(["mrr"], start=first, end=last, policy=PRESETS["stripe"])
    assert theirs.value.tolist() == c.series.other.tolist()

    new = compare(ws, "mrr_new", "stripe", start=first, end=last)
    assert _part(new, "same_period_churn") == [0, 100, 0, 0, 0]
    assert _part(new, "fx_rate_date") == [0] * 5
    _adds_up(new)
    assert new.accounts[["setting", "account_id"]].values.tolist() == [["same_period_churn", "J"]]


def test_a_past_due_subscription_is_the_past_due_part(ws: Workspace) -> None:
    """X: 100 a month billed on the 1st since a year ago, past_due today: its unpaid period began
    on the 1st of this month, so Baremetrics (delinquent more than 30 days: churned) drops it by
    next month. Y: 40 a month, active."""
    this_month = dt.date.today().replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
    a_year_ago = this_month.replace(year=this_month.year - 1).isoformat()
    load_book(
        ws,
        [sub("X", 100, a_year_ago, status="past_due"), sub("Y", 40, a_year_ago, status="active")],
    )
    c = compare(ws, "mrr", "baremetrics", start=last_month, end=next_month)
    assert c.settings == ("pause", "past_due", "same_period_churn")
    past_due = _part(c, "past_due")
    assert past_due[0] == 0 and past_due[-1] == -100
    assert _part(c, "pause") == _part(c, "same_period_churn") == [0, 0, 0]
    _adds_up(c)
    last = c.accounts[c.accounts.period_start == next_month]
    assert last[["setting", "account_id", "difference"]].values.tolist() == [
        ["past_due", "X", Decimal("-100")]
    ]


def test_trials_and_pauses_are_their_own_parts(ws: Workspace) -> None:
    """The workspace counts trials and free subscriptions as customers (paying_at_zero). T: a
    trial from 10 January 2025 until 10 February; F: 100% discounted; P: 100 a month from
    December 2024, paused from 15 January with no resumption (a customer at 0 under Tenure's
    rule, churned under Stripe's); Q: 50 a month. Customers: Tenure 4 and 4; Stripe 1 (Q) and
    2 (T, Q). Switched in order, pause takes P (-1, -1) and then trials T and F in January and F
    in February (-2, -1)."""
    load_book(
        ws,
        [
            sub("T", 100, "2025-01-10", trial_ends_at="2025-02-10"),
            sub("F", 100, "2025-01-01", discount=1),
            sub("P", 100, "2024-12-01", paused_from=pd.Timestamp("2025-01-15")),
            sub("Q", 50, "2024-12-01"),
        ],
    )
    ws.set_setting("policy.trials", "paying_at_zero")
    c = compare(ws, "customers", "stripe", start=dt.date(2025, 1, 1), end=dt.date(2025, 2, 1))
    assert c.settings == ("fx_rate_date", "pause", "trials", "same_period_churn")
    assert c.series.base.tolist() == [4, 4] and c.series.other.tolist() == [1, 2]
    assert _part(c, "pause") == [-1, -1]
    assert _part(c, "trials") == [-2, -1]
    assert _part(c, "fx_rate_date") == _part(c, "same_period_churn") == [0, 0]
    _adds_up(c)
    assert c.accounts[["period_start", "setting", "account_id"]].values.tolist() == [
        [dt.date(2025, 1, 1), "pause", "P"],
        [dt.date(2025, 1, 1), "trials", "F"],
        [dt.date(2025, 1, 1), "trials", "T"],
        [dt.date(2025, 2, 1), "pause", "P"],
        [dt.date(2025, 2, 1), "trials", "F"],
    ]


def test_the_same_policy_has_no_parts_and_ratios_are_refused(ws: Workspace) -> None:
    _fx_book(ws)
    same = compare(ws, "mrr", "chartmogul", start=dt.date(2024, 4, 1), end=dt.date(2024, 5, 1))
    assert same.settings == () and same.parts.empty and same.accounts.empty
    assert [float(v) for v in same.series.difference] == [0, 0]
    with pytest.raises(TenureError, match="arpa cannot be compared across policies"):
        compare(ws, "arpa", "stripe")
    with pytest.raises(TenureError, match="unknown policy preset"):
        compare(ws, "mrr", "paddle")


# -- CLI and API --------------------------------------------------------------------------------
@pytest.fixture
def fx_file(tmp_path: Path) -> Iterator[str]:
    url = f"duckdb:///{tmp_path / 'fx.duckdb'}"
    with tenure.connect(url) as ws:
        _fx_book(ws)
    yield url


def test_cli_compare_policy(fx_file: str) -> None:
    runner = CliRunner()
    span = ["--from", "2024-04-01", "--to", "2024-08-01", "--db", fx_file]
    shown = runner.invoke(app, ["metrics", "mrr", "--compare-policy", "stripe", *span])
    assert shown.exit_code == 0, shown.output
    assert "switched in this order: fx_rate_date, pause, same_period_churn" in shown.output
    assert "the accounts behind each part" in shown.output and "Account EU" in shown.output
    written = runner.invoke(
        app, ["metrics", "mrr", "--compare-policy", "stripe", "--format", "csv", *span]
    )
    rows = list(csv.DictReader(io.StringIO(written.output)))
    assert list(rows[0]) == [
        "metric",
        "period_start",
        "workspace",
        "stripe",
        "difference",
        "fx_rate_date",
        "pause",
        "same_period_churn",
    ]
    assert [Decimal(r["difference"]) for r in rows] == [0, 0, 10, 10, 10]
    assert [Decimal(r["fx_rate_date"]) for r in rows] == [0, 0, 10, 10, 10]
    refused = runner.invoke(app, ["metrics", "mrr", "--compare-policy", "stripe", "--by", "x"])
    assert refused.exit_code == 2 and "drop --by" in refused.output


def test_api_compare(fx_file: str, store: Store) -> None:
    key = {"Authorization": f"Bearer {create_key(store, 'viewer', 'viewer')}"}
    with tenure.connect(fx_file) as ws:
        client = TestClient(create_app(ws, store, base_url="http://testserver"))
        query = {"names": ["mrr", "mrr_new"], "policy": "stripe"}
        span = {"from": "2024-04-01", "to": "2024-08-01"}
        answer = client.get("/api/metrics/compare", params={**query, **span}, headers=key)
        assert answer.status_code == 200, answer.text
        mrr, new = answer.json()
        assert mrr["metric"] == "mrr" and mrr["policy"] == "stripe"
        assert mrr["reporting_currency"] == "USD" and mrr["unit"] == "currency"
        assert mrr["order"] == [
            {"setting": "fx_rate_date", "workspace": "period_start", "other": "month_end"},
            {"setting": "pause", "workspace": "contraction", "other": "churn"},
            {"setting": "same_period_churn", "workspace": "excluded", "other": "counted"},
        ]
        june = mrr["periods"][2]
        assert june["period_start"] == "2024-06-01"
        assert Decimal(june["workspace"]) == 160 and Decimal(june["other"]) == 170
        assert Decimal(june["difference"]) == sum(Decimal(v) for v in june["parts"].values())
        assert Decimal(june["parts"]["fx_rate_date"]) == 10
        assert {a["account_id"] for a in mrr["accounts"]} == {"EU"}
        assert set(mrr["accounts"][0]) == {
            "period_start",
            "setting",
            "account_id",
            "name",
            "before",
            "after",
            "difference",
        }
        assert [a["account_id"] for a in new["accounts"]] == ["J"]
        refused = client.get(
            "/api/metrics/compare", params={"names": "arpa", "policy": "stripe"}, headers=key
        )
        assert refused.status_code == 400
        assert "cannot be compared" in refused.json()["detail"]
        unknown = client.get(
            "/api/metrics/compare", params={"names": "mrr", "policy": "paddle"}, headers=key
        )
        assert unknown.status_code == 422
