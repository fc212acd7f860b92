"""The revenue policy: every rule on which billing-analytics vendors disagree, named once.

Each result records the policy it was computed under. Defaults follow SPEC.md (and ChartMogul).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from tenure.errors import QueryError

CHOICES: dict[str, tuple[str, ...]] = {
    "discounts": ("deducted", "gross"),
    "refunds": ("ignored", "deducted"),
    "churn_recognition": ("paid_period_end", "cancellation"),
    "short_plans": ("calendar", "simple"),
    "fx_rate_date": ("period_start", "month_end"),
}
HELP = {
    "discounts": "deducted: MRR after discounts (a 100% discount makes an account free); gross: list price",
    "refunds": "ignored: revenue counts purchases only; deducted: refunds come off revenue",
    "churn_recognition": "paid_period_end: MRR stops when the paid period ends (ended_at); "
    "cancellation: MRR stops when the customer cancels (canceled_at)",
    "short_plans": "calendar: a week is 52/12 of a month and a day 365/12; simple: x4 and x30",
    "gross_margin": "share of revenue kept after cost of service, for CLV (0 < m <= 1)",
    "fx_rate_date": "period_start: a subscription's MRR is converted at the rate of the day its "
    "billing period started, fixed for that period, a renewal taking the new rate (ChartMogul, "
    "Baremetrics); month_end: at the rate of the last day of each reporting period. Rate changes "
    "are the 'FX impact' line either way",
}

# Rules that have one behaviour today (recorded with every result so that it is never implicit).
FIXED = {
    "taxes": "excluded (amounts are loaded net of tax)",
    "trials": "not paying: MRR 0 until trial_ends_at, not counted as a customer",
    "reactivation_window": "none: a returning account is always a reactivation",
    "snapshot": "MRR is measured at the end of each period and compared with the end of the one "
    "before, so an account that joins and leaves within one period moves nothing",
}


@dataclass(frozen=True)
class RevenuePolicy:
    discounts: str = "deducted"
    refunds: str = "ignored"
    churn_recognition: str = "paid_period_end"
    short_plans: str = "calendar"
    gross_margin: float = 1.0
    fx_rate_date: str = "period_start"

    def __post_init__(self) -> None:
        for name, valid in CHOICES.items():
            value = getattr(self, name)
            if value not in valid:
                raise QueryError(
                    f"policy {name} cannot be {value!r}; choose one of: {', '.join(valid)}"
                )
        if not 0 < self.gross_margin <= 1:
            raise QueryError(f"policy gross_margin must be in (0, 1], not {self.gross_margin}")

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
            else:
                kwargs[item.name] = raw
        return cls(**kwargs)


def setting_defaults() -> dict[str, str]:
    """`policy.<name>` -> default, for the workspace settings table."""
    return {f"policy.{item.name}": str(item.default) for item in fields(RevenuePolicy)}
