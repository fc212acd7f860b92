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

import datetime as dt

import ibis
import ibis.expr.types as ir

from tenure.engine.calendar import add_period, truncate
from tenure.metrics import revenue_ledger
from tenure.metrics.query import (
    MONEY,
    ZERO,
    Query,
    convert,
    flag,
    money,
    optional_column,
    union_sum,
)

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


def _earlier(a: ir.TimestampValue, b: ir.TimestampValue) -> ir.TimestampValue:
    """The earlier of two ends, NULL meaning open-ended (later than any time)."""
    return ibis.cases((a.isnull(), b), (b.isnull(), a), (a < b, a), else_=b)


def _later(a: ir.TimestampValue, b: ir.TimestampValue) -> ir.TimestampValue:
    """The later of two starts (b may be NULL: then a)."""
    return ibis.cases((b.isnull(), a), (b > a, b), else_=a)


def billing_period_at(
    anchor: ir.TimestampValue,
    months: ir.IntegerValue,
    days: ir.IntegerValue,
    at: ir.TimestampValue,
) -> tuple[ir.TimestampValue, ir.TimestampValue]:
    """(start, end) of the billing period in force at `at` (start <= at < end), for periods of
    `months` months (clamped to the month's end) or, where that is NULL, `days` days, counted
    from `anchor`. Before `anchor` both are `anchor`: nothing was paid for yet."""
    elapsed = (at.year() * 12 + at.month()) - (anchor.year() * 12 + anchor.month())
    k = (elapsed / months).floor().cast("int64") * months
    candidate = anchor + k.as_interval("M")
    on_time = candidate <= at
    m_start = ibis.cases((on_time, candidate), else_=anchor + (k - months).as_interval("M"))
    m_end = ibis.cases((on_time, anchor + (k + months).as_interval("M")), else_=candidate)
    seconds = at.epoch_seconds() - anchor.epoch_seconds()
    steps = (seconds / (days * 86400)).floor().cast("int64")
    d_start = anchor + (steps * days).as_interval("D")
    d_end = anchor + ((steps + 1) * days).as_interval("D")
    early = at < anchor
    start = ibis.cases((early, anchor), (months.notnull(), m_start), else_=d_start)
    end = ibis.cases((early, anchor), (months.notnull(), m_end), else_=d_end)
    return start, end


def _pieces(query: Query) -> ir.Table:
    """Every stretch of every subscription with its kind: `trial` (started_at to trial_ends_at),
    `paid`, and `paused` (paused_from to paused_until), each [pay_from, pay_to) with pay_to NULL
    while open, and the subscription's normalised MRR (`monthly`, in its currency).

    The paid stretch ends at ended_at; without one, a canceled subscription ends when the
    billing period in force at cancellation ends (policy churn_recognition = paid_period_end)
    or at cancellation (cancellation). With policy past_due = exclude_after_days:N, a past_due
    or unpaid subscription also ends N days after the start of its billing period in force on
    `query.as_of` (the unpaid one)."""

    def build() -> ir.Table:
        subs = query.facts("subscriptions")
        policy = query.policy
        started = query.local(subs.started_at)
        trial = query.local(subs.trial_ends_at)
        ended = query.local(subs.ended_at)
        canceled = query.local(subs.canceled_at)
        paused_from = query.local(optional_column(subs, "paused_from", "timestamp"))
        paused_until = query.local(optional_column(subs, "paused_until", "timestamp"))
        status = optional_column(subs, "status", "string")
        paid_from = ibis.cases((trial.notnull() & (trial > started), trial), else_=started)
        unit_months = ibis.cases(
            (subs.billing_unit == "year", 12), (subs.billing_unit == "month", 1)
        )
        unit_days = ibis.cases((subs.billing_unit == "week", 7), (subs.billing_unit == "day", 1))
        months = (subs.billing_period * unit_months).cast("int64")
        days = (subs.billing_period * unit_days).cast("int64")
        if policy.churn_recognition == "cancellation":
            pay_to = _earlier(ended, canceled)
        else:
            stop = billing_period_at(paid_from, months, days, canceled)[1]
            pay_to = ibis.cases((ended.notnull(), ended), else_=stop)
        grace = policy.past_due_days
        if grace is not None:
            today = ibis.literal(dt.datetime.combine(query.as_of, dt.time()))
            unpaid = billing_period_at(paid_from, months, days, today)[0]
            cutoff = unpaid + ibis.literal(grace).as_interval("D")
            overdue = status.isin(("past_due", "unpaid")) & (paid_from <= today)
            pay_to = ibis.cases((overdue, _earlier(pay_to, cutoff)), else_=pay_to)
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
        base = subs.select(
            "account_id",
            "currency",
            subscription_id=subs.subscription_id,
            monthly=money(gross * per_month / subs.billing_period),
            billing_months=months,
            billing_days=days,
            started=started,
            paid_from=paid_from,
            pay_to_all=pay_to,
            paused_from=paused_from,
            paused_until=paused_until,
        )
        # One scan, four stretches per subscription (a small cross join rather than a union of
        # four copies of the scan, which multiplies the plan every consumer inlines).
        kinds = ibis.memtable({"part": ["trial", "paid", "paused", "resumed"]})
        b = base.cross_join(kinds)
        part, pf, pu = b.part, b.paused_from, b.paused_until
        exists = ibis.cases(
            (part == "trial", b.paid_from > b.started),
            (part == "paused", pf.notnull()),
            (part == "resumed", pf.notnull() & pu.notnull()),
            else_=True,
        )
        b = b.filter(exists)
        pieces = b.select(
            "account_id",
            "currency",
            "subscription_id",
            "monthly",
            "billing_months",
            "billing_days",
            kind=ibis.cases((b.part == "resumed", "paid"), else_=b.part),
            pay_from=ibis.cases(
                (b.part == "trial", b.started),
                (b.part == "paid", b.paid_from),
                (b.part == "paused", _later(b.paid_from, b.paused_from)),
                else_=_later(b.paid_from, b.paused_until),
            ),
            pay_to=ibis.cases(
                (b.part == "trial", _earlier(b.pay_to_all, b.paid_from)),
                (b.part == "paid", _earlier(b.pay_to_all, b.paused_from)),
                (b.part == "paused", _earlier(b.pay_to_all, b.paused_until)),
                else_=b.pay_to_all,
            ),
        )
        return pieces.filter(pieces.pay_to.isnull() | (pieces.pay_to > pieces.pay_from))

    return query.memo("pieces", build)


