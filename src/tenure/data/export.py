"""The Parquet export: every table as `<folder>/<table>.parquet`, for Spark (`pyspark:///folder`).

With `partition_by="month"`, each fact table is written Hive-partitioned by the month of its
main timestamp (`events.parquet/month=2026-01/data_0.parquet`), so an engine reading the folder
can skip the months a query filters out; the other tables stay single files. Paths never enter
SQL text: the embedded store writes through DuckDB's relation API, other engines through pyarrow.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tenure.errors import TenureError

# Each fact table's main timestamp: what a partition of it holds.
PARTITION_TIMES = {
    "orders": "ordered_at",
    "events": "occurred_at",
    "survey_responses": "responded_at",
    "tickets": "opened_at",
}
PARTITIONINGS = ("month",)
MONTH = "month"


def check_partitioning(partition_by: str | None) -> None:
    if partition_by is not None and partition_by not in PARTITIONINGS:
        raise TenureError(
            f"cannot partition by {partition_by!r}; choose one of: {', '.join(PARTITIONINGS)}"
        )


def write_table(ws: Any, name: str, path: Path, partition_by: str | None) -> None:
    """Write table `name` of workspace `ws` to `path`: a file, or with `partition_by` and a
    fact table, a folder of Hive partitions. What was at `path` before is replaced."""
    time_column = PARTITION_TIMES.get(name) if partition_by else None
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    if ws.is_embedded:
        _write_duckdb(ws.duckdb.table(name), path, time_column)
    else:
        _write_arrow(ws.backend.table(name).to_pyarrow(), path, time_column)


def _write_duckdb(relation: Any, path: Path, time_column: str | None) -> None:
    import duckdb

    if time_column is None:
        relation.write_parquet(str(path))
        return
    month = duckdb.FunctionExpression(
        "strftime", duckdb.ColumnExpression(time_column), duckdb.ConstantExpression("%Y-%m")
    ).alias(MONTH)
    with_month = relation.select(duckdb.StarExpression(), month)
    with_month.write_parquet(str(path), partition_by=[MONTH])


def _write_arrow(table: Any, path: Path, time_column: str | None) -> None:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if time_column is None:
        pq.write_table(table, path)
        return
    months = pc.strftime(table[time_column], format="%Y-%m")
    ds.write_dataset(
        table.append_column(MONTH, months),
        path,
        format="parquet",
        partitioning=[MONTH],
        partitioning_flavor="hive",
    )
