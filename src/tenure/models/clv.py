"""Predictive customer lifetime value: BG/NBD (or Pareto/NBD) for how many purchases a customer
will make and whether she is still alive, Gamma-Gamma for what each purchase is worth, and the
sum of the expected purchases of each future time unit, discounted, times margin and spend."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tenure.errors import ModelError
from tenure.models.bgnbd import BGNBD
from tenure.models.gamma_gamma import GammaGamma
from tenure.models.pareto_nbd import ParetoNBD

PURCHASE_MODELS: dict[str, type[BGNBD] | type[ParetoNBD]] = {
    "bgnbd": BGNBD,
    "pareto": ParetoNBD,
}


@dataclass(frozen=True)
class ClvModel:
    purchases: BGNBD | ParetoNBD
    spend: GammaGamma
    unit: str

    @classmethod
    def fit(cls, histories: pd.DataFrame, model: str = "bgnbd") -> ClvModel:
        """Fit to `purchase_histories` output (frequency, recency, T, monetary_value)."""
        if model not in PURCHASE_MODELS:
            raise ModelError(f"unknown model {model!r}; choose from: {', '.join(PURCHASE_MODELS)}")
        purchases = PURCHASE_MODELS[model].fit(
            histories["frequency"], histories["recency"], histories["T"]
        )
        spend = GammaGamma.fit(histories["frequency"], histories["monetary_value"])
        return cls(purchases, spend, str(histories.attrs.get("unit", "week")))

    def summary(self) -> dict[str, Any]:
        """Parameters, log-likelihoods and sample sizes (the output of `tenure clv fit`)."""
        name = "bgnbd" if isinstance(self.purchases, BGNBD) else "pareto"
        return {
            "unit": self.unit,
            "purchase_model": name,
            "purchase_params": self.purchases.params,
            "purchase_log_likelihood": self.purchases.log_likelihood,
            "customers": self.purchases.customers,
            "spend_model": "gamma_gamma",
            "spend_params": self.spend.params,
            "spend_log_likelihood": self.spend.log_likelihood,
            "repeat_customers": self.spend.customers,
            "mean_spend_per_purchase": self.spend.population_mean,
        }

    def predict(
        self,
        histories: pd.DataFrame,
        horizon: int,
        *,
        discount_per_unit: float = 0.0,
        margin: float = 1.0,
    ) -> pd.DataFrame:
        """Per customer: p_alive, expected_purchases over the horizon (in units), expected_spend
        per purchase and clv = margin x spend x the purchases of each future unit, discounted."""
        if horizon < 1:
            raise ModelError("the horizon must be at least one time unit")
        x = histories["frequency"].to_numpy(dtype=float)
        t_x = histories["recency"].to_numpy(dtype=float)
        T = histories["T"].to_numpy(dtype=float)
        spend = self.spend.conditional_expected_value(x, histories["monetary_value"].to_numpy())
        previous = np.zeros(len(x))
        discounted = np.zeros(len(x))
        for step in range(1, horizon + 1):
            cumulative = self.purchases.conditional_expected_purchases(step, x, t_x, T)
            discounted += (cumulative - previous) / (1 + discount_per_unit) ** step
            previous = cumulative
        result = histories.copy()
        result["p_alive"] = self.purchases.p_alive(x, t_x, T)
        result["expected_purchases"] = previous
        result["expected_spend"] = spend
        result["clv"] = margin * spend * discounted
        result.attrs = {**histories.attrs, "horizon": horizon, "margin": margin}
        return result.sort_values(["clv", "account_id"], ascending=[False, True]).reset_index(
            drop=True
        )


def discount_per_unit(annual_rate: float, days_per_unit: float) -> float:
    """The rate per time unit equivalent to `annual_rate` a year."""
    if annual_rate <= -1:
        raise ModelError("the discount rate must be greater than -100%")
    return float((1 + annual_rate) ** (days_per_unit / 365.25) - 1)
