"""Revenue split by what an account pays for (paid_plan, billing_interval, billing_currency) at
each period's end, and the segment entering / leaving lines that keep every segment's MRR
bridge adding up to the company's."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import tenure
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app
from tenure.data.loader import LoadReport
from tenure.demo import DemoResult
from tenure.errors import QueryError
from tenure.workspace import Workspace
from tests.books import day, load_book, sub, value

JAN, APR = dt.date(2025, 1, 1), dt.date(2025, 4, 1)
BRIDGE = [
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churned",
    "mrr_reactivation",
    "mrr_fx_impact",
    "mrr_segment_entering",
    "mrr_segment_leaving",
]
LINES = ["mrr", "mrr_net_change", *BRIDGE]


def test_paid_plan_on_the_demo_differs_from_the_plan_attribute_and_adds_up(
    demo_ws: tuple[Workspace, DemoResult],
) -> None:
    ws, _ = demo_ws
    month = dt.date(2026, 10, 1)
    total = ws.metrics(["mrr"], start=month, end=month)["value"].sum()
    by_paid = ws.metrics(["mrr"], start=month, end=month, by=["paid_plan"])
    by_attribute = ws.metrics(["mrr"], start=month, end=month, by=["plan"])
    assert by_paid["value"].sum() == pytest.approx(total, abs=Decimal("1e-6"))
    paid = by_paid.set_index("paid_plan")["value"]
    signed_up = by_attribute.set_index("plan")["value"]
    assert set(paid.index) == set(signed_up.index)
    assert (paid - signed_up).abs().max() > 1
    accounts = ws.drill("mrr", "2026-10", by=["plan", "paid_plan"])
    assert (accounts["plan"] != accounts["paid_plan"]).sum() > 0
    assert accounts["mrr_end"].sum() == pytest.approx(total, abs=Decimal("1e-6"))


def test_an_upgrade_moves_the_opening_mrr_between_plans_and_a_churn_keeps_its_last_plan(
    ws: Workspace,
) -> None:
    load_book(
        ws,
        [
            sub("UP", 100, "2025-01-01", "2025-03-15", plan="basic"),
            sub("UP", 250, "2025-03-15", plan="pro"),
            sub("GONE", 50, "2025-01-01", "2025-02-10", plan="basic"),
            # two plans at once: the one carrying the larger MRR, ties by name
            sub("TWO", 30, "2025-01-01", plan="basic"),
            sub("TWO", 30, "2025-01-01", plan="addon"),
            sub("TWO", 10, "2025-01-01", plan="zeta"),
        ],
    )
    frame = ws.metrics(LINES, start=JAN, end=APR, by=["paid_plan"])
    assert value(frame, "mrr", "2025-01-01", paid_plan="addon") == Decimal(70)
    assert value(frame, "mrr", "2025-01-01", paid_plan="basic") == Decimal(150)
    assert value(frame, "mrr_churned", "2025-02-01", paid_plan="basic") == Decimal(-50)
    march = {m: value(frame, m, "2025-03-01", paid_plan="basic") for m in LINES}
    assert march["mrr_segment_leaving"] == Decimal(-100) and march["mrr_net_change"] == -100
    assert march["mrr_expansion"] == 0
    pro = {m: value(frame, m, "2025-03-01", paid_plan="pro") for m in LINES}
    assert pro["mrr_segment_entering"] == Decimal(100) and pro["mrr_expansion"] == Decimal(150)
    assert pro["mrr"] == Decimal(250)
    company = ws.metrics(LINES, start=JAN, end=APR)
    assert value(company, "mrr_expansion", "2025-03-01") == Decimal(150)
    assert value(company, "mrr_segment_entering", "2025-03-01") == 0
    moved = ws.drill("mrr_segment_leaving", "2025-03", by=["paid_plan"])
    assert moved[["account_id", "paid_plan"]].values.tolist() == [["UP", "basic"]]
    counts = ws.metrics(
        ["customers", "segment_entering_customers", "segment_leaving_customers"],
        start=APR.replace(month=3),
        end=APR.replace(month=3),
        by=["paid_plan"],
    )
    assert value(counts, "segment_entering_customers", "2025-03-01", paid_plan="pro") == 1
    assert value(counts, "segment_leaving_customers", "2025-03-01", paid_plan="basic") == 1


def test_billing_interval_and_currency(ws: Workspace) -> None:
    load_book(
        ws,
        [
            sub("Y", 1200, "2025-01-01", billing_period=12),
            sub("Q", 300, "2025-01-01", billing_period=3),
            sub("W", 10, "2025-01-01", billing_unit="week"),
            sub("E", 100, "2025-01-01", currency="EUR"),
        ],
        fx=[{"date": dt.date(2024, 12, 1), "currency": "EUR", "rate_to_reporting": 1.1}],
    )
    frame = ws.metrics(["mrr"], start=JAN, end=JAN, by=["billing_interval", "billing_currency"])
    found = {(r.billing_interval, r.billing_currency): r.value for r in frame.itertuples()}
    assert found[("annual", "USD")] == Decimal(100)
    assert found[("quarterly", "USD")] == Decimal(100)
    assert found[("monthly", "EUR")] == pytest.approx(Decimal(110))
    assert found[("weekly", "USD")] == pytest.approx(Decimal(10 * 52) / 12, abs=Decimal("1e-6"))


def test_subscription_segments_split_revenue_metrics_only(ws: Workspace) -> None:
    load_book(ws, [sub("A", 100, "2025-01-01")])
    with pytest.raises(QueryError, match=r"'paid_plan'.*revenue metrics only.*arpu"):
        ws.metrics(["mrr", "arpu"], start=JAN, end=JAN, by=["paid_plan"])
    with pytest.raises(QueryError, match="valid: plan_group, paid_plan, billing_interval"):
        ws.metrics(["mrr"], start=JAN, end=JAN, by=["colour"])


# -- the segment bridges add up to the company's -------------------------------------------------
BASE = dt.datetime(2024, 1, 1)
spell = st.tuples(
    st.integers(0, 400),  # start, days after BASE
    st.one_of(st.none(), st.integers(1, 300)),  # length in days (None: still open)
    st.sampled_from([9.99, 25, 100, 1200]),
    st.sampled_from([1, 12]),
    st.sampled_from(["basic", "pro", "max"]),
    st.sampled_from(["USD", "EUR"]),
)
change = st.tuples(st.integers(0, 500), st.sampled_from(["ann", "bo", "cy"]))  # day, owner
account = st.tuples(
    st.lists(spell, min_size=1, max_size=4),
    st.sampled_from(["ann", "bo", "cy"]),  # the first owner
    st.lists(change, max_size=2),
)
history = st.lists(account, min_size=1, max_size=8)
FX = [
    {
        "date": dt.date(2023, 12, 1) + dt.timedelta(days=61 * i),
        "currency": "EUR",
        "rate_to_reporting": r,
    }
    for i, r in enumerate([1.1, 1.05, 1.2, 0.95, 1.0, 1.15, 1.08, 1.12])
]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history)
def test_segment_bridges_add_up_to_the_company_bridge(accounts: list) -> None:
    subs, owners, changes = [], {}, []
    for number, (spells, owner, moves) in enumerate(accounts):
        name = f"A{number}"
        owners[name] = {"owner": owner}
        for rank, (days, new_owner) in enumerate(sorted(moves)):
            changes.append((rank, name, BASE + dt.timedelta(days=days), new_owner))
        for start, length, amount, period, plan, currency in spells:
            began = BASE + dt.timedelta(days=start, hours=number)
            ended = None if length is None else began + dt.timedelta(days=length)
            subs.append(
                sub(name, amount, began.isoformat(), ended and ended.isoformat())
                | {"plan": plan, "billing_period": period, "currency": currency}
            )
    with tenure.connect("duckdb://") as ws:
        load_book(ws, subs, fx=FX, accounts=owners)
        for rank in sorted({c[0] for c in changes}):  # each account's changes in time order
            rows = [
                {"account_id": a, "created_at": dt.datetime(2020, 1, 1), "owner": o}
                | {"name": f"Account {a}", "valid_from": when}
                for r, a, when, o in changes
                if r == rank
            ]
            assert ws.load("accounts", pd.DataFrame(rows)).rejected == 0
        first, last = dt.date(2024, 1, 1), dt.date(2025, 6, 1)
        company = _wide(ws.metrics(LINES, start=first, end=last), [])
        for by in (["paid_plan"], ["billing_interval", "billing_currency"], ["owner"]):
            split = _wide(ws.metrics(LINES, start=first, end=last, by=by), by)
            if split.empty:  # no account paid at any period's end: no plan to split by
                assert (company == 0).all().all(), by
                continue
            for segment, row in split.iterrows():
                lines = sum(row[m] for m in BRIDGE)
                assert lines == row["mrr_net_change"], (by, segment)
            summed = split.groupby(level="period_start").sum()
            for period, row in company.iterrows():
                for m in LINES[:-2]:  # the company has no entering or leaving lines
                    assert summed.loc[period, m] == row[m], (by, period, m)
                assert row["mrr_segment_entering"] == row["mrr_segment_leaving"] == 0
                entering = summed.loc[period, "mrr_segment_entering"]
                assert entering + summed.loc[period, "mrr_segment_leaving"] == 0


def _owner_of_a_moves_to_bo_on_10_march(ws: Workspace) -> tuple[dict[str, Any], LoadReport]:
    """Accounts A (ann, 100) and B (bo, 40) from January; A's owner becomes bo on 10 March.
    Returns A's accounts row (without valid_from) and the report of the load that moved it."""
    load_book(
        ws,
        [sub("A", 100, "2025-01-01"), sub("B", 40, "2025-01-01")],
        accounts={"A": {"owner": "ann"}, "B": {"owner": "bo"}},
    )
    moved = {"account_id": "A", "name": "A", "created_at": day("2020-01-01"), "owner": "bo"}
    report = ws.load("accounts", pd.DataFrame([moved | {"valid_from": day("2025-03-10")}]))
    return moved, report


