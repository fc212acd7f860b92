"""The workspace summary printed by `tenure report` and `make demo`.

It shows what data each table holds and over which dates, then the headline KPIs of the last
three complete months from the metric catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd

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


KPIS = (
    "mrr",
    "arr",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churned",
    "nrr",
    "grr",
    "customers",
    "customer_churn_rate",
    "customer_retention_rate",
    "arpa",
    "clv_subscription",
    "cac",
    "ltv_cac",
)


def kpi_summary(ws: Workspace, periods: int = 3) -> pd.DataFrame:
    """The headline KPIs of the last `periods` complete months (metric x month, values only)."""
    import datetime as dt

    from tenure.engine.calendar import floor_date, shift

    this_month = floor_date(dt.date.today(), "month")
    last = shift(this_month, "month", -1)
    result = ws.metrics(list(KPIS), start=shift(last, "month", 1 - periods), end=last)
    table: pd.DataFrame = result.pivot(index="metric", columns="period_start", values="value")
    return table.reindex(list(KPIS))
