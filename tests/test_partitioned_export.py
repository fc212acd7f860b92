"""`tenure export --partition-by month`: the fact tables as month partitions that Spark reads
with partition pruning, the other tables as single files, and the same metrics on Spark as on
DuckDB."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

import tenure
from tenure.data.export import PARTITION_TIMES
from tenure.demo import DemoResult
from tenure.errors import TenureError
from tenure.workspace import Workspace

needs_spark = pytest.mark.skipif(
    shutil.which("java") is None, reason="Spark needs Java; `make test` installs it"
)
FIRST, LAST = dt.date(2025, 1, 1), dt.date(2026, 10, 1)
SAMPLE = ["mrr", "dau", "nps", "fcr"]


@pytest.fixture(scope="module")
def exported(
    demo_ws: tuple[Workspace, DemoResult], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    duck, _ = demo_ws
    folder = tmp_path_factory.mktemp("partitioned")
    duck.export(folder, partition_by="month")
    return folder


def test_fact_tables_are_month_partitions_and_the_rest_single_files(
    demo_ws: tuple[Workspace, DemoResult], exported: Path
) -> None:
    duck, _ = demo_ws
    for table, column in PARTITION_TIMES.items():
        path = exported / f"{table}.parquet"
        assert path.is_dir(), table
        months = sorted(p.name for p in path.iterdir())
        expected = duck.duckdb.sql(
            f"SELECT DISTINCT strftime({column}, '%Y-%m') AS m FROM {table} ORDER BY m"
        ).fetchall()  # constant names from the test, not user input
        assert months == [f"month={m}" for (m,) in expected]
    assert (exported / "accounts.parquet").is_file()
    assert (exported / "subscriptions.parquet").is_file()


def test_exporting_again_replaces_the_folder(
    demo_ws: tuple[Workspace, DemoResult], tmp_path: Path
) -> None:
    duck, _ = demo_ws
    duck.export(tmp_path)  # single files first, then partitions in their place, then back
    duck.export(tmp_path, partition_by="month")
    assert (tmp_path / "events.parquet").is_dir()
    duck.export(tmp_path)
    assert (tmp_path / "events.parquet").is_file()
    rows = duck.duckdb.sql("SELECT count(*) FROM events").fetchone()
    assert pd.read_parquet(tmp_path / "events.parquet").shape[0] == (rows or (0,))[0]


def test_an_unknown_partitioning_is_one_line(
    demo_ws: tuple[Workspace, DemoResult], tmp_path: Path
) -> None:
    duck, _ = demo_ws
    with pytest.raises(TenureError, match="cannot partition by 'week'"):
        duck.export(tmp_path, partition_by="week")


@needs_spark
def test_spark_reads_the_partitions_with_the_same_metrics(
    demo_ws: tuple[Workspace, DemoResult], exported: Path
) -> None:
    duck, _ = demo_ws
    spark = tenure.connect(f"pyspark://{exported.resolve()}")
    options = {"start": FIRST, "end": LAST}
    left = duck.metrics(SAMPLE, **options).sort_values(["metric", "period_start"])  # type: ignore[arg-type]
    right = spark.metrics(SAMPLE, **options).sort_values(["metric", "period_start"])  # type: ignore[arg-type]
    assert list(left.columns) == list(right.columns)
    assert set(left["metric"]) == set(SAMPLE)
    assert len(left) == len(right) > 0
    for a, b in zip(left["value"], right["value"], strict=True):
        if a is None or a != a:
            assert b is None or b != b
        else:
            assert float(a) == pytest.approx(float(b), rel=1e-9, abs=1e-6)


@needs_spark
def test_a_query_on_the_last_month_reads_only_its_partition(exported: Path) -> None:
    from tenure.engine.connection import spark_session

    events = spark_session().read.parquet(str(exported / "events.parquet"))
    last = max(p.name for p in (exported / "events.parquet").iterdir()).split("=")[1]
    recent = events.where(events["month"] == last)
    expected = len(list((exported / "events.parquet" / f"month={last}").glob("*.parquet")))
    assert len(recent.collect()) > 0  # runs this plan, whose scan counts the files it read
    plan = recent._jdf.queryExecution().executedPlan()
    assert "(month#" in plan.toString() and f"= {last})" in plan.toString()
    scan = plan.collectLeaves().head()
    files_read = scan.metrics().apply("numFiles").value()
    assert files_read == expected
    total = len(list((exported / "events.parquet").glob("month=*/*.parquet")))
    assert total > files_read


def test_a_hostile_folder_name_stays_a_path(
    demo_ws: tuple[Workspace, DemoResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    duck, _ = demo_ws
    monkeypatch.chdir(tmp_path)  # where an injected COPY would write
    name = "x' (FORMAT parquet); COPY (SELECT 1 AS a) TO $$pwned2.csv$$ (FORMAT csv); --\""
    duck.export(tmp_path / name, partition_by="month")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no pwned2.csv beside it
    rows = duck.duckdb.sql("SELECT count(*) FROM events").fetchone()
    assert pd.read_parquet(tmp_path / name / "events.parquet").shape[0] == (rows or (0,))[0]


@needs_spark
def test_the_catalog_reads_only_the_event_months_its_range_needs(exported: Path) -> None:
    from tenure.metrics import engagement
    from tenure.metrics.catalog import metric
    from tenure.metrics.compute import make_query

    spark = tenure.connect(f"pyspark://{exported.resolve()}")
    last = dt.date(2026, 10, 1)
    query = make_query(
        spark,
        [metric("shares")],
        grain="month",
        start=last,
        end=last,
        by=(),
        where=None,
        policy=None,
    )
    events = engagement._events(query)  # the events the engagement catalog reads
    spark.backend._run_pre_execute_hooks(events)
    frame = spark.backend._session.sql(str(spark.backend.compile(events)))
    assert len(frame.collect()) > 0  # runs this plan, whose scan counts the files it read
    plan = frame._jdf.queryExecution().executedPlan()
    scan = plan.collectLeaves().head()
    files_read = scan.metrics().apply("numFiles").value()
    months = sorted(p.name for p in (exported / "events.parquet").iterdir())
    # October and what its periods read (from 30 days before September, 2 August), in UTC a
    # day wider for any timezone: 1 August to 1 November.
    wanted = [m for m in months if "month=2026-08" <= m <= "month=2026-11"]
    expected = sum(len(list((exported / "events.parquet" / m).glob("*.parquet"))) for m in wanted)
    assert files_read == expected
    assert len(months) > len(wanted)
