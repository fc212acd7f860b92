"""Shifted-beta-geometric (sBG) model of contractual renewals (Fader and Hardie, "How to Project
Customer Retention", Journal of Interactive Marketing 2007; "Customer-Base Valuation in a
Contractual Setting", Marketing Science 2010).

Each customer renews at every period end with her own probability 1 - theta, theta ~ Beta(alpha,
beta). Across a cohort the renewal rate rises with tenure (the less loyal leave first):
    P(T = t) = B(alpha + 1, beta + t - 1) / B(alpha, beta),  S(t) = B(alpha, beta + t) / B(alpha, beta)
    retention r(t) = S(t) / S(t - 1) = (beta + t - 1) / (alpha + beta + t - 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from tenure.errors import ModelError
from tenure.models.fitting import maximise

NAMES = ("alpha", "beta")


@dataclass(frozen=True)
class SBG:
    alpha: float
    beta: float
    log_likelihood: float = float("nan")

    @classmethod
    def fit(cls, cohorts: Sequence[Sequence[float] | np.ndarray]) -> SBG:
        """Fit to one or more cohorts, each the number alive at period 0, 1, 2, ... (period 0 is
        the cohort's size); cohorts may be of different ages."""
        curves = [np.asarray(c, dtype=float) for c in cohorts]
        for number, curve in enumerate(curves):
            if curve.ndim != 1 or len(curve) < 2:
                raise ModelError(f"cohort #{number}: needs its size and at least one later count")
            if curve[0] <= 0 or (np.diff(curve) > 0).any() or (curve < 0).any():
                raise ModelError(f"cohort #{number}: counts must start positive and never increase")
        if all(curve[-1] == curve[0] for curve in curves):
            raise ModelError("no customer ever churned: the sBG model cannot be fitted")
        size = float(sum(curve[0] for curve in curves))
        fit = maximise("sBG", NAMES, lambda p: log_likelihood(p, curves), (1.0, 1.0), size)
        return cls(fit.params["alpha"], fit.params["beta"], fit.log_likelihood)

    @property
    def params(self) -> dict[str, float]:
        return {"alpha": self.alpha, "beta": self.beta}

    def survival(self, periods: int) -> np.ndarray:
        """S(0..periods): the share of a cohort still active after each period."""
        t = np.arange(periods + 1)
        log_survival = special.betaln(self.alpha, self.beta + t) - special.betaln(
            self.alpha, self.beta
        )
        return np.asarray(np.exp(log_survival), dtype=float)

    def retention(self, periods: int) -> np.ndarray:
        """r(1..periods): the renewal rate at each period end."""
        t = np.arange(1, periods + 1)
        return (self.beta + t - 1) / (self.alpha + self.beta + t - 1)

    def discounted_expected_residual_lifetime(self, discount: float, renewals: int = 0) -> float:
        """DERL (the 2010 paper): for a customer who has renewed `renewals` times and now faces
        her next renewal, the expected number of payments still to come, the coming one counted
        in full and each later one discounted by `discount` per period:
            sum over t > renewals of S(t) / S(renewals) / (1 + discount) ** (t - renewals - 1).
        Multiply by the margin per period for a residual value."""
        if discount <= -1:
            raise ModelError("the discount rate must be greater than -100%")
        n = renewals + 1
        a, b = self.alpha, self.beta
        hyp = special.hyp2f1(1, b + n, a + b + n, 1 / (1 + discount))
        return float((b + n - 1) / (a + b + n - 1) * hyp)


def log_likelihood(params: np.ndarray, curves: Sequence[np.ndarray]) -> tuple[float, np.ndarray]:
    """Churners in each period weigh ln P(T = t); survivors of the last period weigh ln S(t)."""
    alpha, beta = params
    total, gradient = 0.0, np.zeros(2)
    psi = special.digamma
    for curve in curves:
        t = np.arange(1, len(curve))
        lost = curve[:-1] - curve[1:]
        last = len(curve) - 1
        base = special.betaln(alpha, beta)
        log_p = special.betaln(alpha + 1, beta + t - 1) - base
        log_s = special.betaln(alpha, beta + last) - base
        total += float(np.sum(lost * log_p) + curve[-1] * log_s)
        d_base = np.array([psi(alpha) - psi(alpha + beta), psi(beta) - psi(alpha + beta)])
        d_p = np.stack(
            [
                psi(alpha + 1) - psi(alpha + beta + t),
                psi(beta + t - 1) - psi(alpha + beta + t),
            ]
        )
        d_s = np.array(
            [psi(alpha) - psi(alpha + beta + last), psi(beta + last) - psi(alpha + beta + last)]
        )
        gradient += (d_p * lost).sum(axis=1) + curve[-1] * d_s - d_base * curve[0]
    return total, gradient
