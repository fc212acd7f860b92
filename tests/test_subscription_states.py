"""Subscription states a billing export really has: cancellations without an end, scheduled
churn, pauses, past-due, trials, the reactivation window, sign-up and churn in one period, and
quarters still running. Every expected number is worked out by hand in the docstrings."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tenure.cli import app
from tenure.errors import TenureError
from tenure.metrics.policy import setting_defaults
from tenure.models import account_snapshot
from tenure.workspace import Workspace
from tests.books import load_book, sub

MOVES = [
    "mrr",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churned",
    "mrr_reactivation",
    "customers",
    "new_customers",
    "reactivated_customers",
    "churned_customers",
]


def _table(
    ws: Workspace, first: str, last: str, names: list[str] = MOVES, grain: str = "month"
) -> pd.DataFrame:
    result = ws.metrics(
        names,
        grain=grain,
        start=dt.date.fromisoformat(first),
        end=dt.date.fromisoformat(last),
    )
    table = result.pivot(index="period_start", columns="metric", values="value")
    return table.astype(float)[names]


def _column(table: pd.DataFrame, name: str) -> list[float]:
    return [float(v) for v in table[name]]


# -- 1. a cancellation without an end, and scheduled churn --------------------------------------
@pytest.fixture
def canceled(ws: Workspace) -> Workspace:
    """A: 100 a month from 10 January 2025 (periods Jan 10, Feb 10, Mar 10, ...), canceled on
    20 March with no ended_at: the period in force ends on 10 April. B: 1,200 a year from
    15 June 2024 (100 a month), canceled 1 February 2025: it ends on 15 June 2025. D: a trial
    until 15 January canceled on the 10th: never pays."""
    return load_book(
        ws,
        [
            sub("A", 100, "2025-01-10", canceled_at="2025-03-20"),
            sub("B", 1200, "2024-06-15", billing_period=12, canceled_at="2025-02-01"),
            sub("D", 100, "2025-01-01", trial_ends_at="2025-01-15", canceled_at="2025-01-10"),
        ],
    )


def test_a_cancellation_churns_at_the_end_of_the_paid_period_in_force(
    canceled: Workspace,
) -> None:
    table = _table(canceled, "2025-01-01", "2025-07-01")
    # Jan-Mar: A + B; April: A gone (churned -100); May: B; June: B gone.
    assert _column(table, "mrr") == [200, 200, 200, 100, 100, 0, 0]
    assert _column(table, "mrr_churned") == [0, 0, 0, -100, 0, -100, 0]
    assert _column(table, "customers") == [2, 2, 2, 1, 1, 0, 0]
    assert table["mrr_new"].iloc[0] == 100  # A only: D never paid

    canceled.set_setting("policy.churn_recognition", "cancellation")
    at_once = _table(canceled, "2025-01-01", "2025-07-01")
    # A churns on 20 March and B on 1 February.
    assert _column(at_once, "mrr") == [200, 100, 0, 0, 0, 0, 0]
    assert _column(at_once, "mrr_churned") == [0, -100, -100, 0, 0, 0, 0]


def test_scheduled_churn_mrr_counts_the_accounts_ending_within_n_days(
    canceled: Workspace,
) -> None:
    """At the end of February (1 March) A ends in 40 days and B in 106; at the end of March
    (1 April) A in 9 days, B in 75; at the end of April B in 45; at the end of May B in 14."""
    names = ["scheduled_churn_mrr"]
    table = _table(canceled, "2025-01-01", "2025-06-01", names)
    assert _column(table, "scheduled_churn_mrr") == [0, 0, 100, 0, 100, 0]
    canceled.set_setting("policy.scheduled_churn_days", "60")
    wider = _table(canceled, "2025-01-01", "2025-06-01", names)
    assert _column(wider, "scheduled_churn_mrr") == [0, 100, 100, 100, 100, 0]
    attrs = canceled.metrics(names, start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 1)).attrs
    assert attrs["policy"]["scheduled_churn_days"] == 60

    assert canceled.drill("scheduled_churn_mrr", "2025-03")["account_id"].tolist() == ["A"]
    assert canceled.drill("scheduled_churn_mrr", "2025-04")["account_id"].tolist() == ["B"]


def test_the_accounts_snapshot_uses_the_same_rule(canceled: Workspace) -> None:
    frame = account_snapshot.build(canceled, as_of=dt.date(2025, 3, 25)).set_index("account_id")
    churns = {
        a: None if pd.isna(v) else str(v)[:10] for a, v in frame["scheduled_churn_on"].items()
    }
    assert churns == {"A": "2025-04-10", "B": "2025-06-15", "D": None}


# -- 2. pauses -------------------------------------------------------------------------------
@pytest.fixture
def paused(ws: Workspace) -> Workspace:
    """P: 100 a month from 1 January 2025, paused 15 February to 10 April; Q: 50 a month
    throughout; R: 30 a month from January, paused from 20 May with no resumption."""
    return load_book(
        ws,
        [
            sub(
                "P",
                100,
                "2025-01-01",
                paused_from=pd.Timestamp("2025-02-15"),
                paused_until=pd.Timestamp("2025-04-10"),
            ),
            sub("Q", 50, "2025-01-01"),
            sub("R", 30, "2025-01-01", paused_from=pd.Timestamp("2025-05-20")),
        ],
    )


def test_a_pause_is_a_contraction_and_a_resumption_an_expansion_by_default(
    paused: Workspace,
) -> None:
    table = _table(paused, "2025-01-01", "2025-06-01")
    assert _column(table, "mrr") == [180, 80, 80, 180, 150, 150]
    assert _column(table, "mrr_contraction") == [0, -100, 0, 0, -30, 0]
    assert _column(table, "mrr_expansion") == [0, 0, 0, 100, 0, 0]
    assert _column(table, "customers") == [3, 3, 3, 3, 3, 3]  # paused: a customer at 0
    assert table["mrr_churned"].sum() == 0 and table["mrr_reactivation"].sum() == 0


def test_a_pause_is_a_churn_and_a_resumption_a_reactivation_by_policy(
    paused: Workspace,
) -> None:
    paused.set_setting("policy.pause", "churn")
    table = _table(paused, "2025-01-01", "2025-06-01")
    assert _column(table, "mrr") == [180, 80, 80, 180, 150, 150]
    assert _column(table, "mrr_churned") == [0, -100, 0, 0, -30, 0]
    assert _column(table, "mrr_reactivation") == [0, 0, 0, 100, 0, 0]
    assert _column(table, "customers") == [3, 2, 2, 3, 2, 2]
    assert _column(table, "reactivated_customers") == [0, 0, 0, 1, 0, 0]
    assert table["mrr_contraction"].sum() == 0 and table["mrr_expansion"].sum() == 0
    with pytest.raises(TenureError, match="contraction, churn"):
        paused.set_setting("policy.pause", "freeze")


def test_a_paused_until_without_paused_from_is_rejected(ws: Workspace) -> None:
    rows = [
        {
            "subscription_id": "S1",
            "account_id": "A",
            "plan": "pro",
            "started_at": "2025-01-01",
            "amount": 10,
            "currency": "USD",
            "paused_until": "2025-02-01",
        }
    ]
    report = ws.load("subscriptions", pd.DataFrame(rows))
    assert report.rejected == 1
    assert "paused_until needs paused_from" in report.rejects[0].reason


# -- 3. past-due -----------------------------------------------------------------------------
def test_past_due_subscriptions_count_or_leave_after_n_days(ws: Workspace) -> None:
    """X: 100 a month billed on the 1st since a year ago, past_due today: its unpaid period
    began on the 1st of this month. Y: 40 a month, active. exclude_after_days:0 takes X out
    from the 1st of this month; :45 from 45 days later, after this month's end."""
    today = dt.date.today()
    this_month = today.replace(day=1)
    last_month = (this_month - dt.timedelta(days=1)).replace(day=1)
    next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
    a_year_ago = this_month.replace(year=this_month.year - 1).isoformat()
    load_book(
        ws,
        [sub("X", 100, a_year_ago, status="past_due"), sub("Y", 40, a_year_ago, status="active")],
    )
    first, last = last_month.isoformat(), next_month.isoformat()
    assert _column(_table(ws, first, last, ["mrr"]), "mrr") == [140, 140, 140]
    ws.set_setting("policy.past_due", "exclude_after_days:0")
    assert _column(_table(ws, first, last, ["mrr"]), "mrr") == [140, 40, 40]
    ws.set_setting("policy.past_due", "exclude_after_days:45")
    table = _table(ws, first, last, ["mrr", "mrr_churned"])
    assert _column(table, "mrr") == [140, 140, 40]
    assert _column(table, "mrr_churned") == [0, 0, -100]
    for bad in ("exclude_after_days", "exclude_after_days:x", "exclude_after_days 5", "never"):
        with pytest.raises(TenureError, match="exclude_after_days:N"):
            ws.set_setting("policy.past_due", bad)