def test_an_owner_change_moves_the_account_between_owners_in_the_month_it_happens(
    ws: Workspace,
) -> None:
    moved, report = _owner_of_a_moves_to_bo_on_10_march(ws)
    assert report.updated == 1
    history = ws.table("account_history").to_pandas()
    assert history[history.account_id == "A"]["value"].tolist() == ["ann", "bo"]
    frame = ws.metrics(LINES, start=JAN, end=APR, by=["owner"])
    assert value(frame, "mrr", "2025-02-01", owner="ann") == Decimal(100)
    assert value(frame, "mrr_segment_leaving", "2025-03-01", owner="ann") == Decimal(-100)
    assert value(frame, "mrr_segment_entering", "2025-03-01", owner="bo") == Decimal(100)
    assert value(frame, "mrr", "2025-03-01", owner="bo") == Decimal(140)
    assert value(frame, "mrr", "2025-03-01", owner="ann") == 0
    # the change is recorded at the load time when the file gives no valid_from
    later = ws.load("accounts", pd.DataFrame([moved | {"owner": "cy", "valid_from": None}]))
    assert later.updated == 1
    recorded = ws.table("account_history").to_pandas()
    since = recorded[recorded.value == "cy"]["valid_from"].iloc[0]
    assert abs(since - pd.Timestamp.now(tz="UTC").tz_localize(None)) < pd.Timedelta(days=1)


