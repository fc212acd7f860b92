"""The metric catalog against SPEC.md section 3's worked examples and hand-computed cases."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tenure.errors import QueryError
from tenure.metrics.catalog import CATALOG
from tenure.metrics.policy import RevenuePolicy
from tenure.workspace import Workspace
from tests.books import day, load_book, sub, value

JAN, MAR, APR, MAY = (
    dt.date(2025, 1, 1),
    dt.date(2025, 3, 1),
    dt.date(2025, 4, 1),
    dt.date(2025, 5, 1),
)


def _metrics(ws: Workspace, names: list[str], first: dt.date, last: dt.date, **kw: object):
    return ws.metrics(names, start=first, end=last, **kw)  # type: ignore[arg-type]


def test_hundred_customers_at_fifty_is_mrr_5000_and_arr_60000(ws: Workspace) -> None:
    load_book(ws, [sub(f"A{i}", 50, "2024-12-01") for i in range(100)])
    result = _metrics(ws, ["mrr", "arr", "customers", "arpa"], JAN, JAN)
    assert value(result, "mrr", "2025-01-01") == Decimal("5000")
    assert value(result, "arr", "2025-01-01") == Decimal("60000")
    assert value(result, "customers", "2025-01-01") == 100
    assert value(result, "arpa", "2025-01-01") == pytest.approx(50)


def test_annual_plans_count_one_twelfth(ws: Workspace) -> None:
    """100 accounts at 100/month and 50 at 600/year -> MRR 12,500."""
    subs = [sub(f"M{i}", 100, "2024-12-01") for i in range(100)]
    subs += [sub(f"Y{i}", 600, "2024-12-01", billing_period=12) for i in range(50)]
    load_book(ws, subs)
    assert value(_metrics(ws, ["mrr"], JAN, JAN), "mrr", "2025-01-01") == Decimal("12500")


def test_seats_billed_yearly_and_a_plan_switch(ws: Workspace) -> None:
    """4 seats of a 500/year plan billed 2,000 at once -> new MRR 166.67; a switch from a 100
    plan to a 250 plan -> MRR 250, expansion 150."""
    load_book(
        ws,
        [
            sub("SEATS", 500, "2025-01-10", quantity=4, billing_period=12),
            sub("SWITCH", 100, "2024-12-01", "2025-01-20"),
            sub("SWITCH", 250, "2025-01-20", plan="bigger"),
        ],
    )
    result = ws.drill("mrr_new", "2025-01")
    assert result.loc[0, "account_id"] == "SEATS"
    assert round(result.loc[0, "mrr_new"], 2) == Decimal("166.67")
    switch = ws.drill("mrr_expansion", "2025-01")
    assert switch.loc[0, "account_id"] == "SWITCH"
    assert switch.loc[0, "mrr_end"] == Decimal("250")
    assert switch.loc[0, "mrr_expansion"] == Decimal("150")


def test_upgrade_then_termination_seed_example(ws: Workspace) -> None:
    """100/month upgraded to 200 on 15 March and terminated on 10 April -> March: start 100,
    expansion +100, end 200; April: start 200, churned -200, end 0."""
    load_book(
        ws,
        [sub("A", 100, "2025-01-01", "2025-03-15"), sub("A", 200, "2025-03-15", "2025-04-10")],
    )
    names = ["mrr", "mrr_expansion", "mrr_churned", "mrr_net_change", "churned_customers"]
    result = _metrics(ws, names, MAR, APR)
    assert value(result, "mrr", "2025-03-01") == 200
    assert value(result, "mrr_expansion", "2025-03-01") == 100
    assert value(result, "mrr_net_change", "2025-03-01") == 100
    assert value(result, "mrr_churned", "2025-04-01") == -200
    assert value(result, "mrr", "2025-04-01") == 0
    assert value(result, "churned_customers", "2025-04-01") == 1


def test_revenue_retention_seed_example(ws: Workspace) -> None:
    """Starting MRR 100, churn -10, contraction -10, expansion +10 -> gross MRR churn 20%,
    net MRR churn 10%, GRR 80%, NRR 90%."""
    load_book(
        ws,
        [
            sub("CHURN", 10, "2024-12-01", "2025-01-15"),
            sub("SHRINK", 20, "2024-12-01", "2025-01-15"),
            sub("SHRINK", 10, "2025-01-15"),
            sub("GROW", 30, "2024-12-01", "2025-01-15"),
            sub("GROW", 40, "2025-01-15"),
            sub("STAY", 40, "2024-12-01"),
            sub("NEWCOMER", 500, "2025-01-05"),  # new accounts are outside NRR and GRR
        ],
    )
    names = ["mrr_churn_rate", "net_mrr_churn_rate", "grr", "nrr", "quick_ratio"]
    result = _metrics(ws, names, JAN, JAN)
    assert value(result, "mrr_churn_rate", "2025-01-01") == pytest.approx(20)
    assert value(result, "grr", "2025-01-01") == pytest.approx(80)
    assert value(result, "nrr", "2025-01-01") == pytest.approx(90)
    # Net MRR churn counts every movement: (10 + 10 - 10 - 0) / 100.
    assert value(result, "net_mrr_churn_rate", "2025-01-01") == pytest.approx(10)
    assert value(result, "quick_ratio", "2025-01-01") == pytest.approx(510 / 20)


def test_customer_churn_leaves_out_accounts_that_joined_and_left(ws: Workspace) -> None:
    """100 customers at the start, 11 churned of whom 1 joined that month -> 10%."""
    subs = [sub(f"A{i:03}", 10, "2024-12-01", "2025-01-20" if i < 10 else None) for i in range(100)]
    subs.append(sub("BRIEF", 10, "2025-01-05", "2025-01-25"))
    load_book(ws, subs)
    names = ["customer_churn_rate", "customer_churn_rate_period_total", "customer_retention_rate"]
    result = _metrics(ws, names, JAN, JAN)
    assert value(result, "customer_churn_rate", "2025-01-01") == pytest.approx(10)
    assert value(result, "customer_churn_rate_period_total", "2025-01-01") == pytest.approx(10)
    assert value(result, "customer_retention_rate", "2025-01-01") == pytest.approx(90)


def test_churn_5_percent_and_retention_e_minus_n_over_s(ws: Workspace) -> None:
    """1,000 at the start and 50 lost -> 5%; with 30 new, E = 980: (980 - 30) / 1000 = 95%;
    the period-total variant divides by all 1,030 customers of the month."""
    subs = [
        sub(f"A{i:04}", 10, "2024-12-01", "2025-01-31" if i < 50 else None) for i in range(1000)
    ]
    subs += [sub(f"N{i:02}", 10, "2025-01-10") for i in range(30)]
    load_book(ws, subs)
    names = ["customer_churn_rate", "customer_retention_rate", "customer_churn_rate_period_total"]
    result = _metrics(ws, [*names, "customers"], JAN, JAN)
    assert value(result, "customer_churn_rate", "2025-01-01") == pytest.approx(5)
    assert value(result, "customers", "2025-01-01") == 980
    assert value(result, "customer_retention_rate", "2025-01-01") == pytest.approx(95)
    assert value(result, "customer_churn_rate_period_total", "2025-01-01") == pytest.approx(
        50 / 1030 * 100
    )


def test_arpa_seed_example(ws: Workspace) -> None:
    """MRR per account 100, 100, 300, 500, 500 -> ARPA 300."""
    load_book(ws, [sub(f"A{i}", a, "2024-12-01") for i, a in enumerate([100, 100, 300, 500, 500])])
    assert value(_metrics(ws, ["arpa"], JAN, JAN), "arpa", "2025-01-01") == pytest.approx(300)


def _steady_book(ws: Workspace, churn_per_month: int, **extra: list) -> None:
    """100 accounts at 100/month; from February on, `churn_per_month` leave and as many join
    each month, so customer churn is churn_per_month % every month."""
    subs = []
    for i in range(100):
        leaves = i // churn_per_month + 2  # the month it leaves (2 = February ...)
        end = f"2025-{leaves:02}-10" if leaves <= 8 else None
        subs.append(sub(f"A{i:03}", 100, "2024-12-15", end))
    for month in range(2, 9):
        for j in range(churn_per_month):
            subs.append(sub(f"N{month}{j:02}", 100, f"2025-{month:02}-05"))
    load_book(ws, subs, **extra)


def test_ltv_is_arpa_over_trailing_six_month_churn(ws: Workspace) -> None:
    """ARPA 100 at 5% monthly churn -> LTV 2,000 (trailing six months, current one excluded)."""
    _steady_book(ws, 5)
    aug = dt.date(2025, 8, 1)
    result = _metrics(ws, ["clv_subscription", "customer_churn_rate", "arpa"], aug, aug)
    assert value(result, "customer_churn_rate", "2025-08-01") == pytest.approx(5)
    assert value(result, "clv_subscription", "2025-08-01") == pytest.approx(2000)
    with_margin = ws.metrics(
        ["clv_subscription"], start=aug, end=aug, policy=RevenuePolicy(gross_margin=0.8)
    )
    assert value(with_margin, "clv_subscription", "2025-08-01") == pytest.approx(1600)


def test_clv_simple_is_apv_times_apf_times_lifespan(ws: Workspace) -> None:
    """50 per purchase, 4 purchases per customer in the period, a 20-period lifespan (5%
    churn) -> 50 x 4 x 20 = 4,000 (the seed's 50 x 4 x 5 years = 1,000 on a yearly grain)."""
    orders = [
        {"account_id": f"A{i:03}", "ordered_at": day(f"2025-08-{d:02}"), "amount": 50}
        for i in range(50, 60)
        for d in (3, 10, 17, 24)
    ]
    _steady_book(ws, 5, orders=orders)
    aug = dt.date(2025, 8, 1)
    names = [
        "clv_simple",
        "average_purchase_value",
        "purchase_frequency",
        "customer_lifespan_months",
    ]
    result = _metrics(ws, names, aug, aug)
    assert value(result, "average_purchase_value", "2025-08-01") == pytest.approx(50)
    assert value(result, "purchase_frequency", "2025-08-01") == pytest.approx(4)
    assert value(result, "customer_lifespan_months", "2025-08-01") == pytest.approx(20)
    assert value(result, "clv_simple", "2025-08-01") == pytest.approx(4000)


def test_costs_give_crc_cac_ltv_cac_payback_and_net_clv(ws: Workspace) -> None:
    costs = [
        {
            "period_start": dt.date(2025, 8, 1),
            "period_end": dt.date(2025, 8, 31),
            "category": c,
            "amount": a,
        }
        for c, a in [
            ("support", 600),
            ("customer_success", 400),
            ("sales", 300),
            ("acquisition_marketing", 200),
        ]
    ]
    # A quarter's training bill is spread by days: 92 days, 31 of them in August.
    costs.append(
        {
            "period_start": dt.date(2025, 7, 1),
            "period_end": dt.date(2025, 9, 30),
            "category": "training",
            "amount": 920,
        }
    )
    _steady_book(ws, 5, costs=costs)
    aug = dt.date(2025, 8, 1)
    names = ["crc", "cac", "ltv_cac", "cac_payback_months", "clv_net"]
    result = _metrics(ws, names, aug, aug, by=["plan_group"])
    crc = (600 + 400 + 310) / 100
    assert value(result, "crc", "2025-08-01", plan_group="all") == pytest.approx(crc)
    assert value(result, "cac", "2025-08-01", plan_group="all") == pytest.approx(500 / 5)
    assert value(result, "ltv_cac", "2025-08-01", plan_group="all") == pytest.approx(20)
    assert value(result, "cac_payback_months", "2025-08-01", plan_group="all") == pytest.approx(1)
    assert value(result, "clv_net", "2025-08-01", plan_group="all") == pytest.approx(
        2000 - 100 - crc * 20
    )


def test_repeat_purchase_rate_200_of_1000(ws: Workspace) -> None:
    orders = [
        {"account_id": f"B{i:04}", "ordered_at": day("2025-01-03"), "amount": 20}
        for i in range(1000)
    ]
    orders += [
        {"account_id": f"B{i:04}", "ordered_at": day("2025-01-20"), "amount": 20}
        for i in range(200)
    ]
    orders.append(
        {"account_id": "B0999", "ordered_at": day("2025-01-25"), "amount": -20, "kind": "refund"}
    )
    load_book(ws, [], orders=orders)
    result = _metrics(ws, ["repeat_purchase_rate", "revenue"], JAN, JAN)
    assert value(result, "repeat_purchase_rate", "2025-01-01") == pytest.approx(20)
    assert value(result, "revenue", "2025-01-01") == Decimal("24000")
    deducted = ws.metrics(["revenue"], start=JAN, end=JAN, policy=RevenuePolicy(refunds="deducted"))
    assert value(deducted, "revenue", "2025-01-01") == Decimal("23980")


def test_expansion_revenue_counts_one_time_purchases_of_existing_customers(ws: Workspace) -> None:
    orders = [
        {"account_id": "OLD", "ordered_at": day("2025-01-12"), "amount": 70},
        {"account_id": "FRESH", "ordered_at": day("2025-01-12"), "amount": 30},
    ]
    load_book(ws, [sub("OLD", 10, "2024-11-01")], orders=orders)
    result = _metrics(ws, ["expansion_revenue", "revenue"], JAN, JAN)
    assert value(result, "expansion_revenue", "2025-01-01") == Decimal("70")
    assert value(result, "revenue", "2025-01-01") == Decimal("100")


def test_discounts_trials_and_free_plans(ws: Workspace) -> None:
    """A 10% discount on 120/year is 9/month; 100% off and trials are not paying."""
    load_book(
        ws,
        [
            sub("DISC", 120, "2024-12-01", billing_period=12, discount=0.1),
            sub("FREE", 50, "2024-12-01", discount=1),
            sub("ZERO", 0, "2024-12-01"),
            sub("TRIAL", 40, "2025-01-10", trial_ends_at="2025-02-10"),
        ],
    )
    result = _metrics(ws, ["mrr", "customers", "mrr_new"], JAN, dt.date(2025, 2, 1))
    assert value(result, "mrr", "2025-01-01") == Decimal("9")
    assert value(result, "customers", "2025-01-01") == 1
    assert value(result, "mrr_new", "2025-02-01") == Decimal("40")
    gross = ws.metrics(["mrr"], start=JAN, end=JAN, policy=RevenuePolicy(discounts="gross"))
    assert value(gross, "mrr", "2025-01-01") == Decimal("60")  # 10 + 50


def test_weekly_and_daily_plans(ws: Workspace) -> None:
    load_book(
        ws,
        [
            sub("WEEK", 12, "2024-12-01", billing_unit="week"),
            sub("DAY", 2, "2024-12-01", billing_unit="day"),
        ],
    )
    calendar = value(_metrics(ws, ["mrr"], JAN, JAN), "mrr", "2025-01-01")
    assert calendar == Decimal("52.000000") + Decimal("60.833333")
    simple = ws.metrics(["mrr"], start=JAN, end=JAN, policy=RevenuePolicy(short_plans="simple"))
    assert value(simple, "mrr", "2025-01-01") == Decimal("108")


def test_cancellation_churns_at_the_end_of_the_paid_period(ws: Workspace) -> None:
    load_book(ws, [sub("A", 100, "2025-01-01", "2025-04-01", canceled_at="2025-03-05")])
    result = _metrics(ws, ["mrr", "churned_customers"], MAR, APR)
    assert value(result, "mrr", "2025-03-01") == 100  # still paid for March
    assert value(result, "churned_customers", "2025-03-01") == 0
    assert value(result, "churned_customers", "2025-04-01") == 1
    early = ws.metrics(
        ["churned_customers"],
        start=MAR,
        end=MAR,
        policy=RevenuePolicy(churn_recognition="cancellation"),
    )
    assert value(early, "churned_customers", "2025-03-01") == 1


def test_reactivation_is_not_new(ws: Workspace) -> None:
    load_book(ws, [sub("A", 100, "2025-01-01", "2025-03-01"), sub("A", 120, "2025-05-03")])
    names = ["mrr_new", "mrr_churned", "mrr_reactivation", "reactivated_customers", "new_customers"]
    result = _metrics(ws, names, JAN, MAY)
    assert value(result, "mrr_new", "2025-01-01") == 100
    assert value(result, "mrr_churned", "2025-03-01") == -100
    assert value(result, "mrr_reactivation", "2025-05-01") == 120
    assert value(result, "reactivated_customers", "2025-05-01") == 1
    assert value(result, "new_customers", "2025-05-01") == 0


def test_currency_conversion_and_fx_impact(ws: Workspace) -> None:
    fx = [
        {"date": dt.date(2024, 12, 1), "currency": "EUR", "rate_to_reporting": 1.1},
        {"date": dt.date(2025, 2, 1), "currency": "EUR", "rate_to_reporting": 1.2},
    ]
    load_book(
        ws, [sub("EU", 100, "2024-12-01", currency="EUR"), sub("US", 50, "2024-12-01")], fx=fx
    )
    names = ["mrr", "mrr_fx_impact", "mrr_expansion", "nrr"]
    result = _metrics(ws, names, JAN, dt.date(2025, 2, 1))
    assert value(result, "mrr", "2025-01-01") == Decimal("160")
    assert value(result, "mrr", "2025-02-01") == Decimal("170")
    assert value(result, "mrr_fx_impact", "2025-02-01") == Decimal("10")
    assert value(result, "mrr_expansion", "2025-02-01") == 0
    assert value(result, "nrr", "2025-02-01") == pytest.approx(100)


def test_missing_exchange_rate_is_a_clear_error(ws: Workspace) -> None:
    """The load rejects a row dated before its currency's first rate (tests/test_data_quality.py);
    a rate can still be missing when the reporting currency changes after the load."""
    fx = [{"date": dt.date(2025, 6, 1), "currency": "EUR", "rate_to_reporting": 1.1}]
    load_book(ws, [sub("US", 100, "2024-12-01")], fx=fx)
    ws.set_setting("reporting_currency", "EUR")
    with pytest.raises(QueryError, match=r"no exchange rate.*USD"):
        _metrics(ws, ["mrr"], JAN, JAN)


def test_empty_periods_give_null_ratios_not_zero_or_errors(ws: Workspace) -> None:
    load_book(ws, [sub("A", 100, "2025-06-01")])
    result = _metrics(ws, list(CATALOG), JAN, dt.date(2025, 2, 1))
    jan = result[result.period_start == JAN].set_index("metric")
    assert jan.loc["mrr", "value"] == 0
    for name in ("arpa", "nrr", "grr", "customer_churn_rate", "quick_ratio", "clv_subscription"):
        assert jan.loc[name, "value"] is None, name
    assert set(result.metric) == set(CATALOG)


def test_segments_split_the_total_and_filters_restrict_it(ws: Workspace) -> None:
    accounts = {
        "A": {"plan_group": "small"},
        "B": {"plan_group": "big"},
        "C": {"plan_group": "big"},
    }
    load_book(
        ws,
        [sub("A", 10, "2024-12-01"), sub("B", 100, "2024-12-01"), sub("C", 300, "2024-12-01")],
        accounts=accounts,
    )
    split = _metrics(ws, ["mrr", "arpa"], JAN, JAN, by=["plan_group"])
    assert value(split, "mrr", "2025-01-01", plan_group="big") == 400
    assert value(split, "arpa", "2025-01-01", plan_group="big") == pytest.approx(200)
    assert value(split, "mrr", "2025-01-01", plan_group="small") == 10
    kept = _metrics(ws, ["mrr"], JAN, JAN, where="plan_group = 'big' AND account_id != 'C'")
    assert value(kept, "mrr", "2025-01-01") == 100


def test_users_and_buyers_per_segment_match_their_drill_down(ws: Workspace) -> None:
    """ARPU and repeat purchase rate are summed per segment before the calendar join, while a
    drill-down still lists per-account rows."""
    accounts = {"A": {"tier": "small"}, "B": {"tier": "big"}, "C": {"tier": "big"}}
    users = [
        {"user_id": f"{a}{n}", "account_id": a, "created_at": day(created)}
        for a, n, created in [
            ("A", 1, "2024-11-03"),
            ("B", 1, "2024-11-03"),
            ("B", 2, "2025-01-15"),  # joins during January: average 1.5 users
            ("C", 1, "2024-10-01"),
        ]
    ]
    orders = [
        {"account_id": "A", "ordered_at": day("2024-12-05"), "amount": 30},
        {"account_id": "A", "ordered_at": day("2025-01-07"), "amount": 20},
        {"account_id": "B", "ordered_at": day("2025-01-09"), "amount": 50},
        {"account_id": "C", "ordered_at": day("2025-02-01"), "amount": 10},
    ]
    load_book(ws, [], accounts=accounts, orders=orders, users=users)
    split = _metrics(ws, ["arpu", "repeat_purchase_rate"], JAN, JAN, by=["tier"])
    assert value(split, "arpu", "2025-01-01", tier="small") == pytest.approx(20)
    assert value(split, "arpu", "2025-01-01", tier="big") == pytest.approx(50 / 2.5)
    assert value(split, "repeat_purchase_rate", "2025-01-01", tier="small") == 100
    assert value(split, "repeat_purchase_rate", "2025-01-01", tier="big") == 0  # C buys in Feb
    revenue = ws.drill("arpu", "2025-01", by=["tier"])  # the numerator's accounts
    assert list(zip(revenue.account_id, revenue.tier, strict=True)) == [
        ("B", "big"),
        ("A", "small"),
    ]
    buyers = ws.drill("repeat_purchase_rate", "2025-01").set_index("account_id")
    assert buyers.loc["A", "repeat_buyers_to_date"] == 1
    assert buyers.loc["B", "repeat_buyers_to_date"] == 0
    assert list(buyers.buyers_to_date) == [1, 1]


def test_a_new_attribute_column_is_seen_after_a_load(ws: Workspace) -> None:
    load_book(ws, [sub("A", 10, "2024-12-01")])
    assert "tier" not in ws.table("accounts").columns
    load_book(ws, [sub("B", 5, "2024-12-01")], accounts={"B": {"tier": "big"}})
    split = _metrics(ws, ["mrr"], JAN, JAN, by=["tier"])
    assert value(split, "mrr", "2025-01-01", tier="big") == 5


def test_drill_lists_who_churned_with_lost_mrr(ws: Workspace) -> None:
    load_book(
        ws,
        [
            sub("A", 100, "2025-01-01", "2025-03-10"),
            sub("B", 70, "2025-01-01", "2025-03-20"),
            sub("C", 5, "2025-01-01"),
        ],
    )
    rows = ws.drill("mrr_churned", "2025-03")
    assert list(rows.account_id) == ["A", "B"]
    assert list(rows.mrr_churned) == [-100, -70]
    assert list(rows.name) == ["Account A", "Account B"]
    assert ws.drill("customer_churn_rate", "2025-03").shape[0] == 3  # the denominator's accounts


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda ws: ws.metrics(["mrr", "nope"]), "unknown metric 'nope'; choose from: mrr"),
        (lambda ws: ws.metrics(["mrr"], grain="fortnight"), "unknown grain.*day, week"),
        (
            lambda ws: ws.metrics(["mrr"], by=["colour"]),
            "unknown segment attribute 'colour'; valid: plan_group",
        ),
        (lambda ws: ws.metrics(["mrr"], where="plan_group ="), "cannot read the filter"),
        (lambda ws: ws.metrics(["mrr"], where="1=1; DROP TABLE accounts"), "filter"),
        (lambda ws: ws.metrics(["mrr"], where="tier = 'x'"), "unknown column 'tier'"),
        (lambda ws: ws.drill("crc", "2025-01"), "company-wide"),
        (lambda ws: ws.drill("mrr", "March"), "cannot read the period"),
        (lambda ws: ws.metrics([]), "name at least one metric"),
    ],
)
def test_bad_requests_name_the_valid_choices(ws: Workspace, call, message: str) -> None:
    load_book(ws, [sub("A", 100, "2025-01-01")])
    with pytest.raises(QueryError, match=message):
        call(ws)
    assert ws.has_table("accounts")


