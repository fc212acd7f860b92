"""BG/NBD: beta-geometric / negative binomial distribution model of repeat buying
(Fader, Hardie and Lee, "Counting Your Customers the Easy Way", Marketing Science 2005).

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each
purchase she drops out with probability p ~ Beta(a, b). Every expression below is the paper's,
written in logs so that long histories do not overflow.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from tenure.models.fitting import Fit, maximise
from tenure.models.rfm import Histories, histories

NAMES = ("r", "alpha", "a", "b")


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float = float("nan")
    customers: float = 0.0

    @classmethod
    def fit(cls, frequency: object, recency: object, T: object) -> BGNBD:
        data = histories(frequency, recency, T)
        start = (1.0, float(np.average(data.T, weights=data.weight)) / 2, 1.0, 1.0)
        fit: Fit = maximise(
            "BG/NBD", NAMES, lambda p: log_likelihood(p, data), start, data.customers
        )
        return cls(**fit.params, log_likelihood=fit.log_likelihood, customers=data.customers)

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    def p_alive(self, x: object, t_x: object, T: object) -> np.ndarray:
        """Probability that a customer with this history is still alive at T."""
        return 1 / (1 + self._odds_dead(*_arrays(x, t_x, T)))

    def expected_purchases(self, t: object) -> np.ndarray:
        """E[X(t)]: purchases of a new customer in her first t units."""
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp)

    def conditional_expected_purchases(
        self, t: object, x: object, t_x: object, T: object
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T]: purchases in the next t units of a customer with this history.
        At a = 1 the closed form is 0/0; its limit is the mean of a = 1 -/+ 1e-5 (error ~1e-10)."""
        if abs(self.a - 1) < 1e-6:
            near = [
                BGNBD(self.r, self.alpha, 1 + step, self.b).conditional_expected_purchases(
                    t, x, t_x, T
                )
                for step in (-1e-5, 1e-5)
            ]
            return np.asarray((near[0] + near[1]) / 2, dtype=float)
        x, t_x, T = _arrays(x, t_x, T)
        t = np.asarray(t, dtype=float)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
        ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
        numerator = (a + b + x - 1) / (a - 1) * (1 - ratio * hyp)
        return np.asarray(numerator / (1 + self._odds_dead(x, t_x, T)), dtype=float)

    def _odds_dead(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(dead) / P(alive) given the history: 0 without repeat purchases."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore"):
            log_odds = (
                np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
        return np.where(x > 0, np.exp(np.where(x > 0, log_odds, 0.0)), 0.0)


def _arrays(*values: object) -> tuple[np.ndarray, ...]:
    return tuple(np.asarray(v, dtype=float) for v in values)


def log_likelihood(params: np.ndarray, data: Histories) -> tuple[float, np.ndarray]:
    """Total log-likelihood and its gradient in (r, alpha, a, b), from equation (6) of the paper."""
    r, alpha, a, b = params
    x, t_x, T, w = data.x, data.t_x, data.T, data.weight
    repeat = x > 0
    lg, psi, k, at = special.gammaln, special.digamma, data.distinct_x, data.x_index
    a1 = (lg(r + k) - lg(r))[at] + r * np.log(alpha)
    a2 = (lg(a + b) + lg(b + k) - lg(b) - lg(a + b + k))[at]
    log_T, log_t_x = np.log(alpha + T), np.log(alpha + t_x)
    a3 = -(r + x) * log_T
    b_x = np.where(repeat, b + x - 1, 1.0)
    a4 = np.where(repeat, np.log(a) - np.log(b_x) - (r + x) * log_t_x, -np.inf)
    top = np.maximum(a3, a4)
    mix = np.log(np.exp(a3 - top) + np.exp(a4 - top)) + top
    total = float(np.sum(w * (a1 + a2 + mix)))
    w3 = np.exp(a3 - mix)  # the share of "alive at T" in the likelihood
    w4 = 1 - w3
    d_r = (psi(r + k) - psi(r))[at] + np.log(alpha) - w3 * log_T - w4 * log_t_x
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + t_x))
    d_a = (psi(a + b) - psi(a + b + k))[at] + w4 / a
    d_b = (psi(a + b) + psi(b + k) - psi(b) - psi(a + b + k))[at] - w4 / b_x
    gradient = np.array([np.dot(w, d) for d in (d_r, d_alpha, d_a, d_b)])
    return total, gradient
