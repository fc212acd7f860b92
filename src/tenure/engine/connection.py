"""One connection factory: a URL in, an Ibis backend out."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tenure.errors import TenureError

DEFAULT_URL = "duckdb:///tenure.duckdb"
URL_ENV = "TENURE_DB"


def default_url() -> str:
    return os.environ.get(URL_ENV, DEFAULT_URL)


def duckdb_path(url: str) -> str | None:
    """`duckdb:///rel.duckdb` -> 'rel.duckdb', `duckdb:////abs.duckdb` -> '/abs.duckdb',
    `duckdb://` or `duckdb:///:memory:` -> ':memory:'; None for other schemes."""
    if not url.startswith("duckdb://"):
        return None
    rest = url[len("duckdb://") :]
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise TenureError(
            f"malformed URL {url!r}; write duckdb:///relative/path or duckdb:////abs/path"
        )
    return rest[1:]


def open_backend(url: str, *, read_only: bool = False) -> Any:
    """Open the Ibis backend for `url`. DuckDB runs in UTC so naive timestamps mean UTC."""
    import ibis

    if url.startswith("pyspark://"):
        return open_spark(url)
    path = duckdb_path(url)
    if path is None:
        try:
            return ibis.connect(url)
        except Exception as exc:  # ibis raises many kinds; the user needs one line
            raise TenureError(f"cannot connect to {url!r}: {exc}") from None
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        backend = ibis.duckdb.connect(path, read_only=read_only)
    except Exception as exc:
        raise TenureError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
    backend.raw_sql("SET TimeZone = 'UTC'")
    return backend


def spark_session(master: str | None = None) -> Any:
    """A Spark session in UTC (master from $SPARK_MASTER, default local[*])."""
    from pyspark.sql import SparkSession

    # Python workers (for any UDF) must run this interpreter, which has the dependencies.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master or os.environ.get("SPARK_MASTER", "local[*]"))
        .appName("tenure")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", os.environ.get("SPARK_PARTITIONS", "8"))
        .getOrCreate()
    )


def open_spark(url: str) -> Any:
    """`pyspark:///folder`: every `<table>.parquet` (file or folder) in `folder` becomes a table
    of a Spark session; metrics then run on Spark through Ibis."""
    import ibis

    folder = Path(url[len("pyspark://") :])
    if not folder.is_dir():
        raise TenureError(
            f"{url!r}: {folder} is not a folder; write pyspark:///path/to/parquet-folder "
            "(export it with `tenure export`)"
        )
    try:
        session = spark_session()
    except Exception as exc:
        raise TenureError(f"cannot start Spark (is Java 17 installed?): {exc}") from None
    for path in sorted(folder.glob("*.parquet")):
        session.read.parquet(str(path)).createOrReplaceTempView(path.stem)
    return ibis.pyspark.connect(session)