def test_result_shape_and_labels(ws: Workspace) -> None:
    load_book(ws, [sub("A", 100, "2025-01-01")])
    result = _metrics(ws, ["customer_churn_rate", "mrr"], JAN, MAR, grain="month")
    assert list(result.columns) == ["metric", "period_start", "value", "numerator", "denominator"]
    assert (
        result.attrs["definitions"]["customer_churn_rate"] == "customers_churned / customers_start"
    )
    assert result.attrs["policy"]["churn_recognition"] == "paid_period_end"
    quarterly = ws.metrics(["mrr"], start=JAN, end=dt.date(2025, 6, 30), grain="quarter")
    assert list(quarterly.period_start) == [JAN, APR]


def test_cohort_table_and_survival(ws: Workspace) -> None:
    load_book(
        ws,
        [
            sub("A", 100, "2025-01-05", "2025-02-15"),
            sub("B", 100, "2025-01-05"),
            sub("C", 50, "2025-01-20", "2025-03-20"),
            sub("D", 60, "2025-02-01"),
        ],
    )
    table = ws.cohorts(start=JAN, end=MAR)
    jan = table[table.cohort == JAN].set_index("offset")
    assert list(jan.cohort_size) == [3, 3, 3]
    assert list(jan.active) == [3, 2, 1]
    assert jan.loc[2, "revenue_retention"] == pytest.approx(40)
    assert table[table.cohort == dt.date(2025, 2, 1)].cohort_size.iloc[0] == 1
    curve, summary = ws.survival(as_of=dt.date(2025, 6, 1))
    # Lifetimes: A 41 days (ended), C 59 days (ended), B and D still paying (censored).
    assert list(curve.duration) == [41, 59, 120, 147]
    assert list(curve.survival) == pytest.approx([0.75, 0.5, 0.5, 0.5])
    assert summary.loc[0, "median_lifetime_days"] == 59
    assert summary.loc[0, "churned"] == 2
