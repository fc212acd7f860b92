from __future__ import annotations

import csv
import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tenure
from tenure import demo
from tenure.app.store import Store
from tenure.workspace import Workspace

# Spark in these tests runs plans of a hundred shuffles over tables of a few thousand rows, where
# each stage's fixed cost is the whole cost. Two shuffle partitions instead of eight, no adaptive
# execution (which runs stages one at a time to re-plan between them, and reuses no exchange here)
# and no code generation (compiling Java for each of some 250 stages, each reading a few rows)
# take the largest parity plan's execution from about 68 s to 27 s (with Arrow for the calendar,
# see `spark_session`). One shuffle partition instead of two and no constraint propagation
# (Catalyst inferring filters from every operator's constraints, which its optimizer pays for
# again and again on these deep plans) take the every-metric plan's planning and execution
# from about 41 s to 21 s. Results are the same up to the order of floating-point additions
# (the parity tests compare to 1e-9); production settings are untouched.
os.environ.setdefault("SPARK_PARTITIONS", "1")
# scikit-learn's OpenMP threads (the churn model's gradient boosting) spin while they wait for
# each other; with the suite on every core and Spark's JVM beside it, they wait for cores the
# other test processes hold, and training the churn model on the demo company took 144 s in
# `make test` against 12 s alone. One thread each: the other processes use the other cores.
# (Set before scikit-learn is first imported, which loads OpenMP and reads it then.)
os.environ.setdefault("OMP_NUM_THREADS", "1")
# The suite runs on every core at once, so a query can take several times its usual time; the
# 30 s production limit on a request's queries is tested in tests/security/test_bounded_queries.py.
os.environ.setdefault("TENURE_QUERY_SECONDS", "300")
os.environ.setdefault(
    "PYSPARK_SUBMIT_ARGS",
    " ".join(
        f"--conf {setting}"
        for setting in (
            "spark.sql.adaptive.enabled=false",
            "spark.sql.codegen.wholeStage=false",
            "spark.sql.codegen.factoryMode=NO_CODEGEN",
            "spark.sql.constraintPropagation.enabled=false",
        )
    )
    + " pyspark-shell",
)


# The longest modules first: `make test` hands modules to its processes in collection order, so
# these start at once instead of running alone at the end.
LONGEST_FIRST = (
    "test_spark_parity.py",
    "test_dashboard.py",
    "test_metric_properties.py",
    "test_five_jobs.py",
    "test_partitioned_export.py",
)


# The modules that run Spark go to one test process (`make test` runs pytest-xdist with
# `--dist loadfile`, a module per process otherwise): they share one JVM, warmed up once (a first
# plan takes twice as long as the same plan again), and one demo store (`demo_ws`).
SPARK_MODULES = (
    "test_spark_parity.py",
    "test_partitioned_export.py",
    "test_segments_in_time.py",
    "test_attributes_in_time.py",
)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadfile":
        return None  # xdist's own scheduler for the mode asked
    from xdist.scheduler import LoadFileScheduling

    class SparkTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = super()._split_scope(nodeid)
            return "spark" if module.rsplit("/", 1)[-1] in SPARK_MODULES else module

    return SparkTogether(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    # A test of what the API reads from the analytical store runs with the SQLite app store
    # only: the PostgreSQL app store is tested where the app store is what is tested (keys,
    # sessions, goals, automations, surveys, views), and a second run of these doubled them.
    def elsewhere(item: pytest.Item) -> bool:
        params = getattr(item, "callspec", None)
        return (
            item.get_closest_marker("app_store_not_under_test") is not None
            and params is not None
            and params.params.get("store") == "postgresql"
        )

    skipped = [item for item in items if elsewhere(item)]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [item for item in items if not elsewhere(item)]
    items.sort(key=rank)  # stable: the order within each module and among the rest stays


class SharedConnection:
    """Stands in for Ibis's process-wide default backend, which runs any expression that names
    no table of its own (only in-memory tables). A server's threads must never query there: one
    DuckDB connection used by two threads at once deadlocks. So every such query fails a test."""

    name = "duckdb"

    def execute(self, *_: object, **__: object) -> None:
        raise AssertionError(
            "a query ran on Ibis's shared default connection; run it on the workspace's backend"
        )

    to_pandas = to_pyarrow = execute


@pytest.fixture(autouse=True)
def no_shared_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    import ibis

    monkeypatch.setattr(ibis.options, "default_backend", SharedConnection())


@pytest.fixture
def ws() -> Iterator[Workspace]:
    with tenure.connect("duckdb://") as workspace:
        yield workspace


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write a text file in the test's folder and return its path."""

    def _write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def read_rejects(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


AS_OF = dt.date(2026, 11, 1)


@pytest.fixture(scope="session")
def demo_ws(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Workspace, demo.DemoResult]]:
    """A small demo company, loaded once for the tests that read it."""
    folder = tmp_path_factory.mktemp("demo")
    with tenure.connect("duckdb://") as workspace:
        result = demo.build(workspace, folder, accounts=400, events=60_000, seed=11, as_of=AS_OF)
        yield workspace, result


APP_DATABASES = ["sqlite"] + (["postgresql"] if os.environ.get("TENURE_TEST_PG") else [])


@pytest.fixture(params=APP_DATABASES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated application store: a SQLite file, and a fresh database on the PostgreSQL server
    of $TENURE_TEST_PG when `make test` could start one."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'app.db'}"
    else:
        from sqlalchemy import create_engine, text

        base = os.environ["TENURE_TEST_PG"]
        name = f"tenure_{os.getpid()}_{uuid.uuid4().hex[:12]}"
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = base.rsplit("/", 1)[0] + f"/{name}"
    app_store = Store(url)
    yield app_store
    app_store.dispose()
    if request.param != "sqlite":  # left behind, thousands slow the server's next start
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