@pytest.mark.skipif(
    shutil.which("java") is None, reason="Spark needs Java; `make test` installs it"
)
def test_an_exported_attribute_history_splits_the_same_on_spark(
    ws: Workspace, tmp_path: Path
) -> None:
    _owner_of_a_moves_to_bo_on_10_march(ws)
    written = ws.export(tmp_path / "parquet")
    assert tmp_path / "parquet" / "account_history.parquet" in written
    spark = tenure.connect(f"pyspark://{(tmp_path / 'parquet').resolve()}")
    keys = ["metric", "period_start", "owner"]
    left, right = (
        w.metrics(["mrr", "mrr_segment_entering"], start=JAN, end=APR, by=["owner"])
        .sort_values(keys)
        .reset_index(drop=True)
        for w in (ws, spark)
    )
    assert value(right, "mrr", "2025-03-01", owner="ann") == 0  # A moved to bo in March
    assert [float(v) for v in left["value"]] == [float(v) for v in right["value"]]


def _wide(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    return frame.pivot_table(
        index=["period_start", *by], columns="metric", values="value", aggfunc="first"
    ).fillna(Decimal(0))


def test_cli_and_api_split_by_paid_plan(tmp_path: Path, store: Store) -> None:
    db = f"duckdb:///{tmp_path / 'seg.duckdb'}"
    with tenure.connect(db) as ws:
        load_book(
            ws,
            [sub("A", 100, "2025-01-01", plan="basic"), sub("B", 40, "2025-01-01", plan="pro")],
        )
        client = TestClient(create_app(ws, store, base_url="http://testserver"))
        viewer = {"Authorization": f"Bearer {create_key(store, 'viewer', 'viewer')}"}
        params = {"names": "mrr", "from": "2025-01-01", "to": "2025-01-01", "by": "paid_plan"}
        page = client.get("/api/metrics", headers=viewer, params=params).json()
        assert {(r["paid_plan"], r["value"]) for r in page["items"]} == {
            ("basic", "100.000000"),
            ("pro", "40.000000"),
        }
        wrong = client.get("/api/metrics", headers=viewer, params={**params, "names": "dau"})
        assert wrong.status_code == 400 and "revenue metrics only" in wrong.text
    command = ["metrics", "mrr", "--by", "paid_plan", "--from", "2025-01", "--to", "2025-01"]
    result = CliRunner().invoke(app, [*command, "--format", "csv", "--db", db])
    assert result.exit_code == 0, result.output
    assert "mrr,2025-01-01,basic,100.000000" in result.output
