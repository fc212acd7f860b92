"""Subscription MRR per account and period, and its movements.

Each subscription row is a paying spell [pay_from, pay_to): trials are free until trial_ends_at,
and the spell ends when the paid period ends (or at cancellation, by policy). MRR is read at the
end of every period (an instant just before period_end) in each currency, converted at the rate
of the period's last day, and compared with the previous period's end:

    mrr_end - mrr_start = new + expansion + contraction + churned + reactivation + fx_impact

exactly, because every term is a sum of the same six-decimal amounts. Movements are measured at
the previous period's amounts converted at this period's rates; the rate change itself is the
fx_impact line, so currency swings are never taken for expansion or churn.
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.engine.calendar import add_period, truncate
from tenure.metrics.query import MONEY, ZERO, Query, convert, flag, money

MEASURES = (
    "mrr_start",
    "mrr_end",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churned",
    "mrr_reactivation",
    "mrr_fx_impact",
    "customers_start",
    "customers_end",
    "customers_new",
    "customers_reactivated",
    "customers_churned",
    "fx_missing",
)


def paying_spells(query: Query) -> ir.Table:
    """One row per subscription that pays something: account_id, currency, pay_from, pay_to
    (NULL while open), monthly (normalised MRR in the subscription's currency)."""

    def build() -> ir.Table:
        subs = query.facts("subscriptions")
        policy = query.policy
        started = query.local(subs.started_at)
        trial = query.local(subs.trial_ends_at)
        ended = query.local(subs.ended_at)
        pay_from = ibis.cases((trial.notnull() & (trial > started), trial), else_=started)
        if policy.churn_recognition == "cancellation":
            canceled = query.local(subs.canceled_at)
            pay_to = ibis.cases(
                (canceled.notnull() & (ended.isnull() | (canceled < ended)), canceled),
                else_=ended,
            )
        else:
            pay_to = ended
        # Normalising divides by 12, 3, ... which no decimal type holds exactly: compute in
        # double precision and round each subscription to six decimals (sums are exact after).
        gross = subs.amount.cast("float64") * subs.quantity
        if policy.discounts == "deducted":
            gross = gross * (1 - subs.discount.cast("float64"))
        simple = policy.short_plans == "simple"
        per_month = ibis.cases(
            (subs.billing_unit == "year", 1 / 12),
            (subs.billing_unit == "week", 4.0 if simple else 52 / 12),
            (subs.billing_unit == "day", 30.0 if simple else 365 / 12),
            else_=1.0,
        )
        monthly = money(gross * per_month / subs.billing_period)
        spells = subs.select(
            "account_id", "currency", pay_from=pay_from, pay_to=pay_to, monthly=monthly
        )
        return spells.filter(
            spells.monthly > 0, spells.pay_to.isnull() | (spells.pay_to > spells.pay_from)
        )

    return query.memo("paying_spells", build)


def first_paid(query: Query) -> ir.Table:
    """account_id, cohort: the first period at whose end the account was paying."""
    spells = paying_spells(query)
    start = truncate(spells.pay_from, query.grain)
    reaches_end = spells.pay_to.isnull() | (
        spells.pay_to >= add_period(start, query.grain).cast("timestamp")
    )
    return (
        spells.filter(reaches_end)
        .mutate(period=start)
        .group_by("account_id")
        .aggregate(cohort=ibis._.period.min())
    )


def account_mrr(query: Query) -> ir.Table:
    """Per account and computed period: the MRR measures (see MEASURES), movement, cohort."""
    return query.memo("account_mrr", lambda: _account_mrr(query))


def _account_mrr(query: Query) -> ir.Table:
    spells = paying_spells(query)
    periods = query.calendar
    instant = periods.period_end.cast("timestamp")
    snapshots = spells.join(
        periods,
        [spells.pay_from < instant, spells.pay_to.isnull() | (spells.pay_to >= instant)],
    )
    # Each snapshot is this period's closing and the next period's opening balance.
    closing = snapshots.select(
        "account_id", "currency", "period_index", closing=snapshots.monthly, opening=ZERO
    )
    opening = snapshots.select(
        "account_id",
        "currency",
        period_index=snapshots.period_index + 1,
        closing=ZERO,
        opening=snapshots.monthly,
    )
    balances = (
        closing.union(opening)
        .group_by("account_id", "currency", "period_index")
        .aggregate(
            closing=ibis._.closing.sum().cast(MONEY), opening=ibis._.opening.sum().cast(MONEY)
        )
    )
    balances = balances.filter(balances.period_index >= 1)  # period 0 only opens period 1

    # Rates at the end of this period and at the end of the previous one.
    currencies = spells.select("currency").distinct()
    grid = currencies.cross_join(periods.select("period_index", "last_day", "before_day"))
    at_end = query.with_rate(grid, "last_day").rename(rate_end="rate")
    at_start = query.with_rate(at_end, "before_day").rename(rate_start="rate")
    rates = at_start.select(
        rate_currency="currency",
        rate_index="period_index",
        rate_end="rate_end",
        rate_start="rate_start",
    )
    converted = balances.join(
        rates,
        [balances.currency == rates.rate_currency, balances.period_index == rates.rate_index],
    )
    c = converted
    per_account = c.group_by("account_id", "period_index").aggregate(
        mrr_end=convert(c.closing, c.rate_end).sum().cast(MONEY),
        mrr_start=convert(c.opening, c.rate_start).sum().cast(MONEY),
        start_at_end_rates=convert(c.opening, c.rate_end).sum().cast(MONEY),
        fx_missing=flag(
            ((c.closing > 0) & c.rate_end.isnull()) | ((c.opening > 0) & c.rate_start.isnull())
        ).sum(),
    )
    cohorts = first_paid(query).rename(cohort_account="account_id")
    a = per_account.left_join(cohorts, per_account.account_id == cohorts.cohort_account)
    dates = periods.select(date_index="period_index", period_start="period_start")
    a = a.join(dates, a.period_index == dates.date_index).drop("cohort_account", "date_index")

    start = a.mrr_start.fill_null(ZERO)
    end = a.mrr_end.fill_null(ZERO)
    start_now = a.start_at_end_rates.fill_null(ZERO)
    was_paying, is_paying = start > 0, end > 0
    first_time = a.cohort.isnull() | (a.cohort >= a.period_start)
    is_new = ~was_paying & is_paying & first_time
    is_back = ~was_paying & is_paying & ~first_time
    is_lost = was_paying & ~is_paying
    stayed = was_paying & is_paying
    change = end - start_now
    movement = ibis.cases(
        (is_new, "new"),
        (is_back, "reactivation"),
        (is_lost, "churned"),
        (stayed & (change > 0), "expansion"),
        (stayed & (change < 0), "contraction"),
        else_="unchanged",
    )
    rows = a.mutate(
        movement=movement,
        mrr_start=start,
        mrr_end=end,
        mrr_new=ibis.cases((is_new, end), else_=ZERO),
        mrr_reactivation=ibis.cases((is_back, end), else_=ZERO),
        mrr_churned=ibis.cases((is_lost, -start_now), else_=ZERO),
        mrr_expansion=ibis.cases((stayed & (change > 0), change), else_=ZERO),
        mrr_contraction=ibis.cases((stayed & (change < 0), change), else_=ZERO),
        mrr_fx_impact=start_now - start,
        customers_start=flag(was_paying),
        customers_end=flag(is_paying),
        customers_new=flag(is_new),
        customers_reactivated=flag(is_back),
        customers_churned=flag(is_lost),
    )
    return rows.select(
        "account_id", "period_index", "period_start", "cohort", "movement", *MEASURES
    )
