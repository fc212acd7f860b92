"""The revenue policy: every rule on which billing-analytics vendors disagree, named once.

Each result records the policy it was computed under. Defaults follow SPEC.md (and ChartMogul).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from tenure.errors import QueryError

CHOICES: dict[str, tuple[str, ...]] = {
    "discounts": ("deducted", "gross"),
    "refunds": ("ignored", "deducted"),
    "churn_recognition": ("paid_period_end", "cancellation"),
    "short_plans": ("calendar", "simple"),
    "fx_rate_date": ("period_start", "month_end"),
    "pause": ("contraction", "churn"),
    "trials": ("not_paying", "paying_at_zero"),
    "same_period_churn": ("excluded", "counted"),
    "taxes": ("excluded", "included"),
}
PAST_DUE = re.compile(r"^(count|exclude_after_days:(\d+))$")
HELP = {
    "discounts": "deducted: MRR after discounts (a 100% discount makes an account free); gross: list price",
    "refunds": "ignored: revenue counts purchases only; deducted: refunds come off revenue",
    "churn_recognition": "paid_period_end: MRR stops when the paid period ends (ended_at, or "
    "without it the end of the billing period in force at canceled_at); "
    "cancellation: MRR stops when the customer cancels (canceled_at)",
    "short_plans": "calendar: a week is 52/12 of a month and a day 365/12; simple: x4 and x30",
    "gross_margin": "share of revenue kept after cost of service, for CLV (0 < m <= 1)",
    "fx_rate_date": "period_start: a subscription's MRR is converted at the rate of the day its "
    "billing period started, fixed for that period, a renewal taking the new rate (ChartMogul, "
    "Baremetrics); month_end: at the rate of the last day of each reporting period. Rate changes "
    "are the 'FX impact' line either way",
    "pause": "contraction: a paused subscription (paused_from..paused_until) stays a customer at "
    "0 MRR, its pause a contraction and its resumption an expansion (ChartMogul); churn: the "
    "pause is a churn and the resumption a reactivation (Stripe, Baremetrics)",
    "past_due": "count: past_due and unpaid subscriptions (status column) count until canceled "
    "(Stripe, ChartMogul); exclude_after_days:N: they leave MRR N days after the start of the "
    "billing period in force today (the unpaid one)",
    "reactivation_window_days": "none: a returning account is always a reactivation (SPEC, "
    "ChartMogul); N: an account returning more than N days after it stopped paying is new",
    "trials": "not_paying: MRR 0 until trial_ends_at and not a customer, nor is a 100%-discounted "
    "subscription (SPEC, ChartMogul, Stripe); paying_at_zero: both count as customers at 0 MRR",
    "same_period_churn": "excluded: an account that starts and stops paying within one period "
    "moves nothing (ChartMogul); counted: it is new (or reactivated) and churned in that period, "
    "with its MRR on both lines (Stripe)",
    "taxes": "excluded: order revenue is amount minus its tax column (SPEC, ChartMogul, Stripe, "
    "Baremetrics); included: the whole amount. Subscription amounts are prices, always net of tax",
    "scheduled_churn_days": "N: scheduled_churn_mrr is the MRR of accounts paying at the end of "
    "a period whose known paid periods all end within the N days after it (default 30)",
    "preset": "tenure | chartmogul | stripe | baremetrics: setting it writes every policy setting "
    "to that vendor's documented rule (docs/metrics.md, 'Vendor presets'); a policy setting "
    "changed afterwards overrides the preset's value for that setting only",
}

# Rules that have one behaviour today (recorded with every result so that it is never implicit).
FIXED = {
    "snapshot": "MRR is measured at the end of each period (a quarter or year not yet over: at "
    "the end of today) and compared with the end of the one before",
}


@dataclass(frozen=True)
class RevenuePolicy:
    discounts: str = "deducted"
    refunds: str = "ignored"
    churn_recognition: str = "paid_period_end"
    short_plans: str = "calendar"
    gross_margin: float = 1.0
    fx_rate_date: str = "period_start"
    pause: str = "contraction"
    past_due: str = "count"
    reactivation_window_days: int | None = None
    trials: str = "not_paying"
    same_period_churn: str = "excluded"
    taxes: str = "excluded"
    scheduled_churn_days: int = 30

    def __post_init__(self) -> None:
        for name, valid in CHOICES.items():
            value = getattr(self, name)
            if value not in valid:
                raise QueryError(
                    f"policy {name} cannot be {value!r}; choose one of: {', '.join(valid)}"
                )
        if not PAST_DUE.match(self.past_due):
            raise QueryError(
                f"policy past_due cannot be {self.past_due!r}; choose count or "
                "exclude_after_days:N (N a whole number of days, e.g. exclude_after_days:30)"
            )
        for name in ("reactivation_window_days", "scheduled_churn_days"):
            days = getattr(self, name)
            if days is not None and (isinstance(days, bool) or days < 0):
                raise QueryError(f"policy {name} must be a whole number of days >= 0, not {days}")
        if not 0 < self.gross_margin <= 1:
            raise QueryError(f"policy gross_margin must be in (0, 1], not {self.gross_margin}")

    @property
    def past_due_days(self) -> int | None:
        """N of exclude_after_days:N, None when past-due subscriptions count."""
        found = PAST_DUE.match(self.past_due)
        return None if found is None or found.group(2) is None else int(found.group(2))

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), **FIXED}

    @classmethod
    def from_settings(cls, values: dict[str, str]) -> RevenuePolicy:
        """Build from `policy.<name>` settings (strings), ignoring unset ones."""
        kwargs: dict[str, Any] = {}
        for item in fields(cls):
            raw = values.get(f"policy.{item.name}")
            if raw is None:
                continue
            if item.name == "gross_margin":
                try:
                    kwargs[item.name] = float(raw)
                except ValueError:
                    raise QueryError(f"policy gross_margin must be a number, not {raw!r}") from None
            elif item.name in ("reactivation_window_days", "scheduled_churn_days"):
                kwargs[item.name] = _days(item.name, raw)
            else:
                kwargs[item.name] = raw
        return cls(**kwargs)


def _days(name: str, raw: str) -> int | None:
    text = raw.strip().lower()
    if text == "none" and name == "reactivation_window_days":
        return None
    if not text.isdigit():
        allowed = "none or " if name == "reactivation_window_days" else ""
        raise QueryError(f"policy {name} must be {allowed}a whole number of days, not {raw!r}")
    return int(text)


def setting_defaults() -> dict[str, str]:
    """`policy.<name>` -> default, for the workspace settings table (and `policy.preset`)."""
    defaults = {f"policy.{item.name}": _text(item.default) for item in fields(RevenuePolicy)}
    return {**defaults, "policy.preset": "tenure"}


def _text(value: object) -> str:
    return "none" if value is None else str(value)


# -- vendor presets ---------------------------------------------------------------------------
# Each preset is a whole RevenuePolicy: the vendor's documented rule where it states one, else
# Tenure's default (marked "not stated"). Sources, read 2026-12-01:
#   Stripe:  https://docs.stripe.com/billing/subscriptions/analytics/glossary (MRR counts
#            active and past_due subscriptions; canceled or unpaid ones are churn; trials, tax,
#            free plans and metered prices excluded; MRR growth has an "FX impact" line) and
#            https://support.stripe.com/questions/billing-analytics (only `forever` coupons
#            reduce MRR; trials do not count; unpaid subscriptions leave MRR).
#   ChartMogul: https://help.chartmogul.com/hc/en-us/articles/201520952 (MRR converted at the
#            service period's start date, rate changes an "Exchange Rate Impact" row, not
#            expansion or contraction); churn at the end of the last invoice's service period
#            by default (https://support.saasync.com/hc/en-us/articles/4419558051355).
#   Baremetrics: https://help.baremetrics.com/en/articles/5380330-monthly-recurring-revenue
#            (coupons come off MRR; 100%-off customers are free users, not customers; customers
#            delinquent for more than 30 days are churned) and https://changelog.baremetrics.com
#            (sign-up and cancellation within one 30-day window count in churn).
_TENURE = RevenuePolicy()
PRESETS: dict[str, RevenuePolicy] = {
    "tenure": _TENURE,  # SPEC.md's rules, the defaults
    "chartmogul": replace(
        _TENURE,
        fx_rate_date="period_start",  # rate at the service period's start
        churn_recognition="paid_period_end",  # end of the last invoice's service period
        discounts="deducted",
        past_due="count",
        pause="contraction",
        same_period_churn="excluded",
    ),
    "stripe": replace(
        _TENURE,
        discounts="deducted",  # a loaded discount is recurring, as a `forever` coupon is
        past_due="count",  # active and past_due count (Tenure's `count` also keeps `unpaid`)
        trials="not_paying",  # trials and free plans excluded
        fx_rate_date="month_end",  # MRR re-converted each period, moves shown as FX impact
        pause="churn",
        same_period_churn="counted",
    ),
    "baremetrics": replace(
        _TENURE,
        discounts="deducted",
        past_due="exclude_after_days:30",  # delinquent > 30 days: churned
        trials="not_paying",  # 100%-off customers are free users
        fx_rate_date="period_start",
        pause="churn",
        same_period_churn="counted",
    ),
}


def preset(name: str) -> RevenuePolicy:
    """The policy a vendor preset stands for."""
    found = PRESETS.get(name.strip().lower())
    if found is None:
        raise QueryError(f"unknown policy preset {name!r}; choose one of: {', '.join(PRESETS)}")
    return found


def as_settings(policy: RevenuePolicy) -> dict[str, str]:
    """`policy.<name>` -> value as stored in the settings table (the inverse of from_settings)."""
    return {f"policy.{item.name}": _text(getattr(policy, item.name)) for item in fields(policy)}


def preset_settings(name: str) -> dict[str, str]:
    """The settings `policy.preset = name` writes: every policy setting, and the preset."""
    return {**as_settings(preset(name)), "policy.preset": name.strip().lower()}
