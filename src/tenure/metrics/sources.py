"""Per-account-and-period rows from orders, users and costs (MRR rows live in mrr.py).

Every source returns `account_id`, `period_index`, `period_start` and additive measure columns;
a metric sums them per period and segment, and a drill-down lists the rows themselves.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.data.contract import COST_CATEGORIES
from tenure.engine.calendar import truncate
from tenure.metrics.mrr import paying_spells
from tenure.metrics.query import ZERO, Query, convert, flag, money

RETENTION_COSTS = ("customer_success", "support", "onboarding", "training", "customer_marketing")
ACQUISITION_COSTS = ("acquisition_marketing", "sales")
assert set(RETENTION_COSTS + ACQUISITION_COSTS) <= set(COST_CATEGORIES)

ORDER_MEASURES = ("revenue", "purchase_value", "purchases", "purchasers", "expansion_revenue")
BUYER_MEASURES = ("buyers_to_date", "repeat_buyers_to_date")
USER_MEASURES = ("users_start", "users_end", "users_average")
COST_MEASURES = ("retention_costs", "acquisition_costs")


def _periods(query: Query) -> ir.Table:
    return query.calendar.select("period_index", "period_start")


def _orders(query: Query) -> ir.Table:
    """Orders with local time, the period they fall in and the amount in reporting currency."""

    def build() -> ir.Table:
        orders = query.facts("orders")
        at = query.local(orders.ordered_at)
        rows = orders.mutate(at=at, day=at.date(), order_period=truncate(at, query.grain))
        rows = query.with_rate(rows, "day")
        return rows.mutate(value=convert(rows.amount, rows.rate), is_purchase=rows.kind != "refund")

    return query.memo("orders", build)


def account_orders(query: Query) -> ir.Table:
    """Per account and period with orders: revenue, purchases, expansion revenue."""
    orders = _orders(query)
    # An account is existing from its first purchase or first paid subscription day.
    spells = paying_spells(query)
    firsts = (
        orders.filter(orders.is_purchase)
        .select("account_id", first=orders.at)
        .union(spells.select("account_id", first=spells.pay_from))
        .group_by("account_id")
        .aggregate(customer_since=ibis._.first.min())
        .rename(since_account="account_id")
    )
    periods = _periods(query).rename(order_period="period_start")
    rows = orders.join(periods, "order_period")
    rows = rows.left_join(firsts, rows.account_id == firsts.since_account)
    existing = rows.customer_since < rows.order_period.cast("timestamp")
    counted = rows.is_purchase | (ibis.literal(query.policy.refunds == "deducted"))
    rows = rows.mutate(
        revenue=ibis.cases((counted, rows.value), else_=ZERO),
        purchase_value=ibis.cases((rows.is_purchase, rows.value), else_=ZERO),
        purchases=flag(rows.is_purchase),
        expansion_revenue=ibis.cases(
            (rows.is_purchase & (rows.kind == "one_time") & existing, rows.value), else_=ZERO
        ),
    )
    grouped = rows.group_by("account_id", "period_index", period_start="order_period").aggregate(
        revenue=rows.revenue.sum(),
        purchase_value=rows.purchase_value.sum(),
        purchases=rows.purchases.sum(),
        expansion_revenue=rows.expansion_revenue.sum(),
        fx_missing=flag(rows.rate.isnull()).sum(),
    )
    return grouped.mutate(purchasers=flag(grouped.purchases > 0))


def account_buyers(query: Query) -> ir.Table:
    """Per account and period: bought at least once / at least twice by the period's end."""
    orders = _orders(query)
    purchases = orders.filter(orders.is_purchase)
    ranked = purchases.mutate(
        rank=ibis.row_number().over(group_by=purchases.account_id, order_by=purchases.at)
    )
    firsts = (
        ranked.filter(ranked.rank <= 1)  # Ibis numbers rows from 0
        .group_by("account_id")
        .aggregate(
            first=ranked.at.min(),
            second=ibis.cases((ranked.rank == 1, ranked.at)).max(),
        )
    )
    periods = query.calendar
    end = periods.period_end.cast("timestamp")
    rows = firsts.join(periods, firsts.first < end)
    return rows.select(
        "account_id",
        "period_index",
        "period_start",
        buyers_to_date=ibis.literal(1, type="int64"),
        repeat_buyers_to_date=flag(rows.second.notnull() & (rows.second < end)),
    )


def account_users(query: Query) -> ir.Table:
    """Per account and period: users at the start and at the end (created before that instant)."""
    users = query.facts("users")
    created = query.local(users.created_at)
    start = truncate(created, query.grain).fill_null(ibis.date(1900, 1, 1))
    counts = users.mutate(since=start).group_by("account_id", "since").aggregate(n=ibis._.count())
    periods = query.calendar
    rows = counts.join(periods, counts.since <= periods.period_start)
    rows = rows.mutate(
        users_start=ibis.cases((rows.since < rows.period_start, rows.n), else_=0),
        users_end=rows.n,
    )
    grouped = rows.group_by("account_id", "period_index", "period_start").aggregate(
        users_start=rows.users_start.sum(), users_end=rows.users_end.sum()
    )
    return grouped.mutate(
        users_average=(grouped.users_start + grouped.users_end).cast("float64") / 2
    )


def period_costs(query: Query) -> ir.Table:
    """Per period (company-wide): costs by group, each cost row spread over the days it covers."""
    costs = query.tables.table("costs")
    costs = query.with_rate(costs, "period_start")
    periods = query.calendar.rename(cal_start="period_start")
    rows = costs.join(
        periods,
        [costs.period_start <= periods.last_day, costs.period_end >= periods.cal_start],
    )
    overlap_from = ibis.greatest(rows.period_start, rows.cal_start)
    overlap_to = ibis.least(rows.period_end, rows.last_day)
    covered = overlap_to.delta(overlap_from, unit="day") + 1
    length = rows.period_end.delta(rows.period_start, unit="day") + 1
    share = covered.cast("float64") / length.cast("float64")
    allocated = money(rows.amount.cast("float64") * rows.rate.cast("float64") * share)
    rows = rows.mutate(allocated=allocated)
    return rows.group_by("period_index", period_start="cal_start").aggregate(
        retention_costs=ibis.cases(
            (rows.category.isin(RETENTION_COSTS), rows.allocated), else_=ZERO
        ).sum(),
        acquisition_costs=ibis.cases(
            (rows.category.isin(ACQUISITION_COSTS), rows.allocated), else_=ZERO
        ).sum(),
        fx_missing=flag(rows.rate.isnull()).sum(),
    )
