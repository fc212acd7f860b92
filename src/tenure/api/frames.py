"""Engine results as JSON-ready rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: NaN as null, dates as ISO text, decimals as exact strings."""
    clean = frame.astype(object).where(frame.notna(), None)
    return [
        {
            str(k): (v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else v)
            for k, v in row.items()
        }
        for row in clean.to_dict("records")
    ]
