"""The server's background jobs, each isolated from the others' failures: the automations on
their interval, the renewal of recently asked results after every write that changed the data,
the account snapshot at start-up, after every write that changed the data,
and every 15 minutes (so "today" moves on), and one job per data source (`source:<name>`),
started when the source is due by the `sources` job, which checks every minute."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tenure.api.deps import ResultCache, renew
from tenure.api.routers import automations
from tenure.app import sources
from tenure.app.scheduler import Scheduler
from tenure.app.store import Store
from tenure.data.loader import LoadReport
from tenure.live import LiveWorkspace
from tenure.sources.sync import SyncReport

log = logging.getLogger(__name__)
SNAPSHOT_EVERY_SECONDS = 900
SNAPSHOT_SETTLE_SECONDS = 10  # under a stream of writes, one rebuild per 10 s at most
SOURCES_EVERY_SECONDS = 60
SOURCE_RETRIES = 2
SOURCE_BACKOFF_SECONDS = 30.0


def refresh_snapshot(live: LiveWorkspace) -> int:
    """Rebuild the account snapshot: built on a reader (loads go on meanwhile), swapped in by
    the writer. First the writer rebuilds the revenue ledger if it went stale (a new month, a
    store from an older version), so the snapshot and the metrics read it. Both are derived
    from the data, so the data version stays; the writer is taken for the ledger only when it
    is stale, since each derived write renews the results read from the snapshot."""
    from tenure.metrics import revenue_ledger
    from tenure.models import account_snapshot

    with live.reader() as ws:
        stale = not revenue_ledger.serves_now(ws)
    if stale:
        with live.writer(changes_data=False) as ws:
            ws.refresh_ledger()
    with live.reader() as ws:
        built = account_snapshot.prepare(ws)
    with live.writer(changes_data=False) as ws:
        rows = account_snapshot.save(ws, built)
    log.info("account snapshot refreshed: %d accounts", rows)
    return rows


def server_jobs(
    live: LiveWorkspace, store: Store, automation_seconds: float, cache: ResultCache
) -> Scheduler:
    """The jobs of a running server (not started)."""
    jobs = Scheduler()
    jobs.add("renew_cache", lambda: renew(live, cache), on_demand=True, settle_seconds=2)
    live.after_write.append(lambda: jobs.soon("renew_cache"))
    jobs.add(
        "automations",
        lambda: automations.run(live, store),
        every_seconds=automation_seconds,
        retries=2,
        backoff_seconds=5,
    )
    jobs.add(
        "sources",
        lambda: start_due_sources(jobs, live, store),
        every_seconds=SOURCES_EVERY_SECONDS,
        retries=1,
        backoff_seconds=5,
    )
    if live.is_embedded:
        jobs.add(
            "account_snapshot",
            lambda: refresh_snapshot(live),
            every_seconds=SNAPSHOT_EVERY_SECONDS,
            retries=2,
            backoff_seconds=10,
            settle_seconds=SNAPSHOT_SETTLE_SECONDS,
        )
        live.after_write.append(lambda: jobs.soon("account_snapshot"))
    return jobs


# -- data sources -------------------------------------------------------------------------------
class _Loads:
    """The writer's workspace, noting whether a load changed any row."""

    def __init__(self, ws: Any, changed: list[str]) -> None:
        self._ws = ws
        self._changed = changed

    @property
    def duckdb(self) -> Any:
        return self._ws.duckdb

    def load(self, table: str, source: Any) -> LoadReport:
        report: LoadReport = self._ws.load(table, source)
        if report.loaded:
            self._changed.append(table)
        return report


def sync_source(live: LiveWorkspace, store: Store, name: str, *, full: bool = False) -> SyncReport:
    """Sync one source through the live workspace's writer, taken page by page (reads and other
    writes go on between pages). Staging derives nothing readers see, so only a sync that
    changed rows moves the data version: right after the write that loaded them, before the
    sync records its status (whoever sees "ok" sees the rows), and that refreshes the account
    snapshot as any load does (`live.after_write`)."""
    changed: list[str] = []

    @contextmanager
    def writer() -> Iterator[_Loads]:
        before = len(changed)
        try:
            with live.writer(changes_data=False) as ws:
                yield _Loads(ws, changed)
        finally:
            if len(changed) > before:
                with live.writer():
                    pass

    return sources.sync(store, name, writer, full=full)


def source_job(name: str) -> str:
    return f"source:{name}"


_reconciling = threading.Lock()


def schedule_sources(jobs: Scheduler, live: LiveWorkspace, store: Store) -> list[str]:
    """Give every source in the store its job and drop the jobs of removed sources (sources
    may be added by another process sharing the store); the names of the sources."""
    names = [source["name"] for source in sources.all_sources(store)]
    with _reconciling:
        have = {job for job in jobs.status() if job.startswith("source:")}
        for name in names:
            if source_job(name) not in have:

                def run(name: str = name) -> None:
                    try:
                        sync_source(live, store, name)
                    except sources.UnknownSource:
                        log.info("source %s was removed before its sync", name)

                jobs.add(
                    source_job(name),
                    run,
                    on_demand=True,
                    retries=SOURCE_RETRIES,
                    backoff_seconds=SOURCE_BACKOFF_SECONDS,
                )
        for job in have - {source_job(name) for name in names}:
            jobs.remove(job)
    return names


def start_due_sources(jobs: Scheduler, live: LiveWorkspace, store: Store) -> list[str]:
    """Start the job of each source whose next run has come (unless its retries are pending);
    the names started."""
    schedule_sources(jobs, live, store)
    status = jobs.status()
    started = []
    for name in sources.due(store):
        job = status.get(source_job(name))
        if job is not None and job.state != "retrying":
            jobs.soon(source_job(name))
            started.append(name)
    return started
