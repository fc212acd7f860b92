"""Recency-frequency input shared by the buy-till-you-die models, checked and compressed.

Per customer: frequency x (repeat purchases: purchase days after the first), recency t_x (time
from the first to the last purchase) and age T (time from the first purchase to the end of the
calibration period, 0 for a customer first seen that day), all in one time unit. Customers with equal (x, t_x, T) are fitted once with
a weight, which makes fitting a million customers cost what their distinct histories cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tenure.errors import ModelError


@dataclass(frozen=True)
class Histories:
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    weight: np.ndarray  # customers sharing this history
    # Special functions of x need computing once per distinct frequency only.
    distinct_x: np.ndarray
    x_index: np.ndarray  # x == distinct_x[x_index]

    @property
    def customers(self) -> float:
        return float(self.weight.sum())


def histories(frequency: object, recency: object, age: object) -> Histories:
    """Checked and de-duplicated (x, t_x, T); raises ModelError naming what is wrong."""
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    T = np.asarray(age, dtype=float)
    if not (x.shape == t_x.shape == T.shape) or x.ndim != 1:
        raise ModelError("frequency, recency and T must be one-dimensional and of equal length")
    if len(x) == 0:
        raise ModelError("no customers: the calibration period holds no purchases")
    problems = {
        "a value is missing or infinite": ~(np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T)),
        "frequency is negative or not a whole number": (x < 0) | (x != np.round(x)),
        # T = 0 (first purchase on the last calibration day) is a customer seen for no time: its
        # likelihood is 1, so it fits without telling anything; repeats in no time cannot be.
        "T is negative": T < 0,
        "recency is negative or greater than T": (t_x < 0) | (t_x > T),
        "repeat purchases with T = 0": (x > 0) & (T == 0),
        "recency is not 0 for a customer without repeat purchases": (x == 0) & (t_x != 0),
    }
    for reason, bad in problems.items():
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ModelError(f"customer #{first} (of {len(x)}): {reason}")
    if not (x > 0).any():
        raise ModelError("no customer made a repeat purchase: the model cannot be fitted")
    counts = pd.DataFrame({"x": x, "t_x": t_x, "T": T}).value_counts(sort=False)
    x, t_x, T = (counts.index.get_level_values(n).to_numpy(dtype=float) for n in ("x", "t_x", "T"))
    distinct_x, x_index = np.unique(x, return_inverse=True)
    return Histories(x, t_x, T, counts.to_numpy(dtype=float), distinct_x, x_index)
