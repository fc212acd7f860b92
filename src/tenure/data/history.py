"""The history of account attributes: after each load of accounts, every attribute whose value
differs from the one in force at the row's `valid_from` (or was never recorded) gets a row, from
that `valid_from` if the load gave one, else from the load time (a first value: from the
account's created_at, since nothing earlier is known). A snapshot older than a recorded change
(loaded out of order) adds its values to the history and leaves the accounts row with the latest
recorded value."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from tenure.data.contract import ACCOUNT_HISTORY
from tenure.data.readers import quote

HISTORY = quote(ACCOUNT_HISTORY.name)
FRESH = quote("_tenure_history_new")  # one attribute's new rows, while they are recorded
# When an accounts row's values took effect: its valid_from, else now (the load time).
EFFECTIVE = "coalesce(a.valid_from, now()::TIMESTAMP)"
# For each account, the value of the attribute given as the parameter in force when its row
# took effect: the latest recorded on or before then, else the first one recorded (which stands
# from the beginning of time).
IN_FORCE = (
    f"SELECT h.account_id, h.value FROM {HISTORY} h JOIN accounts a USING (account_id) "
    f"WHERE h.attribute = ? QUALIFY row_number() OVER (PARTITION BY h.account_id ORDER BY "
    f"h.valid_from <= {EFFECTIVE} DESC, "
    f"CASE WHEN h.valid_from <= {EFFECTIVE} THEN h.valid_from END DESC, h.valid_from) = 1"
)
# The latest value recorded for each account, of the attribute given as the parameter.
LATEST = (
    f"SELECT account_id, value, valid_from FROM {HISTORY} WHERE attribute = ? "
    "QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY valid_from DESC) = 1"
)


def record(con: duckdb.DuckDBPyConnection, attributes: Sequence[str]) -> int:
    """Add the changed attribute values of accounts to account_history (the table exists);
    returns the rows added. Runs inside the load's transaction."""
    added = 0
    for name in attributes:
        column = quote(name)
        value = f"CAST(a.{column} AS VARCHAR)"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {FRESH} AS "
            f"SELECT a.account_id, ?::VARCHAR AS attribute, {value} AS value, "
            # a first value stands from the account's creation, a change from the load
            "coalesce(a.valid_from, CASE WHEN h.account_id IS NULL THEN a.created_at "
            "ELSE now()::TIMESTAMP END) AS valid_from "
            f"FROM accounts a LEFT JOIN ({IN_FORCE}) h ON h.account_id = a.account_id "
            f"WHERE h.account_id IS NULL OR h.value IS DISTINCT FROM {value}",
            [name, name],
        )
        # A value given again for the same instant replaces the one recorded for it.
        con.execute(
            f"DELETE FROM {HISTORY} h USING {FRESH} f WHERE h.account_id = f.account_id "
            "AND h.attribute = f.attribute AND h.valid_from = f.valid_from"
        )
        inserted = con.execute(
            f"INSERT INTO {HISTORY} SELECT account_id, attribute, value, valid_from FROM {FRESH}"
        ).fetchall()
        added += int(inserted[0][0])  # DuckDB answers an INSERT with its row count
        # An accounts row older than a recorded change keeps the latest value (cast back to the
        # column's type by the assignment).
        con.execute(
            f"UPDATE accounts a SET {column} = l.value FROM ({LATEST}) l "
            f"WHERE l.account_id = a.account_id AND l.valid_from > {EFFECTIVE} "
            f"AND l.value IS DISTINCT FROM {value}",
            [name],
        )
    con.execute(f"DROP TABLE IF EXISTS {FRESH}")
    return added
