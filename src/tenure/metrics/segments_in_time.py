"""Segments whose value changes over time, and the MRR bridge per segment.

A split by such a segment reads each account's value in force at each period's end: the built-in
subscription segments (paid_plan, billing_interval, billing_currency: what the account pays for)
always change with the subscriptions, and an account attribute does once its history records a
change (attributes_in_time). An account that changes segment between two period ends
while it was a customer at the first one leaves the old segment with its opening MRR
(mrr_segment_leaving, at this period's rates) and enters the new one with it
(mrr_segment_entering), where its movements of the period then count, so that per segment

    mrr_end - mrr_start = movements + fx_impact + segment_entering + segment_leaving

and the segments' bridges add up to the company's (entering and leaving net to zero).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.engine.segments import SUBSCRIPTION_SEGMENTS
from tenure.engine.segments import with_segments as with_attributes
from tenure.metrics import attributes_in_time, mrr, revenue_ledger
from tenure.metrics.query import ZERO, Query, flag

SEGMENT_MEASURES = (
    "mrr_segment_entering",
    "mrr_segment_leaving",
    "customers_segment_entering",
    "customers_segment_leaving",
)
_MONEY_AT_START = ("mrr_start", "mrr_fx_impact")


def moving(query: Query) -> tuple[str, ...]:
    """The query's segments whose value is read per period: the subscription segments, and the
    account attributes whose history records a change (attributes_in_time)."""
    changing = attributes_in_time.changing(query)
    return tuple(n for n in query.by if n in SUBSCRIPTION_SEGMENTS or n in changing)


def values(query: Query, name: str) -> ir.Table:
    """account_id, period_index, value: the subscription segment's value at every period's end
    (index 0 included). Read from the revenue ledger, it has rows only where the account has
    revenue rows in the period: the ones a split reads."""

    def paid() -> ir.Table:
        stored = revenue_ledger.rows(query)
        if stored is None:
            return _paid_values(query, name)
        return stored.select("account_id", "period_index", value=stored[name])

    return query.memo(f"values:{name}", paid)


def _interval(subs: ir.Table) -> ir.StringValue:
    """A subscription's billing interval as a word (monthly, annual, every 2 months, ...)."""
    n = subs.billing_period.cast("int64")
    months = ibis.cases((subs.billing_unit == "year", n * 12), else_=n)
    by_months = ibis.cases(
        (months == 1, "monthly"),
        (months == 3, "quarterly"),
        (months == 6, "semiannual"),
        (months == 12, "annual"),
        else_=ibis.literal("every ") + months.cast("string") + ibis.literal(" months"),
    )
    by_weeks = ibis.cases(
        (n == 1, "weekly"), else_=ibis.literal("every ") + n.cast("string") + " weeks"
    )
    by_days = ibis.cases(
        (n == 1, "daily"), else_=ibis.literal("every ") + n.cast("string") + " days"
    )
    return ibis.cases(
        (subs.billing_unit == "week", by_weeks),
        (subs.billing_unit == "day", by_days),
        else_=by_months,
    )


def _paid_values(query: Query, name: str) -> ir.Table:
    """account_id, period_index, value: the subscription segment `name` at every period's end
    (index 0 included): among the subscriptions paying then, the value carrying the largest MRR
    (converted at the rate of the period's last day; ties by value); an account paying nothing
    then keeps the value of the last subscription it paid (the one ending last). NULL before it
    ever paid."""
    at = paid_at(query)
    g = at.group_by("account_id", "period_index", value=at[name]).aggregate(
        force=at.force.max(), weight=at.weight.sum(), ended=at.ended.max()
    )
    order = [ibis.desc(g.force), ibis.desc(g.weight), ibis.desc(g.ended), g.value]
    rank = ibis.row_number().over(group_by=[g.account_id, g.period_index], order_by=order)
    g = g.mutate(rank=rank)
    return g.filter(g.rank == 0).select("account_id", "period_index", "value")


def paid_at(query: Query) -> ir.Table:
    """Every paying stretch at every period's end from its start on (account_id, period_index,
    the subscription segments, force: 1 while in force, weight: its MRR then at the period's
    last-day rate, ended: when it stopped counting), which `_paid_values` ranks."""
    return query.memo("paid_at", lambda: _paid_at(query))


def _paid_at(query: Query) -> ir.Table:
    spells = mrr.paying_spells(query)
    subs = query.facts("subscriptions")
    kinds = subs.select(
        s_id="subscription_id",
        paid_plan=subs.plan,
        billing_interval=_interval(subs),
        billing_currency=subs.currency,
    )
    s = spells.join(kinds, spells.subscription_id == kinds.s_id)
    periods = query.instants.select("period_index", "instant", day="last_day")
    at = s.join(periods, s.pay_from < periods.instant)
    at = query.with_rate(at, "day")
    in_force = at.pay_to.isnull() | (at.pay_to >= at.instant)
    weight = at.monthly.cast("float64") * at.rate.cast("float64").fill_null(1.0)
    return at.select(
        "account_id",
        "period_index",
        *SUBSCRIPTION_SEGMENTS,
        force=flag(in_force),
        weight=ibis.cases((in_force, weight), else_=0.0),
        ended=ibis.cases((in_force, at.instant), else_=at.pay_to),
    )


