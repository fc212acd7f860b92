"""One connection factory: a URL in, an Ibis backend out."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from tenure.errors import TenureError

DEFAULT_URL = "duckdb:///tenure.duckdb"
URL_ENV = "TENURE_DB"
MEMORY_ENV = "TENURE_MEMORY_LIMIT"
TEMP_ENV = "TENURE_TEMP_DIR"
DEFAULT_MEMORY_SHARE = "50%"
# DuckDB's own units, and a share of the machine's memory (converted here: DuckDB has no `%`).
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB|%)$", re.IGNORECASE)


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


def machine_memory() -> int | None:
    """The machine's physical memory in bytes, or None if it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_limit() -> str | None:
    """DuckDB's memory budget: $TENURE_MEMORY_LIMIT (e.g. 12GB, 512MiB, 25%), default half the
    machine's memory; None leaves DuckDB's default (the machine's memory cannot be read)."""
    raw = os.environ.get(MEMORY_ENV, "").strip() or DEFAULT_MEMORY_SHARE
    match = _SIZE.match(raw)
    if match is None or float(match[1]) <= 0:
        raise TenureError(
            f"{MEMORY_ENV}={raw!r} is not a memory size; write e.g. 12GB, 512MiB or 50%"
        )
    number, unit = float(match[1]), match[2]
    if unit != "%":
        return f"{match[1]}{unit}"
    if number > 100:
        raise TenureError(f"{MEMORY_ENV}={raw!r}: a share of the memory is at most 100%")
    total = machine_memory()
    return None if total is None else f"{max(1, int(total * number / 100) // 2**20)}MiB"


def temp_directory(path: str) -> str | None:
    """Where DuckDB spills what does not fit in its budget: $TENURE_TEMP_DIR, default
    `<store>.tmp` beside the store file; None (DuckDB's default) for in-memory stores."""
    configured = os.environ.get(TEMP_ENV, "").strip()
    if configured:
        return configured
    return None if path == ":memory:" else f"{path}.tmp"


def apply_budget(connection: Any, path: str) -> None:
    """Set the memory budget and the spill folder on a DuckDB connection (values bound as
    parameters, never spliced into the SQL)."""
    limit = memory_limit()
    if limit is not None:
        connection.execute("SET memory_limit = ?", [limit])
    spill = temp_directory(path)
    if spill is not None:
        connection.execute("SET temp_directory = ?", [spill])


def open_backend(url: str, *, read_only: bool = False) -> Any:
    """Open the Ibis backend for `url`. DuckDB runs in UTC so naive timestamps mean UTC, within
    its memory budget (spilling to its temp folder beyond it; see `memory_limit`)."""
    import ibis

    if url.startswith("pyspark://"):
        return open_spark(url)
    path = duckdb_path(url)
    if path is None:
        try:
            return ibis.connect(url)
        except Exception as exc:  # ibis raises many kinds; the user needs one line
            raise TenureError(f"cannot connect to {url!r}: {exc}") from None
    memory_limit()  # a bad budget fails before the store is opened
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        backend = ibis.duckdb.connect(path, read_only=read_only)
    except Exception as exc:
        raise TenureError(f"cannot open {path}: {str(exc).splitlines()[0]}") from None
    backend.raw_sql("SET TimeZone = 'UTC'")
    try:
        apply_budget(backend.con, path)
    except Exception as exc:  # e.g. a temp folder that cannot be used
        backend.disconnect()
        raise TenureError(f"cannot set the memory budget of {path}: {exc}") from None
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
        # Local mode runs in the driver; Spark's 1 GB default is too small for a week-grain plan.
        .config("spark.driver.memory", os.environ.get("SPARK_DRIVER_MEMORY", "4g"))
        .config("spark.sql.shuffle.partitions", os.environ.get("SPARK_PARTITIONS", "8"))
        # In-memory tables (the calendar) go to the JVM as Arrow. Without it PySpark pickles
        # their rows, and every stage reading one starts Python workers to unpickle them: a
        # third of the time of a plan that joins the calendar a hundred times.
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # A Hive partition `month=2026-01` stays the text it is (not a guessed type).
        .config("spark.sql.sources.partitionColumnTypeInference.enabled", "false")
        .getOrCreate()
    )


def open_spark(url: str) -> Any:
    """`pyspark:///folder`: every `<table>.parquet` (file or folder) in `folder` becomes a table
    of a Spark session; metrics then run on Spark through Ibis. A folder of Hive partitions
    (`tenure export --partition-by month`) adds its partition column (`month`, text) to the
    table; filters on it read only the matching partitions."""
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
