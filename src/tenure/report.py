"""The workspace summary printed by `tenure report` and `make demo`.

Metrics join this report as the metric catalog grows; until then it shows what data each table
holds and over which dates, computed by the engine (one aggregate per table).
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis

from tenure.data.contract import CONTRACTS, Kind
from tenure.workspace import Workspace


@dataclass(frozen=True)
class TableSummary:
    table: str
    rows: int
    first: str | None
    last: str | None


def _time_column(table: str) -> str | None:
    for col in CONTRACTS[table].columns:
        if col.kind in (Kind.TIMESTAMP, Kind.DATE):
            return col.name
    return None


def data_summary(ws: Workspace) -> list[TableSummary]:
    result = []
    for name in CONTRACTS:
        if not ws.has_table(name):
            result.append(TableSummary(name, 0, None, None))
            continue
        table = ws.table(name)
        column = _time_column(name)
        if column is None:  # pragma: no cover - every table has a time column today
            result.append(TableSummary(name, int(table.count().execute()), None, None))
            continue
        stats = table.aggregate(
            rows=ibis._.count(), first=table[column].min(), last=table[column].max()
        ).to_pandas()
        row = stats.iloc[0]
        result.append(
            TableSummary(
                name,
                int(row["rows"]),
                None if row["rows"] == 0 else str(row["first"])[:10],
                None if row["rows"] == 0 else str(row["last"])[:10],
            )
        )
    return result
