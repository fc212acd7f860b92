"""Kaplan-Meier survival estimate from grouped lifetimes (the engine does the grouping).

Input rows are (duration, observed, count): `count` lifetimes of length `duration` that ended
(observed=True) or were still running when the data ends (censored). At each distinct duration t:
S(t) = prod over t_i <= t of (1 - d_i / n_i), with n_i the lifetimes still at risk just before t_i.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def kaplan_meier(durations: np.ndarray, observed: np.ndarray, counts: np.ndarray) -> pd.DataFrame:
    """One row per distinct duration: at_risk, events, censored, survival."""
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    counts = np.asarray(counts, dtype=np.int64)
    times, index = np.unique(durations, return_inverse=True)
    events = np.bincount(index, weights=counts * observed, minlength=len(times)).astype(np.int64)
    total = np.bincount(index, weights=counts, minlength=len(times)).astype(np.int64)
    at_risk = total[::-1].cumsum()[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        factors = np.where(at_risk > 0, 1 - events / at_risk, 1.0)
    return pd.DataFrame(
        {
            "duration": times,
            "at_risk": at_risk,
            "events": events,
            "censored": total - events,
            "survival": np.cumprod(factors),
        }
    )


def median_survival(curve: pd.DataFrame) -> float | None:
    """The first duration at which survival falls to 0.5 or below; None if it never does."""
    below = curve.loc[curve["survival"] <= 0.5, "duration"]
    return float(below.iloc[0]) if len(below) else None
