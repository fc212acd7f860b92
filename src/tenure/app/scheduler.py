"""Background jobs that one bad job cannot stop: the automations tick, snapshot refreshes, syncs.

Each job has a name, a schedule (every N seconds or a crontab line), a callable and a retry policy.
A job that raises is logged and retried after `backoff_seconds * 2**(attempt - 1)`; when its last
attempt fails the run is recorded as dead (in memory, shown by `status()`) and the job waits for
its next scheduled run, which starts a fresh series of attempts. Other jobs keep their schedule
throughout: each job runs in APScheduler's thread pool and its exceptions never leave `_attempt`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from tenure.errors import TenureError

log = logging.getLogger(__name__)

_DAYS = {"0": "sun", "1": "mon", "2": "tue", "3": "wed", "4": "thu", "5": "fri", "6": "sat"}
_DAYS["7"] = "sun"


def crontab(expression: str) -> CronTrigger:
    """A crontab line (minute hour day month weekday; weekday 0 or 7 = Sunday) as a trigger.

    APScheduler's own `from_crontab` counts weekdays from Monday, so digits are spelled out."""
    parts = expression.split()
    if len(parts) != 5:
        raise TenureError(f"cron {expression!r}: expected 5 fields (minute hour day month weekday)")
    weekday = "".join(_DAYS.get(ch, ch) if ch.isdigit() else ch for ch in parts[4])
    try:
        return CronTrigger(
            minute=parts[0],
            hour=parts[1],
            day=parts[2],
            month=parts[3],
            day_of_week=weekday,
            timezone="UTC",
        )
    except ValueError as exc:
        raise TenureError(f"cron {expression!r}: {exc}") from None


@dataclass
class JobStatus:
    """What a job did last. `state` is idle (never ran), ok, retrying or dead (the last run
    failed every attempt; the next scheduled run tries again)."""

    name: str
    state: str = "idle"
    runs: int = 0
    last_run: dt.datetime | None = None
    last_success: dt.datetime | None = None
    last_error: str | None = None
    last_error_at: dt.datetime | None = None
    consecutive_failures: int = 0
    next_run: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            key: value.isoformat() if isinstance(value, dt.datetime) else value
            for key, value in dataclasses.asdict(self).items()
        }