_SPELL = ("account_id", "currency", "pay_from", "pay_to", "monthly", "subscription_id")


def paying_spells(query: Query) -> ir.Table:
    """One row per stretch of a subscription that pays something: account_id, currency,
    pay_from, pay_to (NULL while open), monthly (normalised MRR in the subscription's currency),
    subscription_id, billing_months / billing_days (its billing period; a resumed subscription
    bills from its resumption)."""

    def build() -> ir.Table:
        p = _pieces(query)
        paying = p.filter(p.kind == "paid", p.monthly > 0)
        return paying.select(*_SPELL, "billing_months", "billing_days")

    return query.memo("paying_spells", build)


def held_spells(query: Query) -> ir.Table:
    """Stretches in which an account is a customer at 0 MRR (columns of paying_spells):
    pauses with policy pause = contraction, and with trials = paying_at_zero, trials and
    100%-discounted subscriptions."""

    def build() -> ir.Table:
        p = _pieces(query)
        rows = p.filter(_is_held(query, p))
        return rows.select(*_SPELL, "billing_months", "billing_days").mutate(monthly=ZERO)

    return query.memo("held_spells", build)


def _is_held(query: Query, p: ir.Table) -> ir.BooleanValue:
    policy = query.policy
    at_zero = policy.trials == "paying_at_zero"
    held = ibis.literal(False)
    if policy.pause == "contraction":
        held = held | ((p.kind == "paused") & ((p.monthly > 0) | at_zero))
    if at_zero:
        held = held | (p.kind == "trial") | ((p.kind == "paid") & (p.monthly <= 0))
    return held


def _present(query: Query) -> ir.Table:
    """account_id, pay_from, pay_to of every stretch in which the account is a customer (paying
    or held), from one scan."""

    def build() -> ir.Table:
        p = _pieces(query)
        paying = (p.kind == "paid") & (p.monthly > 0)
        return p.filter(paying | _is_held(query, p)).select("account_id", "pay_from", "pay_to")

    return query.memo("present", build)


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
    """Per account and computed period: the MRR measures (see MEASURES), movement, cohort; read
    from the revenue ledger when it serves the query."""

    def build() -> ir.Table:
        stored = revenue_ledger.rows(query)
        if stored is None:
            return _account_mrr(query)
        stored = stored.filter(stored.period_index >= 1)  # period 0 only opens period 1
        return stored.select(
            "account_id", "period_index", "period_start", "cohort", "movement", *MEASURES
        )

    return query.memo("account_mrr", build)


