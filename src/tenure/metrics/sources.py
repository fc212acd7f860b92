"""Per-account-and-period rows from orders, users and costs (MRR rows live in mrr.py).

Every source returns `account_id`, `period_index`, `period_start` and additive measure columns;
a metric sums them per period and segment, and a drill-down lists the rows themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.types as ir

from tenure.data.contract import COST_CATEGORIES
from tenure.engine.calendar import truncate
from tenure.metrics import attributes_in_time
from tenure.metrics.mrr import paying_spells
from tenure.metrics.query import ZERO, Query, convert, flag, money, optional_column

RETENTION_COSTS = ("customer_success", "support", "onboarding", "training", "customer_marketing")
ACQUISITION_COSTS = ("acquisition_marketing", "sales")
assert set(RETENTION_COSTS + ACQUISITION_COSTS) <= set(COST_CATEGORIES)

ORDER_MEASURES = ("revenue", "purchase_value", "purchases", "purchasers", "expansion_revenue")
BUYER_MEASURES = ("buyers_to_date", "repeat_buyers_to_date")
USER_MEASURES = ("users_start", "users_end", "users_average")
COST_MEASURES = ("retention_costs", "acquisition_costs")


def _periods(query: Query) -> ir.Table:
    return query.calendar.select("period_index", "period_start")


def orders_in_reporting_currency(query: Query) -> ir.Table:
    """Orders with local time, the period they fall in and the amount in reporting currency."""

    def build() -> ir.Table:
        orders = query.facts("orders")
        at = query.local(orders.ordered_at)
        rows = orders.mutate(at=at, day=at.date(), order_period=truncate(at, query.grain))
        rows = query.with_rate(rows, "day")
        amount = rows.amount
        if query.policy.taxes == "excluded":
            amount = amount - optional_column(rows, "tax", "decimal(18, 4)").fill_null(0)
        return rows.mutate(value=convert(amount, rows.rate), is_purchase=rows.kind != "refund")

    return query.memo("orders", build)


def account_orders(query: Query) -> ir.Table:
    """Per account and period with orders: revenue, purchases, expansion revenue."""
    orders = orders_in_reporting_currency(query)
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


def _first_purchases(query: Query) -> ir.Table:
    """Per account: the period of its first purchase and of its second (NULL if none yet)."""
    orders = orders_in_reporting_currency(query)
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
    return firsts.select(
        "account_id",
        first_period=truncate(firsts.first, query.grain),
        second_period=truncate(firsts.second, query.grain),
    )


def _buyers(query: Query, firsts: ir.Table, keys: list[str]) -> ir.Table:
    """Buyers and repeat buyers to date per period and `keys`; `firsts` is grouped by `keys`
    and both purchase periods first, so the calendar join sees few rows per period."""
    counts = firsts.group_by(*keys, "first_period", "second_period").aggregate(n=ibis._.count())
    periods = _periods(query)
    rows = counts.join(periods, counts.first_period <= periods.period_start)
    repeat = rows.second_period.notnull() & (rows.second_period <= rows.period_start)
    return rows.group_by(*keys, "period_index", "period_start").aggregate(
        buyers_to_date=rows.n.sum(),
        repeat_buyers_to_date=ibis.cases((repeat, rows.n), else_=0).sum(),
    )


def account_buyers(query: Query) -> ir.Table:
    """Per account and period: bought at least once / at least twice by the period's end."""
    return _buyers(query, _first_purchases(query), ["account_id"])


def segment_buyers(query: Query) -> ir.Table:
    """Buyers and repeat buyers to date per period and segment."""
    return _to_date(query, _first_purchases(query), _buyers)


def _to_date(
    query: Query, facts: ir.Table, count: Callable[[Query, ir.Table, list[str]], ir.Table]
) -> ir.Table:
    """`count`'s totals to date per period and segment, from per-account `facts`: grouped by
    segment first, except for the accounts whose attribute changed over time, counted per
    account and period and then placed in the segment of each period's end."""
    if not attributes_in_time.changing(query):
        return count(query, query.with_segments(facts), list(query.by))
    still, moved = attributes_in_time.split_moved(query, facts)
    kept = count(query, query.with_segments(still), list(query.by))
    per_account = query.with_segments(count(query, moved, ["account_id"]))
    return kept.union(per_account.select(*kept.columns))


def _user_starts(query: Query) -> ir.Table:
    """Users with the period in which each was created (created_at unknown: since always)."""
    users = query.facts("users")
    created = query.local(users.created_at)
    since = truncate(created, query.grain).fill_null(ibis.date(1900, 1, 1))
    return users.select("account_id", since=since)


def _users(query: Query, starts: ir.Table, keys: list[str]) -> ir.Table:
    """Users at the start and at the end of each period (created before that instant)."""
    counts = starts.group_by(*keys, "since").aggregate(n=ibis._.count())
    periods = _periods(query)
    rows = counts.join(periods, counts.since <= periods.period_start)
    grouped = rows.group_by(*keys, "period_index", "period_start").aggregate(
        users_start=ibis.cases((rows.since < rows.period_start, rows.n), else_=0).sum(),
        users_end=rows.n.sum(),
    )
    return grouped.mutate(
        users_average=(grouped.users_start + grouped.users_end).cast("float64") / 2
    )


def account_users(query: Query) -> ir.Table:
    """Per account and period: users at the start and at the end."""
    return _users(query, _user_starts(query), ["account_id"])


def segment_users(query: Query) -> ir.Table:
    """Users at the start and at the end per period and segment."""
    return _to_date(query, _user_starts(query), _users)


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
