"""Shared pieces of the demo generator: time arithmetic, Arrow conversion, the latent-health link."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa

DAY = np.timedelta64(86_400, "s")


def to_seconds(day: dt.date) -> np.datetime64:
    return np.datetime64(day, "s")


def add_months(times: np.ndarray, months: np.ndarray) -> np.ndarray:
    """Calendar month arithmetic on datetime64[s]; the day is clipped to the target month's length."""
    days = times.astype("datetime64[D]")
    month = days.astype("datetime64[M]")
    day_of_month = (days - month).astype(np.int64)
    target = month + months.astype("timedelta64[M]")
    length = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    new_day = target.astype("datetime64[D]") + np.minimum(day_of_month, length - 1)
    result: np.ndarray = new_day.astype("datetime64[s]") + (times - days.astype("datetime64[s]"))
    return result


def sigmoid(x: np.ndarray | float) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))
    return result


def timestamps(values: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """datetime64[s] -> Arrow timestamp[us] (DuckDB's TIMESTAMP), NULL where not `valid`."""
    mask = None if valid is None else ~valid
    return pa.array(values.astype("datetime64[us]"), pa.timestamp("us"), mask=mask)


def money(minor_units: np.ndarray, decimals: np.ndarray | int) -> pa.Array:
    """Exact decimals from integer minor units (cents, or yen with 0 decimals)."""
    scale = np.broadcast_to(np.asarray(decimals), minor_units.shape)
    values = [Decimal(int(v)).scaleb(-int(s)) for v, s in zip(minor_units, scale, strict=True)]
    return pa.array(values, pa.decimal128(18, 4))


def ids(prefix: str, numbers: np.ndarray, width: int) -> list[str]:
    return [f"{prefix}{n:0{width}d}" for n in numbers]
