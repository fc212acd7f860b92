"""Gamma-Gamma model of spend per transaction (Fader, Hardie and Lee, "RFM and CLV: Using
Iso-Value Curves for Customer Base Analysis", JMR 2005; Hardie's note on the model, 2013).

A customer's transaction values are Gamma(p, nu) around her mean p / nu, and nu ~ Gamma(q, gamma)
across customers. Fitted on customers with at least one repeat purchase, from the number x and
the mean value m of their repeat transactions; assumes spend is independent of frequency.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from tenure.errors import ModelError
from tenure.models.fitting import maximise

NAMES = ("p", "q", "v")


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float  # the paper's gamma: the scale of the across-customer distribution
    log_likelihood: float = float("nan")
    customers: float = 0.0

    @classmethod
    def fit(cls, frequency: object, monetary_value: object) -> GammaGamma:
        """Fit to customers with frequency > 0 (the others carry no spend information)."""
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        if x.shape != m.shape or x.ndim != 1:
            raise ModelError("frequency and monetary_value must be one-dimensional, equal length")
        keep = x > 0
        x, m = x[keep], m[keep]
        if len(x) < 2:
            raise ModelError("Gamma-Gamma needs at least two customers with repeat purchases")
        if not np.all(np.isfinite(m)) or (m <= 0).any():
            first = int(np.flatnonzero(~(np.isfinite(m) & (m > 0)))[0])
            raise ModelError(
                f"repeat customer #{first}: the mean transaction value must be positive"
            )
        data = Spends(x, m)
        start = (1.0, 1.0, float(m.mean()))
        fit = maximise(
            "Gamma-Gamma", NAMES, lambda params: log_likelihood(params, data), start, len(x)
        )
        return cls(**fit.params, log_likelihood=fit.log_likelihood, customers=float(len(x)))

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "v": self.v}

    @property
    def population_mean(self) -> float:
        """E(M): the mean spend per transaction across customers (needs q > 1)."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else float("inf")

    def conditional_expected_value(self, frequency: object, monetary_value: object) -> np.ndarray:
        """E(M | x, m): a weighted mean of the population mean and the customer's own mean,
        the weight on her own mean growing with her repeat purchases; population mean at x=0."""
        x = np.asarray(frequency, dtype=float)
        m = np.asarray(monetary_value, dtype=float)
        p, q, v = self.p, self.q, self.v
        if q <= 1:
            raise ModelError(f"q = {q:.3f} <= 1: the fitted spend distribution has no mean")
        own = np.where(x > 0, m, 0.0)
        return np.asarray((p * (v + own * x)) / (p * x + q - 1), dtype=float)


class Spends:
    """Repeat customers' (x, m), with every term that does not involve the parameters inside a
    logarithm summed once per distinct x: only log(v + m x) is evaluated per customer."""

    def __init__(self, x: np.ndarray, m: np.ndarray) -> None:
        self.x, self.m = x, m
        self.k, at = np.unique(x, return_inverse=True)
        self.count = np.bincount(at).astype(float)
        self.log_m = np.bincount(at, weights=np.log(m))  # sum of log m per distinct x


def log_likelihood(params: np.ndarray, data: Spends) -> tuple[float, np.ndarray]:
    """Total log-likelihood of the mean repeat values and its gradient in (p, q, v):
    sum of ln G(px+q) - ln G(px) - ln G(q) + q ln v + (px-1) ln m + px ln x - (px+q) ln(v+mx)."""
    p, q, v = params
    lg, psi = special.gammaln, special.digamma
    k, n = data.k, data.count
    pk = p * k
    spread = v + data.m * data.x
    log_spread = np.log(spread)
    ll = (
        np.dot(n, lg(pk + q) - lg(pk) - lg(q) + q * np.log(v) + pk * np.log(k))
        + np.dot(pk - 1, data.log_m)
        - p * np.dot(data.x, log_spread)
        - q * log_spread.sum()
    )
    inverse = 1 / spread
    d_p = (
        np.dot(n * k, psi(pk + q) - psi(pk) + np.log(k))
        + np.dot(k, data.log_m)
        - np.dot(data.x, log_spread)
    )
    d_q = np.dot(n, psi(pk + q) - psi(q) + np.log(v)) - log_spread.sum()
    d_v = n.sum() * q / v - p * np.dot(data.x, inverse) - q * inverse.sum()
    return float(ll), np.array([d_p, d_q, d_v])
