"""The staged records of each source and the cursor each stream resumes from, in the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from tenure.sources.base import Record


def ensure(con: Any) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS _source_records (source VARCHAR, stream VARCHAR, id VARCHAR, "
        "payload JSON, staged_at TIMESTAMP DEFAULT current_timestamp, "
        "PRIMARY KEY (source, stream, id))"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS _source_cursors (source VARCHAR, stream VARCHAR, cursor VARCHAR, "
        "updated_at TIMESTAMP DEFAULT current_timestamp, PRIMARY KEY (source, stream))"
    )


def stage(
    con: Any, source: str, stream: str, rows: Sequence[tuple[str, Record]], cursor: str | None
) -> None:
    """Upsert a page's records (the last of a repeated id wins) and move the stream's cursor,
    in one transaction. The page goes in as one Arrow table, not row by row."""
    latest = {key: record for key, record in rows}
    page = pa.table(
        {
            "source": pa.array([source] * len(latest), pa.string()),
            "stream": pa.array([stream] * len(latest), pa.string()),
            "id": pa.array(list(latest), pa.string()),
            "payload": pa.array([json.dumps(r, default=str) for r in latest.values()], pa.string()),
        }
    )
    con.execute("BEGIN TRANSACTION")
    try:
        if latest:
            con.register("_tenure_staged_page", page)
            try:
                con.execute(
                    "INSERT OR REPLACE INTO _source_records (source, stream, id, payload) "
                    "SELECT source, stream, id, payload::JSON FROM _tenure_staged_page"
                )
            finally:
                con.unregister("_tenure_staged_page")
        if cursor is not None:
            con.execute(
                "INSERT OR REPLACE INTO _source_cursors (source, stream, cursor) VALUES (?, ?, ?)",
                [source, stream, cursor],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def cursor(con: Any, source: str, stream: str) -> str | None:
    found = con.execute(
        "SELECT cursor FROM _source_cursors WHERE source = ? AND stream = ?", [source, stream]
    ).fetchone()
    return None if found is None else str(found[0])


def records(con: Any, source: str, streams: Sequence[str]) -> dict[str, list[Record]]:
    """Every staged record of `source`, by stream, in a stable order."""
    staged: dict[str, list[Record]] = {stream: [] for stream in streams}
    for stream, payload in con.execute(
        "SELECT stream, payload FROM _source_records WHERE source = ? ORDER BY stream, id", [source]
    ).fetchall():
        staged.setdefault(stream, []).append(json.loads(payload))
    return staged


def counts(con: Any, source: str) -> dict[str, int]:
    return dict(
        con.execute(
            "SELECT stream, count(*) FROM _source_records WHERE source = ? GROUP BY stream ORDER BY 1",
            [source],
        ).fetchall()
    )


def forget(con: Any, source: str) -> None:
    """Drop a removed source's staged records and cursors (the loaded tables keep its rows)."""
    con.execute("DELETE FROM _source_records WHERE source = ?", [source])
    con.execute("DELETE FROM _source_cursors WHERE source = ?", [source])