def _account_mrr(query: Query) -> ir.Table:
    spells = paying_spells(query)
    periods = query.instants
    instant = periods.instant
    snapshots = spells.join(
        periods,
        [spells.pay_from < instant, spells.pay_to.isnull() | (spells.pay_to >= instant)],
    )
    if query.policy.fx_rate_date == "month_end":
        balances = _at_period_end_rates(query, spells, snapshots)
    else:
        balances = _at_billing_period_rates(query, snapshots)
    money_type, count_type = balances.schema()["mrr_end"], ibis.dtype("int64")
    measures = {
        "mrr_end": money_type,
        "mrr_start": money_type,
        "start_at_end_rates": money_type,
        "flash": money_type,
        "fx_missing": count_type,
        "held_end": count_type,
        "held_start": count_type,
    }
    parts = [balances, _held(query)]
    if query.policy.same_period_churn == "counted":
        parts.append(_joined_and_left(query))
    summed = union_sum(parts, ["account_id", "period_index"], measures)
    per_account = summed.mutate(
        **{m: summed[m].cast(MONEY) for m, t in measures.items() if t == money_type}
    )
    cohorts = first_paid(query).rename(cohort_account="account_id")
    a = per_account.left_join(cohorts, per_account.account_id == cohorts.cohort_account)
    dates = periods.select(date_index="period_index", period_start="period_start")
    a = a.join(dates, a.period_index == dates.date_index).drop("cohort_account", "date_index")
    window = query.policy.reactivation_window_days
    if window is not None:
        a = _with_return_gap(query, a)

    start = a.mrr_start.fill_null(ZERO)
    end = a.mrr_end.fill_null(ZERO)
    start_now = a.start_at_end_rates.fill_null(ZERO)
    flash = a.flash.fill_null(ZERO)
    was_paying, is_paying = (start > 0) | (a.held_start > 0), (end > 0) | (a.held_end > 0)
    first_time = a.cohort.isnull() | (a.cohort >= a.period_start)
    if window is not None:  # gone longer than the window: a new customer again
        first_time = first_time | (a.gap_days.notnull() & (a.gap_days > window))
    is_new = ~was_paying & is_paying & first_time
    is_back = ~was_paying & is_paying & ~first_time
    is_lost = was_paying & ~is_paying
    stayed = was_paying & is_paying
    is_flash = ~was_paying & ~is_paying & (flash > 0)  # only with same_period_churn = counted
    flash_new = is_flash & (a.cohort.isnull() | (a.cohort >= a.period_start))
    flash_back = is_flash & ~flash_new
    change = end - start_now
    movement = ibis.cases(
        (is_new, "new"),
        (is_back, "reactivation"),
        (is_lost, "churned"),
        (is_flash, "joined_and_churned"),
        (stayed & (change > 0), "expansion"),
        (stayed & (change < 0), "contraction"),
        else_="unchanged",
    )
    rows = a.mutate(
        movement=movement,
        mrr_start=start,
        mrr_end=end,
        mrr_new=ibis.cases((is_new, end), (flash_new, flash), else_=ZERO),
        mrr_reactivation=ibis.cases((is_back, end), (flash_back, flash), else_=ZERO),
        mrr_churned=ibis.cases((is_lost, -start_now), (is_flash, -flash), else_=ZERO),
        mrr_expansion=ibis.cases((stayed & (change > 0), change), else_=ZERO),
        mrr_contraction=ibis.cases((stayed & (change < 0), change), else_=ZERO),
        mrr_fx_impact=start_now - start,
        customers_start=flag(was_paying),
        customers_end=flag(is_paying),
        customers_new=flag(is_new | flash_new),
        customers_reactivated=flag(is_back | flash_back),
        customers_churned=flag(is_lost | is_flash),
    )
    return rows.select(
        "account_id", "period_index", "period_start", "cohort", "movement", *MEASURES
    )


def _held(query: Query) -> ir.Table:
    """Per account and period: held_end / held_start, the stretches at 0 MRR (held_spells) in
    force at the period's end and at the previous one's."""
    held = held_spells(query)
    periods = query.instants
    at = held.join(
        periods,
        [held.pay_from < periods.instant, held.pay_to.isnull() | (held.pay_to >= periods.instant)],
    )
    one, zero = ibis.literal(1), ibis.literal(0)
    closing = at.select("account_id", "period_index", held_end=one, held_start=zero)
    opening = at.select(
        "account_id", period_index=at.period_index + 1, held_end=zero, held_start=one
    )
    both = closing.union(opening)
    return both.filter(both.period_index >= 1)