def segmented_mrr(query: Query) -> ir.Table:
    """The per-account MRR rows (mrr.account_mrr plus SEGMENT_MEASURES) with the query's
    segments attached; an account that changed segment while a customer has two rows in the
    period, one leaving the old segment and one entering the new (see the module's text)."""
    return query.memo("segmented_mrr", lambda: _segmented_mrr(query))


def _segmented_mrr(query: Query) -> ir.Table:
    rows = mrr.account_mrr(query)
    names = moving(query)
    static = [n for n in query.by if n not in names]
    zeros = {m: _zero(m) for m in SEGMENT_MEASURES}
    if not names:
        return with_attributes(rows.mutate(**zeros), query.accounts, static)
    r = rows
    if any(n not in SUBSCRIPTION_SEGMENTS for n in names):  # instants to read attributes at
        r = attributes_in_time.with_period_end(query, r, "e_instant")
        r = attributes_in_time.with_period_end(query, r, "s_instant", before=1)
    for n in names:
        if n not in SUBSCRIPTION_SEGMENTS:
            r = attributes_in_time.value_at(query, r, n, "e_instant", f"e__{n}")
            r = attributes_in_time.value_at(query, r, n, "s_instant", f"s__{n}")
            continue
        found = values(query, n)
        end = found.select(e_account="account_id", e_index="period_index", **{f"e__{n}": "value"})
        start = found.select(
            s_account="account_id", s_index=found.period_index + 1, **{f"s__{n}": "value"}
        )
        r = r.left_join(end, [r.account_id == end.e_account, r.period_index == end.e_index])
        r = r.left_join(start, [r.account_id == start.s_account, r.period_index == start.s_index])
        r = r.drop("e_account", "e_index", "s_account", "s_index")
    opening = (r.customers_start > 0) | (r.mrr_start != 0)
    same = ibis.and_(*[r[f"e__{n}"].identical_to(r[f"s__{n}"]) for n in names])
    r = r.mutate(moved=opening & ~same)
    types = {**rows.schema(), **{m: _zero(m).type() for m in SEGMENT_MEASURES}}
    # One pass over r: a row that stays in its segment (branch 0), or for a moved account a row
    # leaving the old segment (1) and one entering the new (2), so r is computed once.
    r = r.mutate(branch=ibis.cases((r.moved, ibis.array([1, 2])), else_=ibis.array([0])).unnest())
    leaving, entering = r.branch == 1, r.branch == 2
    opened = r.mrr_start + r.mrr_fx_impact
    # the opening balance leaves the old segment, and enters the new one, where the period's
    # movements count
    kept_leaving = ("mrr_start", "mrr_fx_impact", "customers_start")
    columns: dict[str, ir.Value] = {
        "movement": ibis.cases((leaving, ibis.literal("segment_leaving")), else_=r.movement),
        **{
            m: ibis.cases((entering if m in kept_leaving else leaving, _zero(m)), else_=r[m])
            for m in mrr.MEASURES
        },
        "mrr_segment_leaving": ibis.cases((leaving, -opened), else_=ZERO),
        "customers_segment_leaving": ibis.cases((leaving, r.customers_start), else_=0),
        "mrr_segment_entering": ibis.cases((entering, opened), else_=ZERO),
        "customers_segment_entering": ibis.cases((entering, r.customers_start), else_=0),
    }
    split = r.select(
        "account_id",
        "period_index",
        "period_start",
        "cohort",
        **{m: columns[m].cast(types[m]) for m in ["movement", *mrr.MEASURES, *SEGMENT_MEASURES]},
        **{n: ibis.cases((leaving, r[f"s__{n}"]), else_=r[f"e__{n}"]) for n in names},
    )
    return with_attributes(split, query.accounts, static)


def segmented_scheduled(query: Query) -> ir.Table:
    """mrr.account_scheduled_churn with the query's segments at each period's end."""
    rows = mrr.account_scheduled_churn(query)
    paid = [n for n in query.by if n in SUBSCRIPTION_SEGMENTS]
    for n in paid:
        end = values(query, n).select(
            e_account="account_id", e_index="period_index", **{n: "value"}
        )
        rows = rows.left_join(
            end, [rows.account_id == end.e_account, rows.period_index == end.e_index]
        ).drop("e_account", "e_index")
    attributes = [n for n in query.by if n not in paid]
    return attributes_in_time.attach(query, rows, names=attributes)


def segment_values(query: Query) -> ir.Table:
    """The distinct combinations of the query's segments, for the period x segment grid."""
    if any(n in SUBSCRIPTION_SEGMENTS for n in query.by):
        return segmented_mrr(query).select(*query.by).distinct()
    return attributes_in_time.combinations(query)


def _zero(measure: str) -> ir.Value:
    if measure.startswith("mrr_"):
        return ZERO
    return ibis.literal(0).cast("int64")
