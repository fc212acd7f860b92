"""Subscription MRR per account and period, and its movements.

Each subscription row is a paying spell [pay_from, pay_to): trials are free until trial_ends_at,
and the spell ends when the paid period ends (or at cancellation, by policy). MRR is read at the
end of every period (an instant just before period_end) in each currency, converted at the rate
of the day the billing period in force then started (policy.fx_rate_date = period_start: billing
periods run from pay_from every billing_period units, and a renewal takes the new rate) or of the
period's last day (month_end), and compared with the previous period's end:

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
        unit_months = ibis.cases(
            (subs.billing_unit == "year", 12), (subs.billing_unit == "month", 1)
        )
        unit_days = ibis.cases((subs.billing_unit == "week", 7), (subs.billing_unit == "day", 1))
        spells = subs.select(
            "account_id",
            "currency",
            pay_from=pay_from,
            pay_to=pay_to,
            monthly=monthly,
            subscription_id=subs.subscription_id,
            billing_months=(subs.billing_period * unit_months).cast("int64"),
            billing_days=(subs.billing_period * unit_days).cast("int64"),
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
    if query.policy.fx_rate_date == "month_end":
        per_account = _at_period_end_rates(query, spells, snapshots)
    else:
        per_account = _at_billing_period_rates(query, snapshots)
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


def _at_period_end_rates(query: Query, spells: ir.Table, snapshots: ir.Table) -> ir.Table:
    """policy.fx_rate_date = month_end: each currency's balance at the rate of the period's last
    day. Per account and period: mrr_end, mrr_start, start_at_end_rates, fx_missing."""
    periods = query.calendar
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
    return per_account


def _at_billing_period_rates(query: Query, snapshots: ir.Table) -> ir.Table:
    """policy.fx_rate_date = period_start: each snapshot at the rate of the day its billing period
    started. The previous period's amount "at this period's rates" takes the rate of the billing
    period in force just before this period's end, or before the spell's end when it ends first,
    so a churn moves at the rate it was paid at and only a renewal changes the rate."""
    home = query.tables.reporting_currency
    one = ibis.literal(1.0)
    at_par = snapshots.filter(snapshots.currency == home).mutate(paid_rate=one, next_rate=one)
    periods = query.calendar.select(
        next_index=query.calendar.period_index - 1,
        next_instant=query.calendar.period_end.cast("timestamp"),
    )
    away = snapshots.filter(snapshots.currency != home)
    s = away.left_join(periods, away.period_index == periods.next_index)
    until = ibis.cases(
        (s.pay_to.notnull() & (s.pay_to < s.next_instant), s.pay_to), else_=s.next_instant
    )
    s = s.mutate(
        paid_day=_billing_start(s, s.period_end.cast("timestamp")).date(),
        next_paid_day=_billing_start(s, until).date(),
    )
    # The rates of the few distinct (currency, day) pairs, then joined to every snapshot.
    days = s.select("currency", day=s.paid_day).union(s.select("currency", day=s.next_paid_day))
    rated = query.with_rate(days.filter(days.day.notnull()).distinct(), "day")
    paid = rated.select(p_currency="currency", p_day="day", paid_rate="rate")
    then = rated.select(n_currency="currency", n_day="day", next_rate="rate")
    s = s.left_join(paid, [s.currency == paid.p_currency, s.paid_day == paid.p_day])
    s = s.left_join(then, [s.currency == then.n_currency, s.next_paid_day == then.n_day])
    columns = ["account_id", "period_index", "monthly", "paid_rate", "next_rate"]
    s = at_par.select(*columns).union(
        s.select(
            "account_id",
            "period_index",
            "monthly",
            paid_rate=s.paid_rate.cast("float64"),
            next_rate=s.next_rate.cast("float64"),
        )
    )
    closing = s.select(
        "account_id",
        "period_index",
        closing=convert(s.monthly, s.paid_rate),
        opening=ZERO,
        opening_now=ZERO,
        missing=flag(s.paid_rate.isnull()),
    )
    opening = s.select(
        "account_id",
        period_index=s.period_index + 1,
        closing=ZERO,
        opening=convert(s.monthly, s.paid_rate),
        opening_now=convert(s.monthly, s.next_rate),
        missing=flag(s.paid_rate.isnull() | s.next_rate.isnull()),
    )
    rows = closing.union(opening)
    rows = rows.filter(rows.period_index >= 1)  # period 0 only opens period 1
    return rows.group_by("account_id", "period_index").aggregate(
        mrr_end=rows.closing.sum().cast(MONEY),
        mrr_start=rows.opening.sum().cast(MONEY),
        start_at_end_rates=rows.opening_now.sum().cast(MONEY),
        fx_missing=rows.missing.sum(),
    )


def _billing_start(spell: ir.Table, before: ir.TimestampValue) -> ir.TimestampValue:
    """The start of the spell's last billing period beginning before `before` (billing periods
    run from pay_from every billing_months months, clamped to the month's end, or billing_days
    days)."""
    anchor = spell.pay_from
    months = spell.billing_months
    elapsed = (before.year() * 12 + before.month()) - (anchor.year() * 12 + anchor.month())
    k = (elapsed / months).floor().cast("int64") * months
    candidate = anchor + k.as_interval("M")
    by_months = ibis.cases(
        (candidate < before, candidate), else_=anchor + (k - months).as_interval("M")
    )
    days = spell.billing_days
    seconds = before.epoch_seconds() - anchor.epoch_seconds()
    steps = (seconds / (days * 86400)).ceil().cast("int64") - 1
    by_days = anchor + (steps * days).as_interval("D")
    return ibis.cases((months.notnull(), by_months), else_=by_days)
