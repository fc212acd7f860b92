"""Pareto/NBD model of repeat buying (Schmittlein, Morrison and Colombo 1987), in the form of
Fader and Hardie's "A Note on Deriving the Pareto/NBD Model and Related Expressions" (2005).

While alive a customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); her lifetime
is exponential with rate mu ~ Gamma(s, beta), so she may drop out at any time (BG/NBD drops out
only after purchases). The likelihood holds a Gauss hypergeometric function, so the gradient is
taken by central differences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from tenure.models.fitting import maximise
from tenure.models.rfm import Histories, histories

NAMES = ("r", "alpha", "s", "beta")


@dataclass(frozen=True)
class ParetoNBD:
    r: float
    alpha: float
    s: float
    beta: float
    log_likelihood: float = float("nan")
    customers: float = 0.0

    @classmethod
    def fit(cls, frequency: object, recency: object, T: object) -> ParetoNBD:
        data = histories(frequency, recency, T)
        mean_T = float(np.average(data.T, weights=data.weight))
        start = (1.0, mean_T / 2, 1.0, mean_T)
        fit = maximise(
            "Pareto/NBD", NAMES, lambda p: _with_gradient(p, data), start, data.customers
        )
        return cls(**fit.params, log_likelihood=fit.log_likelihood, customers=data.customers)

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    def p_alive(self, x: object, t_x: object, T: object) -> np.ndarray:
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        params = np.array([self.r, self.alpha, self.s, self.beta])
        alive, total = _parts(params, x, t_x, T)
        return np.asarray(np.exp(alive - total), dtype=float)

    def conditional_expected_purchases(
        self, t: object, x: object, t_x: object, T: object
    ) -> np.ndarray:
        """E[Y(t) | x, t_x, T] (needs s > 1)."""
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        t = np.asarray(t, dtype=float)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        rate = (r + x) * (beta + T) / ((alpha + T) * (s - 1))
        remaining = 1 - ((beta + T) / (beta + T + t)) ** (s - 1)
        return np.asarray(self.p_alive(x, t_x, T) * rate * remaining, dtype=float)


def _parts(
    params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per customer: log of the "alive at T" term of the likelihood, and the log-likelihood."""
    r, alpha, s, beta = params
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
    alive = common - (r + x) * np.log(alpha + T) - s * np.log(beta + T)
    total_rate = r + s + x
    if alpha >= beta:
        big, second = alpha, s + 1
        z_x, z_T = (alpha - beta) / (alpha + t_x), (alpha - beta) / (alpha + T)
    else:
        big, second = beta, r + x
        z_x, z_T = (beta - alpha) / (beta + t_x), (beta - alpha) / (beta + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        at_x = np.log(
            special.hyp2f1(total_rate, second, total_rate + 1, z_x)
        ) - total_rate * np.log(big + t_x)
        at_T = np.log(
            special.hyp2f1(total_rate, second, total_rate + 1, z_T)
        ) - total_rate * np.log(big + T)
        # A0 = exp(at_x) - exp(at_T) > 0 because t_x <= T
        log_a0 = at_x + np.log1p(-np.exp(at_T - at_x))
        dead = common + np.log(s) - np.log(total_rate) + log_a0
    total = np.logaddexp(alive, np.where(np.isfinite(dead), dead, -np.inf))
    return alive, total


def _log_likelihood(params: np.ndarray, data: Histories) -> float:
    _, total = _parts(params, data.x, data.t_x, data.T)
    return float(np.sum(data.weight * total))


def _with_gradient(params: np.ndarray, data: Histories) -> tuple[float, np.ndarray]:
    value = _log_likelihood(params, data)
    gradient = np.empty(len(params))
    for i in range(len(params)):
        step = np.zeros(len(params))
        step[i] = params[i] * 1e-6
        gradient[i] = (
            _log_likelihood(params + step, data) - _log_likelihood(params - step, data)
        ) / (2 * step[i])
    return value, gradient