def test_an_unknown_status_is_rejected_at_load(ws: Workspace) -> None:
    rows = [
        {
            "subscription_id": "S1",
            "account_id": "A",
            "plan": "pro",
            "started_at": "2025-01-01",
            "amount": 10,
            "currency": "USD",
            "status": "frozen",
        }
    ]
    assert ws.load("subscriptions", pd.DataFrame(rows)).rejected == 1


# -- 4. reactivation window, trials, sign-up and churn in one period ------------------------------
def test_the_reactivation_window(ws: Workspace) -> None:
    """R paid January (to 1 February), came back 15 March: 42 days later. S paid January and came
    back 1 September: 212 days later."""
    load_book(
        ws,
        [
            sub("R", 100, "2025-01-01", "2025-02-01"),
            sub("R", 100, "2025-03-15"),
            sub("S", 70, "2025-01-01", "2025-02-01"),
            sub("S", 70, "2025-09-01"),
        ],
    )
    names = ["mrr_new", "mrr_reactivation", "new_customers", "reactivated_customers"]

    def march_and_september() -> list[list[float]]:
        table = _table(ws, "2025-03-01", "2025-09-01", names)
        return [[float(v) for v in table.loc[dt.date(2025, month, 1)]] for month in (3, 9)]

    assert march_and_september() == [[0, 100, 0, 1], [0, 70, 0, 1]]  # default: no window
    ws.set_setting("policy.reactivation_window_days", "60")
    assert march_and_september() == [[0, 100, 0, 1], [70, 0, 1, 0]]
    ws.set_setting("policy.reactivation_window_days", "30")
    assert march_and_september() == [[100, 0, 1, 0], [70, 0, 1, 0]]
    ws.set_setting("policy.reactivation_window_days", "none")
    assert march_and_september() == [[0, 100, 0, 1], [0, 70, 0, 1]]
    with pytest.raises(TenureError, match="whole number of days"):
        ws.set_setting("policy.reactivation_window_days", "-3")


