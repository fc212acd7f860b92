"""The server's background jobs, each isolated from the others' failures: the automations on
their interval, and the account snapshot at start-up, after every write that changed the data,
and every 15 minutes (so "today" moves on)."""

from __future__ import annotations

import datetime as dt
import logging

from tenure.api.routers import automations
from tenure.app.scheduler import Scheduler
from tenure.app.store import Store
from tenure.live import LiveWorkspace

log = logging.getLogger(__name__)
SNAPSHOT_EVERY_SECONDS = 900


def refresh_snapshot(live: LiveWorkspace) -> int:
    """Rebuild the account snapshot: built on a reader (loads go on meanwhile), swapped in by
    the writer. It is derived from the data, so the data version stays."""
    from tenure.models import account_snapshot

    day = dt.date.today()
    with live.reader() as ws:
        seen = account_snapshot.loads_seen(ws)
        frame = account_snapshot.build(ws, as_of=day)
    with live.writer(changes_data=False) as ws:
        rows = account_snapshot.save(ws, frame, as_of=day, loads=seen)
    log.info("account snapshot refreshed: %d accounts", rows)
    return rows


def server_jobs(live: LiveWorkspace, store: Store, automation_seconds: float) -> Scheduler:
    """The jobs of a running server (not started)."""
    jobs = Scheduler()
    jobs.add(
        "automations",
        lambda: automations.run(live, store),
        every_seconds=automation_seconds,
        retries=2,
        backoff_seconds=5,
    )
    if live.is_embedded:
        jobs.add(
            "account_snapshot",
            lambda: refresh_snapshot(live),
            every_seconds=SNAPSHOT_EVERY_SECONDS,
            retries=2,
            backoff_seconds=10,
        )
        live.after_write.append(lambda: jobs.soon("account_snapshot"))
    return jobs
