"""Maximum likelihood for models with positive parameters.

Each model supplies its log-likelihood and gradient as functions of the natural parameters; we
minimise the negative mean log-likelihood over log(parameters) with L-BFGS-B, so the parameters
stay positive without bounds and the problem is well scaled whatever the sample size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from tenure.errors import ModelError

# (params) -> (total log-likelihood, gradient with respect to params)
Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


@dataclass(frozen=True)
class Fit:
    params: dict[str, float]
    log_likelihood: float
    iterations: int
    gradient_norm: float  # of the mean log-likelihood in log-parameters, at the optimum


def maximise(
    model: str,
    names: Sequence[str],
    objective: Objective,
    start: Sequence[float],
    weight: float,
    *,
    tolerance: float = 1e-7,
) -> Fit:
    """Fit by maximum likelihood from `start`; `weight` (the number of customers or cohorts)
    scales the objective to a mean. Raises ModelError when the optimiser does not converge."""
    scale = 1.0 / weight

    def negative(log_params: np.ndarray) -> tuple[float, np.ndarray]:
        params = np.exp(log_params)
        value, gradient = objective(params)
        if not np.isfinite(value):
            return np.inf, np.zeros_like(log_params)
        return -value * scale, -gradient * params * scale

    result = optimize.minimize(
        negative,
        np.log(np.asarray(start, dtype=float)),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 2000, "gtol": tolerance, "ftol": 1e-15},
    )
    params = np.exp(result.x)
    value, gradient = objective(params)
    gradient_norm = float(np.max(np.abs(gradient * params))) * scale
    # A likelihood flat towards a boundary (e.g. spend with no spread across customers, where q
    # grows without limit) stops on the relative change of the objective: that counts as done.
    converged = result.success or gradient_norm <= 1e-4
    if not (converged and np.isfinite(value) and np.all(np.isfinite(params))):
        raise ModelError(
            f"{model} did not converge ({result.message}); the data may not fit the model: "
            f"check that customers repeat purchases and that the calibration period is long "
            f"enough"
        )
    return Fit(
        {n: float(p) for n, p in zip(names, params, strict=True)},
        float(value),
        int(result.nit),
        gradient_norm,
    )