def test_trials_and_free_subscriptions_not_paying_or_paying_at_zero(ws: Workspace) -> None:
    """T: 100 a month from 10 January 2025, free until 10 February. F: 100% discounted."""
    load_book(
        ws,
        [
            sub("T", 100, "2025-01-10", trial_ends_at="2025-02-10"),
            sub("F", 100, "2025-01-01", discount=1),
        ],
    )
    names = ["mrr", "mrr_new", "mrr_expansion", "customers", "new_customers", "arpa"]
    table = _table(ws, "2025-01-01", "2025-02-01", names)
    assert _column(table, "mrr") == [0, 100]
    assert _column(table, "customers") == [0, 1]
    assert _column(table, "mrr_new") == [0, 100]
    assert _column(table, "mrr_expansion") == [0, 0]
    ws.set_setting("policy.trials", "paying_at_zero")
    table = _table(ws, "2025-01-01", "2025-02-01", names)
    assert _column(table, "mrr") == [0, 100]
    assert _column(table, "customers") == [2, 2]
    assert _column(table, "new_customers") == [2, 0]
    assert _column(table, "mrr_new") == [0, 0]
    assert _column(table, "mrr_expansion") == [0, 100]  # the trial ends: paying more
    assert _column(table, "arpa") == [0, 50]


def test_sign_up_and_churn_in_one_period(ws: Workspace) -> None:
    """K pays 50 throughout; J pays 100 from 5 to 20 March 2025 only."""
    load_book(ws, [sub("K", 50, "2024-12-01"), sub("J", 100, "2025-03-05", "2025-03-20")])
    names = [
        "mrr",
        "mrr_new",
        "mrr_churned",
        "mrr_net_change",
        "new_customers",
        "churned_customers",
        "customer_churn_rate",
        "customer_churn_rate_period_total",
    ]
    march = _table(ws, "2025-03-01", "2025-03-01", names).iloc[0].tolist()
    assert march == [50, 0, 0, 0, 0, 0, 0, 0]  # excluded (ChartMogul), the default
    ws.set_setting("policy.same_period_churn", "counted")
    march = _table(ws, "2025-03-01", "2025-03-01", names).iloc[0].tolist()
    # Stripe: J is new and churned; churn 1 of 1 at the start, 1 of 2 over the period.
    assert march == [50, 100, -100, 0, 1, 1, 100, 50]
    drill = ws.drill("mrr_churned", "2025-03")
    assert drill[["account_id", "movement"]].values.tolist() == [["J", "joined_and_churned"]]


