"""Fitted models kept in the workspace's embedded store, one row per model name."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from tenure.data.loader import table_columns
from tenure.errors import ModelError

MODELS_TABLE = "tenure_models"


def save(con: Any, name: str, blob: bytes, report: dict[str, Any]) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS tenure_models "
        "(name VARCHAR PRIMARY KEY, trained_at TIMESTAMP, report VARCHAR, model BLOB)"
    )
    con.execute(
        "INSERT OR REPLACE INTO tenure_models VALUES (?, ?, ?, ?)",
        [name, dt.datetime.now(dt.UTC).replace(tzinfo=None), json.dumps(report), blob],
    )


def load(con: Any, name: str) -> tuple[bytes, dict[str, Any]]:
    if table_columns(con, MODELS_TABLE) == {}:
        raise ModelError(f"no {name} model yet: run `tenure {name} train` first")
    row = con.execute("SELECT model, report FROM tenure_models WHERE name = ?", [name]).fetchone()
    if row is None:
        raise ModelError(f"no {name} model yet: run `tenure {name} train` first")
    return bytes(row[0]), json.loads(row[1])
