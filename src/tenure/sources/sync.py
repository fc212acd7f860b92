"""Run a connector: pull every stream from its cursor, staging page by page, then load the
transform of everything staged through the validated loader."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol

from tenure.data.contract import LOAD_ORDER
from tenure.data.loader import LoadReport
from tenure.sources import staging
from tenure.sources.base import Connector


class Store(Protocol):
    """What a sync needs of a workspace: its DuckDB connection and the validated loader."""

    @property
    def duckdb(self) -> Any: ...

    def load(self, table: str, source: Any) -> LoadReport: ...


Writer = Callable[[], AbstractContextManager[Store]]


@dataclass
class SyncReport:
    source: str
    pulled: dict[str, int] = field(default_factory=dict)  # records pulled this run, by stream
    loads: dict[str, LoadReport] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def records(self) -> int:
        return sum(self.pulled.values())

    @property
    def rejected(self) -> int:
        return sum(report.rejected for report in self.loads.values())

    def summary(self) -> str:
        pulled = ", ".join(f"{n} {stream}" for stream, n in self.pulled.items()) or "nothing new"
        loaded = "; ".join(f"{table}: {report.summary()}" for table, report in self.loads.items())
        return f"{self.source}: pulled {pulled} in {self.seconds:.1f} s; {loaded}"


def run(connector: Connector, source: str, writer: Writer) -> SyncReport:
    """Sync `source`. Each page is staged with its cursor in one transaction, so an interrupted
    run resumes after the last staged page; the load merges by key, so re-running changes
    nothing."""
    started = time.perf_counter()
    report = SyncReport(source)
    with writer() as store:
        staging.ensure(store.duckdb)
    for stream in connector.streams:
        with writer() as store:
            resume = staging.cursor(store.duckdb, source, stream)
        report.pulled[stream] = 0
        for page in connector.pull(stream, resume):
            rows = [(connector.record_id(stream, record), record) for record in page.records]
            with writer() as store:
                staging.stage(store.duckdb, source, stream, rows, page.cursor)
            report.pulled[stream] += len(rows)
    with writer() as store:
        tables = connector.transform(staging.records(store.duckdb, source, connector.streams))
        for table in LOAD_ORDER:
            if table in tables:
                report.loads[table] = store.load(table, tables[table])
    report.seconds = time.perf_counter() - started
    return report
