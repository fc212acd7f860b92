"""Contractual renewals by cohort: the sBG model fitted to the logo cohort table, per segment,
with projected retention and discounted expected residual lifetime."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from tenure.errors import ModelError
from tenure.models.sbg import SBG


def survivor_curves(cohorts: pd.DataFrame) -> list[np.ndarray]:
    """Per cohort: its size, then the accounts still paying at each later period end. An account
    that left and came back is counted as lost (the curve never rises), as renewals require."""
    curves = []
    for _, rows in cohorts.sort_values("offset").groupby("cohort", sort=True):
        size = float(rows["cohort_size"].iloc[0])
        if size <= 0:
            continue
        active = rows.loc[rows["offset"] > 0, "active"].to_numpy(dtype=float)
        curves.append(np.minimum.accumulate(np.concatenate([[size], np.minimum(active, size)])))
    return [c for c in curves if len(c) >= 2]


def fit_renewals(
    cohorts: pd.DataFrame,
    by: Sequence[str] = (),
    *,
    horizon: int = 12,
    discount: float = 0.01,
) -> pd.DataFrame:
    """One row per segment: alpha, beta, log_likelihood, cohorts, accounts, the projected
    retention rate of the next `horizon` periods (first and last), the share of a new cohort
    expected to remain after `horizon` periods, and DERL of a customer who has just joined."""
    groups = cohorts.groupby(list(by), dropna=False) if by else [((), cohorts)]
    rows = []
    for key, part in groups:
        curves = survivor_curves(part)
        label = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True))
        if not curves:
            raise ModelError(
                f"no cohort {label or ''} is older than one period: nothing to fit".replace(
                    "  ", " "
                )
            )
        model = SBG.fit(curves)
        retention = model.retention(horizon)
        rows.append(
            {
                **label,
                "alpha": model.alpha,
                "beta": model.beta,
                "log_likelihood": model.log_likelihood,
                "cohorts": len(curves),
                "accounts": int(sum(c[0] for c in curves)),
                "retention_next": float(retention[0]),
                f"retention_at_{horizon}": float(retention[-1]),
                f"surviving_after_{horizon}": float(model.survival(horizon)[-1]),
                "derl": model.discounted_expected_residual_lifetime(discount),
            }
        )
    return pd.DataFrame(rows)