@dataclass
class _Job:
    fn: Callable[[], Any]
    attempts: int
    backoff: float
    status: JobStatus
    running: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    retry_pending: bool = False
    again: bool = False  # asked for by `soon` while a run was in progress
    settle: float = 0.0  # `soon` waits until this long after the last run started


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Scheduler:
    """Named jobs on a BackgroundScheduler, each isolated from the others' failures."""

    def __init__(self) -> None:
        self._aps = BackgroundScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()

    def add(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        every_seconds: float | None = None,
        cron: str | None = None,
        on_demand: bool = False,
        retries: int = 0,
        backoff_seconds: float = 1.0,
        settle_seconds: float = 0.0,
    ) -> None:
        """Schedule `fn` every `every_seconds` or on a crontab line, or keep it `on_demand` (it
        runs only when asked: `run_now`, `soon`); a failed run is tried again up to `retries`
        more times, waiting `backoff_seconds`, then twice that, and so on. `settle_seconds`: a run
        asked for by `soon` starts no sooner than that after the last run started, so a stream
        of writes asks for one run per interval, not one per write. Jobs can be added while the
        scheduler runs."""
        if name in self._jobs:
            raise TenureError(f"job {name!r} is already scheduled")
        if on_demand + (every_seconds is not None) + (cron is not None) != 1:
            raise TenureError(f"job {name!r}: give either every_seconds or cron, or on_demand")
        if every_seconds is not None and every_seconds <= 0:
            raise TenureError(f"job {name!r}: every_seconds must be positive")
        if retries < 0 or backoff_seconds < 0:
            raise TenureError(f"job {name!r}: retries and backoff_seconds cannot be negative")
        with self._lock:
            self._jobs[name] = _Job(
                fn, retries + 1, backoff_seconds, JobStatus(name), settle=settle_seconds
            )
        if on_demand:
            return
        trigger = IntervalTrigger(seconds=every_seconds) if every_seconds else crontab(str(cron))
        self._aps.add_job(self._scheduled, trigger, args=[name], id=name, name=name)

    def remove(self, name: str) -> None:
        """Stop scheduling a job and forget it (a run in progress finishes)."""
        with self._lock:
            if self._jobs.pop(name, None) is None:
                return
        for job_id in (name, f"{name}#soon", f"{name}#retry"):
            if self._aps.get_job(job_id) is not None:
                with suppress(JobLookupError):
                    self._aps.remove_job(job_id)

    def start(self) -> None:
        self._aps.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; with `wait`, let the runs in progress finish first."""
        if self._aps.running:
            self._aps.shutdown(wait=wait)

    def run_now(self, name: str) -> bool:
        """Run a job once in the calling thread (its retry policy applies if it fails); False if
        it failed or a run of it was already in progress."""
        self._job(name)
        return self._attempt(name, 1)

    def soon(self, name: str) -> None:
        """Run a job once more in the background as soon as it can: now, or right after the run
        in progress. Requests made while one is waiting are merged into it."""
        job = self._job(name)
        # Asked for first: a run in progress sees it when it ends and runs once more.
        job.again = True
        if not self._aps.running or job.running.locked():
            return
        run_date = _utcnow()
        last = job.status.last_run
        if job.settle and last is not None:
            run_date = max(run_date, last + dt.timedelta(seconds=job.settle))
        self._aps.add_job(
            self._attempt,
            "date",
            run_date=run_date,
            args=[name, 1],
            id=f"{name}#soon",
            replace_existing=True,
            misfire_grace_time=None,
        )

    def status(self) -> dict[str, JobStatus]:
        """A copy of every job's status, with its next scheduled run."""
        with self._lock:
            shown = {name: dataclasses.replace(job.status) for name, job in self._jobs.items()}
        for name, status in shown.items():
            scheduled = self._aps.get_job(name)
            status.next_run = getattr(scheduled, "next_run_time", None) if scheduled else None
        return shown

    # -- running --------------------------------------------------------------------------------
    def _job(self, name: str) -> _Job:
        try:
            return self._jobs[name]
        except KeyError:
            raise TenureError(f"no job {name!r}; jobs: {', '.join(self._jobs)}") from None

    def _scheduled(self, name: str) -> None:
        job = self._jobs.get(name)
        if job is None or job.retry_pending:  # the retries of the last run own this job for now
            return
        self._attempt(name, 1)

    def _attempt(self, name: str, attempt: int) -> bool:
        job = self._jobs.get(name)
        if job is None:  # removed meanwhile
            return False
        if not job.running.acquire(blocking=False):
            log.info("job %s is still running; this run is skipped", name)
            return False
        try:
            job.again = False  # this run covers every request made before it started
            started = _utcnow()
            with self._lock:
                job.status.runs += 1
                job.status.last_run = started
            try:
                job.fn()
            except Exception as exc:  # a job's failure is recorded, never propagated
                return self._failed(name, job, attempt, exc)
            with self._lock:
                job.status.state = "ok"
                job.status.last_success = _utcnow()
                job.status.consecutive_failures = 0
            return True
        finally:
            job.running.release()
            if job.again and self._jobs.get(name) is job:
                job.again = False
                self.soon(name)

    def _failed(self, name: str, job: _Job, attempt: int, exc: Exception) -> bool:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        with self._lock:
            job.status.last_error = error
            job.status.last_error_at = _utcnow()
            job.status.consecutive_failures += 1
            last = attempt >= job.attempts
            job.status.state = "dead" if last else "retrying"
            job.retry_pending = not last
        if last:
            log.error("job %s failed its last attempt (%d): %s", name, attempt, error, exc_info=exc)
            return False
        delay = job.backoff * 2 ** (attempt - 1)
        log.warning("job %s failed attempt %d, retrying in %.1fs: %s", name, attempt, delay, error)
        try:
            self._aps.add_job(
                self._retry,
                "date",
                run_date=_utcnow() + dt.timedelta(seconds=delay),
                args=[name, attempt + 1],
                id=f"{name}#retry",
                replace_existing=True,
                misfire_grace_time=None,
            )
        except Exception:  # e.g. shut down meanwhile: the next scheduled run starts afresh
            log.exception("job %s: cannot schedule its retry", name)
            with self._lock:
                job.retry_pending = False
        return False

    def _retry(self, name: str, attempt: int) -> None:
        with self._lock:
            job = self._jobs.get(name)
            if job is None:
                return
            job.retry_pending = False
        self._attempt(name, attempt)