# -- 5. settings are listed, recorded and documented ----------------------------------------------
NEW_SETTINGS = {
    "pause": "contraction",
    "past_due": "count",
    "reactivation_window_days": None,
    "trials": "not_paying",
    "same_period_churn": "excluded",
    "taxes": "excluded",
    "scheduled_churn_days": 30,
}


def test_every_setting_is_listed_recorded_and_documented(
    ws: Workspace,
) -> None:
    load_book(ws, [sub("K", 50, "2024-12-01")])
    attrs = ws.metrics(["mrr"], start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 1)).attrs
    for name, default in NEW_SETTINGS.items():
        assert attrs["policy"][name] == default
    ws.set_setting("policy.trials", "paying_at_zero")
    attrs = ws.metrics(["mrr"], start=dt.date(2025, 1, 1), end=dt.date(2025, 1, 1)).attrs
    assert attrs["policy"]["trials"] == "paying_at_zero"

    listed = CliRunner().invoke(app, ["config", "list"]).output
    root = Path(__file__).parent.parent
    definitions = (root / "docs" / "metrics.md").read_text(encoding="utf-8")
    readme = (root / "README.md").read_text(encoding="utf-8").split("## Revenue definitions")[1]
    for name in NEW_SETTINGS:
        line = next(x for x in listed.splitlines() if x.startswith(f"policy.{name} "))
        assert "default" in line and len(line) > 60, line
        assert f"`{name}`" in definitions, name
    for setting, default in setting_defaults().items():
        name = setting.removeprefix("policy.")
        assert name == "preset" or f"| `{name}` | {default}" in readme, name


# -- 6. quarters -----------------------------------------------------------------------------
def test_a_quarter_still_running_is_read_at_the_end_of_today(ws: Workspace) -> None:
    """U pays 100 a month and ends tomorrow: the running quarter shows it (read today), a
    finished quarter is read at its end."""
    today = dt.date.today()
    quarter = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    quarter_end = (quarter + dt.timedelta(days=95)).replace(day=1) - dt.timedelta(days=1)
    if today >= quarter_end - dt.timedelta(days=1):
        pytest.skip("the quarter ends today or tomorrow")
    tomorrow = (today + dt.timedelta(days=1)).isoformat()
    load_book(ws, [sub("U", 100, "2020-01-01", tomorrow)])
    result = ws.metrics(["mrr", "mrr_churned"], grain="quarter", start=quarter, end=today)
    values = result.set_index("metric")["value"].astype(float).to_dict()
    assert values == {"mrr": 100, "mrr_churned": 0}
    assert result.attrs["partial_period"]["period_start"] == quarter
    assert result.attrs["partial_period"]["measured_at"] == today

    month = ws.metrics(["mrr"], grain="month", start=quarter, end=quarter)
    assert "partial_period" not in month.attrs  # months are read at their end
    past = ws.metrics(["mrr"], grain="quarter", start=dt.date(2024, 1, 1), end=dt.date(2024, 1, 1))
    assert "partial_period" not in past.attrs and float(past["value"].iloc[0]) == 100


def test_a_return_is_new_by_quarter_and_a_reactivation_by_month(ws: Workspace) -> None:
    """V paid January 2025 only (to 1 February) and returns on 1 May."""
    load_book(ws, [sub("V", 100, "2025-01-01", "2025-02-01"), sub("V", 100, "2025-05-01")])
    names = ["mrr_new", "mrr_reactivation"]
    by_month = _table(ws, "2025-05-01", "2025-05-01", names)
    assert by_month.iloc[0].tolist() == [0, 100]
    by_quarter = _table(ws, "2025-01-01", "2025-04-01", names, grain="quarter")
    assert by_quarter.loc[dt.date(2025, 1, 1)].tolist() == [0, 0]  # not paying on 31 March
    assert by_quarter.loc[dt.date(2025, 4, 1)].tolist() == [100, 0]
