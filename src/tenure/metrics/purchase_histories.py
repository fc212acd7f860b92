"""Per-customer purchase histories (frequency, recency, age, mean repeat spend) for the
buy-till-you-die models, summarised by the engine from the orders table.

A transaction is a purchase day: several orders of one account on one day count once, with
their values added (as in the CDNOW studies, where the unit of analysis is the purchase occasion).
Refunds are not purchases. Amounts are converted to the reporting currency on the order day.

Time follows the convention of lifetimes' `summary_data_from_transaction_data`, the R BTYD
package and PyMC-Marketing: ages are whole days between purchase days (local dates), T runs from
the first purchase day to the calibration day (purchases on that day included), so the published
CDNOW estimates are reproduced from the raw transactions.
"""

from __future__ import annotations

import datetime as dt

import ibis
import numpy as np
import pandas as pd

from tenure.errors import QueryError
from tenure.metrics.query import Query, flag
from tenure.metrics.sources import orders_in_reporting_currency
from tenure.metrics.tables import Tables

UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12}


def unit_days(unit: str) -> float:
    if unit not in UNIT_DAYS:
        raise QueryError(f"unknown time unit {unit!r}; choose from: {', '.join(UNIT_DAYS)}")
    return UNIT_DAYS[unit]


def purchase_histories(
    tables: Tables,
    calibration_end: dt.date,
    unit: str = "week",
    *,
    holdout_end: dt.date | None = None,
    where: str | None = None,
) -> pd.DataFrame:
    """One row per account that bought on or before `calibration_end`: frequency (repeat
    purchase days), recency and T (first purchase day to last purchase day / to the calibration
    day, in `unit`s: a first purchase on `calibration_end` gives T = 0), monetary_value (mean value of the repeat purchase days, 0
    without repeats), and holdout_purchases (purchase days after calibration_end up to
    `holdout_end`, 0 without a holdout)."""
    days_per_unit = unit_days(unit)
    query = Query(tables, "day", calibration_end, calibration_end, where=where)
    orders = orders_in_reporting_currency(query)
    purchases = orders.filter(orders.is_purchase)
    daily = purchases.group_by("account_id", "day").aggregate(
        value=purchases.value.sum(), fx_missing=flag(purchases.rate.isnull()).sum()
    )
    calibration = daily.filter(daily.day <= calibration_end)
    summary = calibration.group_by("account_id").aggregate(
        first_day=calibration.day.min(),
        last_day=calibration.day.max(),
        days=calibration.day.count(),
        total=calibration.value.sum(),
        first_value=calibration.value.argmin(calibration.day),
        fx_missing=calibration.fx_missing.sum(),
    )
    if holdout_end is not None:
        later = daily.filter(daily.day > calibration_end, daily.day <= holdout_end)
        counts = later.group_by(holdout_account="account_id").aggregate(
            holdout_purchases=ibis._.count()
        )
        summary = summary.left_join(counts, summary.account_id == counts.holdout_account)
        summary = summary.drop("holdout_account")
    frame = summary.order_by("account_id").to_pandas()
    if int(frame["fx_missing"].sum()):
        raise QueryError(
            f"{int(frame['fx_missing'].sum())} purchase days have no exchange rate into "
            f"{tables.reporting_currency}; load fx_rates covering the order dates"
        )
    first = pd.to_datetime(frame["first_day"])
    last = pd.to_datetime(frame["last_day"])
    end = pd.Timestamp(calibration_end)
    repeats = frame["days"].to_numpy(dtype=np.int64) - 1
    repeat_value = frame["total"].astype(float) - frame["first_value"].astype(float)
    result = pd.DataFrame(
        {
            "account_id": frame["account_id"],
            "frequency": repeats,
            "recency": (last - first).dt.total_seconds().to_numpy() / 86400 / days_per_unit,
            "T": (end - first).dt.total_seconds().to_numpy() / 86400 / days_per_unit,
            "monetary_value": np.where(repeats > 0, repeat_value / np.maximum(repeats, 1), 0.0),
            "holdout_purchases": (
                frame["holdout_purchases"].fillna(0).astype(np.int64)
                if "holdout_purchases" in frame
                else 0
            ),
        }
    )
    result.attrs = {"unit": unit, "calibration_end": calibration_end, "holdout_end": holdout_end}
    return result
