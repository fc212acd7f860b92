"""Revenue, retention, value and cost metrics (SPEC section 3), over the measures of mrr.py
and sources.py."""

from __future__ import annotations

import ibis
import ibis.expr.types as ir

from tenure.metrics.metric import Context, Metric, measure, ratio


# -- building blocks shared by several metrics ---------------------------------------------------
def _start_now(w: ir.Table) -> ir.Value:
    """Opening MRR at this period's exchange rates (movements are measured against it)."""
    return w.mrr_start + w.mrr_fx_impact


def _arpa(w: ir.Table) -> ir.Value:
    return ratio(w.mrr_end, w.customers_end)


def _trailing_churn(w: ir.Table, ctx: Context) -> ir.Value:
    """Mean customer churn rate (a fraction) of the six periods before this one."""
    rate = ratio(w.customers_churned, w.customers_start)
    window = ibis.window(group_by=list(ctx.by) or None, order_by=w.period_index, rows=(-6, -1))
    return rate.mean().over(window)


def _ltv(w: ir.Table, ctx: Context) -> ir.Value:
    monthly_churn = _trailing_churn(w, ctx) / ctx.months_per_period
    return ratio(_arpa(w) * ctx.gross_margin, monthly_churn)


def _cac(w: ir.Table) -> ir.Value:
    return ratio(w.company_acquisition_costs, w.company_customers_new)


def _crc(w: ir.Table) -> ir.Value:
    return ratio(w.company_retention_costs, w.company_customers_end)


def _lifespan_periods(w: ir.Table, ctx: Context) -> ir.Value:
    return ratio(ibis.literal(1.0), _trailing_churn(w, ctx))


_MOVEMENTS = ("mrr_start", "mrr_fx_impact", "mrr_expansion", "mrr_contraction", "mrr_churned")
_CUSTOMERS = ("customers_start", "customers_end", "customers_new", "customers_reactivated")
_CHURN = ("customers_churned", "customers_start")
_LTV = ("mrr_end", "customers_end", *_CHURN)
_COSTS_ACQ = ("company_acquisition_costs", "company_customers_new")
_COSTS_RET = ("company_retention_costs", "company_customers_end")


def _money(name: str, area: str, description: str, summed: str | None = None) -> Metric:
    summed = summed or name
    return Metric(name, area, "currency", description, summed, (summed,), measure(summed))


def _count(name: str, summed: str, description: str) -> Metric:
    return Metric(name, "retention", "count", description, summed, (summed,), measure(summed))