def _joined_and_left(query: Query) -> ir.Table:
    """policy same_period_churn = counted. Per account and period: `flash`, the largest MRR of
    a paying stretch that began and ended inside the period (at the rate of its first day)."""
    spells = paying_spells(query)
    periods = query.instants
    inside = spells.join(
        periods,
        [
            spells.pay_from >= periods.period_start.cast("timestamp"),
            spells.pay_to.notnull(),
            spells.pay_to < periods.instant,
        ],
    )
    inside = query.with_rate(inside.mutate(day=inside.pay_from.date()), "day")
    return inside.group_by("account_id", "period_index").aggregate(
        flash=convert(inside.monthly, inside.rate).max(),
        fx_missing=flag(inside.rate.isnull()).sum(),
    )


def _with_return_gap(query: Query, rows: ir.Table) -> ir.Table:
    """Add gap_days: for an account present at a period's end, the days between the start of
    its earliest stretch in force then and the latest end of a stretch before that (NULL if
    none), for policy reactivation_window_days."""
    spells = _present(query)
    periods = query.instants
    now = spells.join(
        periods,
        [
            spells.pay_from < periods.instant,
            spells.pay_to.isnull() | (spells.pay_to >= periods.instant),
        ],
    )
    back = now.group_by(r_account="account_id", r_index="period_index").aggregate(
        returned=now.pay_from.min()
    )
    ended = spells.filter(spells.pay_to.notnull()).select(e_account="account_id", e_to="pay_to")
    gaps = back.join(ended, [back.r_account == ended.e_account, ended.e_to <= back.returned])
    gaps = gaps.group_by("r_account", "r_index").aggregate(
        gap_days=((gaps.returned.epoch_seconds() - gaps.e_to.epoch_seconds()) / 86400).min()
    )
    joined = rows.left_join(
        gaps, [rows.account_id == gaps.r_account, rows.period_index == gaps.r_index]
    )
    return joined.drop("r_account", "r_index")


def scheduled_churn(query: Query) -> ir.Table:
    """Per account paying at a period's end (its MRR > 0) whose every stretch still to run has a
    known end: churn_on, the last of those ends (the account stops paying then unless something
    new is loaded). The one rule for scheduled_churn_mrr and the accounts worklist."""

    def build() -> ir.Table:
        stored = revenue_ledger.rows(query)
        if stored is not None:
            found = stored.filter(stored.period_index >= 1, stored.churn_on.notnull())
            return found.select(
                "account_id", "period_index", "period_start", "mrr_end", "churn_on", "instant"
            )
        # At a period's end an account pays through a stretch in force, whose end is at or
        # after it: so its stretches still to run all have an end when none of its stretches
        # is open-ended, and the last of those ends is the last end of all of its stretches.
        spells = _present(query)
        per = spells.group_by(s_account="account_id").aggregate(
            open_ended=flag(spells.pay_to.isnull()).sum(), churn_on=spells.pay_to.max()
        )
        per = per.filter(per.open_ended == 0)
        mrr = account_mrr(query)
        paying = mrr.filter(mrr.mrr_end > 0)
        found = paying.join(per, paying.account_id == per.s_account)
        instants = query.instants.select(i_index="period_index", instant="instant")
        found = found.join(instants, found.period_index == instants.i_index)
        return found.select(
            "account_id", "period_index", "period_start", "mrr_end", "churn_on", "instant"
        )

    return query.memo("scheduled_churn", build)


def account_scheduled_churn(query: Query) -> ir.Table:
    """Per account and period: scheduled_churn_mrr, the MRR at the period's end of an account
    scheduled to stop paying within policy scheduled_churn_days after it."""
    found = scheduled_churn(query)
    horizon = ibis.literal(query.policy.scheduled_churn_days).as_interval("D")
    soon = found.filter(found.churn_on <= found.instant + horizon)
    return soon.select(
        "account_id", "period_index", "period_start", scheduled_churn_mrr=soon.mrr_end
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
    periods = query.instants.select(
        next_index=query.instants.period_index - 1,
        next_instant=query.instants.instant,
    )
    away = snapshots.filter(snapshots.currency != home)
    s = away.left_join(periods, away.period_index == periods.next_index)
    until = ibis.cases(
        (s.pay_to.notnull() & (s.pay_to < s.next_instant), s.pay_to), else_=s.next_instant
    )
    s = s.mutate(
        paid_day=_billing_start(s, s.instant).date(),
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