REVENUE_METRICS: tuple[Metric, ...] = (
    # -- revenue ------------------------------------------------------------------------------
    _money("mrr", "revenue", "Monthly recurring revenue at the end of the period", "mrr_end"),
    Metric(
        "arr",
        "revenue",
        "currency",
        "Annual recurring revenue",
        "12 x mrr_end",
        ("mrr_end",),
        lambda w, ctx: w.mrr_end * 12,
    ),
    _money("mrr_new", "revenue", "MRR from accounts paying for the first time"),
    _money("mrr_expansion", "revenue", "MRR gained from paying accounts (up-sell, seats)"),
    _money("mrr_contraction", "revenue", "MRR lost from accounts still paying (negative)"),
    _money("mrr_churned", "revenue", "MRR lost from accounts that stopped paying (negative)"),
    _money("mrr_reactivation", "revenue", "MRR from churned accounts paying again"),
    _money(
        "mrr_fx_impact",
        "revenue",
        "Change in MRR from exchange rates alone (not a movement)",
    ),
    _money(
        "mrr_segment_entering",
        "revenue",
        "Opening MRR of accounts that moved into the segment during the period (0 for the "
        "whole company: it nets out against mrr_segment_leaving)",
    ),
    _money(
        "mrr_segment_leaving",
        "revenue",
        "Opening MRR of accounts that moved out of the segment during the period (negative)",
    ),
    Metric(
        "mrr_net_change",
        "revenue",
        "currency",
        "Change in MRR over the period: the sum of all movements, FX impact and, per segment, "
        "the segment entering and leaving lines",
        "mrr_end - mrr_start",
        ("mrr_end", "mrr_start"),
        lambda w, ctx: w.mrr_end - w.mrr_start,
    ),
    _money(
        "expansion_revenue",
        "revenue",
        "One-time purchases by existing customers (cross-sell, add-ons; seed 000/001)",
    ),
    _money("revenue", "revenue", "Order revenue in the period (refunds per policy)"),
    _money(
        "scheduled_churn_mrr",
        "revenue",
        "MRR of accounts paying at the period's end whose paid periods all end within the "
        "next policy.scheduled_churn_days days (default 30): canceled, past-due or ending "
        "contracts, as the data knows them now",
    ),
    Metric(
        "arpa",
        "revenue",
        "currency",
        "Average revenue per paying account",
        "mrr_end / customers_end",
        ("mrr_end", "customers_end"),
        lambda w, ctx: w.mrr_end,
        lambda w, ctx: w.customers_end,
    ),
    Metric(
        "arpu",
        "revenue",
        "currency",
        "Average revenue per user: order revenue / average users in the period (seed 004)",
        "revenue / users_average",
        ("revenue", "users_average"),
        lambda w, ctx: w.revenue,
        lambda w, ctx: w.users_average,
    ),
    Metric(
        "nrr",
        "revenue",
        "percent",
        "Net revenue retention of accounts paying at the start (new accounts excluded)",
        "(mrr_start + expansion + contraction + churned) / mrr_start, at this period's rates",
        _MOVEMENTS,
        lambda w, ctx: _start_now(w) + w.mrr_expansion + w.mrr_contraction + w.mrr_churned,
        lambda w, ctx: _start_now(w),
        100.0,
    ),
    Metric(
        "grr",
        "revenue",
        "percent",
        "Gross revenue retention: NRR without expansion",
        "(mrr_start + contraction + churned) / mrr_start, at this period's rates",
        _MOVEMENTS,
        lambda w, ctx: _start_now(w) + w.mrr_contraction + w.mrr_churned,
        lambda w, ctx: _start_now(w),
        100.0,
    ),
    Metric(
        "mrr_churn_rate",
        "revenue",
        "percent",
        "Gross MRR churn rate",
        "-(churned + contraction) / mrr_start",
        _MOVEMENTS,
        lambda w, ctx: -(w.mrr_churned + w.mrr_contraction),
        lambda w, ctx: _start_now(w),
        100.0,
    ),
    Metric(
        "net_mrr_churn_rate",
        "revenue",
        "percent",
        "Net MRR churn rate (negative when expansion wins)",
        "-(churned + contraction + expansion + reactivation) / mrr_start",
        (*_MOVEMENTS, "mrr_reactivation"),
        lambda w, ctx: -(w.mrr_churned + w.mrr_contraction + w.mrr_expansion + w.mrr_reactivation),
        lambda w, ctx: _start_now(w),
        100.0,
    ),
    Metric(
        "quick_ratio",
        "revenue",
        "ratio",
        "SaaS quick ratio: MRR gained per MRR lost",
        "(new + expansion + reactivation) / -(churned + contraction)",
        ("mrr_new", "mrr_expansion", "mrr_reactivation", "mrr_churned", "mrr_contraction"),
        lambda w, ctx: w.mrr_new + w.mrr_expansion + w.mrr_reactivation,
        lambda w, ctx: -(w.mrr_churned + w.mrr_contraction),
    ),
    # -- retention ----------------------------------------------------------------------------
    _count("customers", "customers_end", "Paying accounts at the end of the period"),
    _count("new_customers", "customers_new", "Accounts paying for the first time"),
    _count("reactivated_customers", "customers_reactivated", "Churned accounts paying again"),
    _count("churned_customers", "customers_churned", "Paying accounts that stopped paying"),
    _count(
        "segment_entering_customers",
        "customers_segment_entering",
        "Customers at the period's start that moved into the segment during it",
    ),
    _count(
        "segment_leaving_customers",
        "customers_segment_leaving",
        "Customers at the period's start that moved out of the segment during it",
    ),
    Metric(
        "customer_churn_rate",
        "retention",
        "percent",
        "Customer churn rate, start-of-period denominator (seed 002/003, ChartMogul)",
        "customers_churned / customers_start",
        _CHURN,
        lambda w, ctx: w.customers_churned,
        lambda w, ctx: w.customers_start,
        100.0,
    ),
    Metric(
        "customer_churn_rate_period_total",
        "retention",
        "percent",
        "Customer churn rate over all customers of the period (seed 001/004, Stripe)",
        "customers_churned / (customers_start + customers_new + customers_reactivated)",
        ("customers_churned", *_CUSTOMERS),
        lambda w, ctx: w.customers_churned,
        lambda w, ctx: w.customers_start + w.customers_new + w.customers_reactivated,
        100.0,
    ),
    Metric(
        "customer_retention_rate",
        "retention",
        "percent",
        "Customer retention rate (E - N) / S (seed 001); N counts new and reactivated",
        "(customers_end - customers_new - customers_reactivated) / customers_start",
        _CUSTOMERS,
        lambda w, ctx: w.customers_end - w.customers_new - w.customers_reactivated,
        lambda w, ctx: w.customers_start,
        100.0,
    ),
    Metric(
        "repeat_purchase_rate",
        "retention",
        "percent",
        "Customers with two or more purchases among all who bought, to the period's end",
        "repeat_buyers_to_date / buyers_to_date",
        ("repeat_buyers_to_date", "buyers_to_date"),
        lambda w, ctx: w.repeat_buyers_to_date,
        lambda w, ctx: w.buyers_to_date,
        100.0,
    ),
    # -- value and cost -----------------------------------------------------------------------
    Metric(
        "average_purchase_value",
        "value",
        "currency",
        "Average purchase value (APV)",
        "purchase_value / purchases",
        ("purchase_value", "purchases"),
        lambda w, ctx: w.purchase_value,
        lambda w, ctx: w.purchases,
    ),
    Metric(
        "purchase_frequency",
        "value",
        "ratio",
        "Average purchases per purchasing customer in the period (APF)",
        "purchases / purchasers",
        ("purchases", "purchasers"),
        lambda w, ctx: w.purchases,
        lambda w, ctx: w.purchasers,
    ),
    Metric(
        "customer_lifespan_months",
        "value",
        "months",
        "Expected customer lifespan: 1 / trailing customer churn rate",
        "months per period / mean customer churn rate of the six periods before",
        _CHURN,
        lambda w, ctx: ibis.literal(ctx.months_per_period),
        lambda w, ctx: _trailing_churn(w, ctx),
        trailing=True,
    ),
    Metric(
        "clv_simple",
        "value",
        "currency",
        "CLV = APV x APF x lifespan (seed 002/004); lifespan from trailing customer churn",
        "(purchase_value / purchasers) / mean customer churn rate of the six periods before",
        ("purchase_value", "purchasers", *_CHURN),
        lambda w, ctx: ratio(w.purchase_value, w.purchasers),
        lambda w, ctx: _trailing_churn(w, ctx),
        trailing=True,
    ),
    Metric(
        "clv_subscription",
        "value",
        "currency",
        "LTV = ARPA x gross margin / monthly customer churn (six-period trailing mean, "
        "current period excluded; undefined when churn is 0)",
        "arpa x gross_margin / trailing monthly customer churn rate",
        _LTV,
        lambda w, ctx: _arpa(w) * ctx.gross_margin,
        lambda w, ctx: _trailing_churn(w, ctx) / ctx.months_per_period,
        trailing=True,
    ),
    Metric(
        "clv_net",
        "value",
        "currency",
        "Net CLV (seed 001): lifetime revenue less the cost to acquire and to serve "
        "(CAC and CRC are company-wide)",
        "clv_subscription - cac - crc x lifespan in periods",
        (*_LTV, *_COSTS_ACQ, *_COSTS_RET),
        lambda w, ctx: _ltv(w, ctx) - _cac(w) - _crc(w) * _lifespan_periods(w, ctx),
        trailing=True,
    ),
    Metric(
        "crc",
        "value",
        "currency",
        "Customer retention cost: success, support, onboarding, training and customer "
        "marketing costs / paying customers (seed 004; company-wide, costs carry no account)",
        "retention costs / customers_end",
        _COSTS_RET,
        lambda w, ctx: w.company_retention_costs,
        lambda w, ctx: w.company_customers_end,
    ),
    Metric(
        "cac",
        "value",
        "currency",
        "Customer acquisition cost: acquisition marketing and sales costs / new customers "
        "(company-wide)",
        "acquisition costs / customers_new",
        _COSTS_ACQ,
        lambda w, ctx: w.company_acquisition_costs,
        lambda w, ctx: w.company_customers_new,
    ),
    Metric(
        "ltv_cac",
        "value",
        "ratio",
        "LTV:CAC (clv_subscription / company CAC)",
        "clv_subscription / cac",
        (*_LTV, *_COSTS_ACQ),
        lambda w, ctx: _ltv(w, ctx),
        lambda w, ctx: _cac(w),
        trailing=True,
    ),
    Metric(
        "cac_payback_months",
        "value",
        "months",
        "Months of gross-margin ARPA to earn back CAC",
        "cac / (arpa x gross_margin)",
        ("mrr_end", "customers_end", *_COSTS_ACQ),
        lambda w, ctx: _cac(w),
        lambda w, ctx: _arpa(w) * ctx.gross_margin,
    ),
)
