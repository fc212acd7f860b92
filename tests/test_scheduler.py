"""The job scheduler on a real BackgroundScheduler with sub-second intervals: a failing job is
retried, then recorded as dead, and the other jobs keep their schedule. Waits are bounded polls;
nothing asserts how long anything took."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tenure.app.scheduler import Scheduler, crontab
from tenure.errors import TenureError


def eventually(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.02)
    raise AssertionError(f"not within {seconds} seconds")


@pytest.fixture
def scheduler() -> Iterator[Scheduler]:
    jobs = Scheduler()
    yield jobs
    jobs.shutdown(wait=False)


class Counter:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self) -> None:
        with self.lock:
            self.calls += 1
            if self.calls <= self.failures:
                raise RuntimeError(f"failure {self.calls}")


def test_a_job_failing_every_attempt_is_dead_and_the_others_keep_running(
    scheduler: Scheduler, caplog: pytest.LogCaptureFixture
) -> None:
    bad, good = Counter(failures=10**6), Counter()
    scheduler.add("bad", bad, every_seconds=0.2, retries=2, backoff_seconds=0.05)
    scheduler.add("good", good, every_seconds=0.1)
    with caplog.at_level("WARNING", logger="tenure.app.scheduler"):
        scheduler.start()
        dead = eventually(lambda: scheduler.status()["bad"].state == "dead")
        assert dead
        first_series = scheduler.status()["bad"]
        assert first_series.consecutive_failures >= 3 and bad.calls >= 3
        assert first_series.last_error is not None
        assert first_series.last_error.startswith("RuntimeError: failure")
        assert first_series.last_success is None and first_series.next_run is not None
        # The good job kept its schedule all along, and the bad one is tried again on its next
        # scheduled run (a new series of attempts).
        calls_then = good.calls
        eventually(lambda: good.calls >= calls_then + 3)
        eventually(lambda: bad.calls >= 6)
    status = scheduler.status()
    assert status["good"].state == "ok" and status["good"].consecutive_failures == 0
    assert status["good"].last_success is not None and status["good"].last_error is None
    assert any("failed its last attempt" in r.getMessage() for r in caplog.records)
    assert any("retrying in" in r.getMessage() for r in caplog.records)
    shown = status["bad"].to_dict()
    assert shown["name"] == "bad" and isinstance(shown["last_error_at"], str)


def test_a_job_that_fails_once_succeeds_on_its_retry(scheduler: Scheduler) -> None:
    flaky = Counter(failures=1)
    scheduler.add("flaky", flaky, every_seconds=3600, retries=3, backoff_seconds=0.05)
    scheduler.start()
    assert scheduler.run_now("flaky") is False  # failed; its retry is scheduled
    assert scheduler.status()["flaky"].state == "retrying"
    eventually(lambda: scheduler.status()["flaky"].state == "ok")
    status = scheduler.status()["flaky"]
    assert flaky.calls == 2 and status.consecutive_failures == 0 and status.runs == 2
    assert status.last_error == "RuntimeError: failure 1" and status.last_success is not None
    assert scheduler.run_now("flaky") is True and flaky.calls == 3


def test_a_hung_job_does_not_hold_up_the_others(scheduler: Scheduler) -> None:
    release = threading.Event()
    started = threading.Event()

    def hang() -> None:
        started.set()
        release.wait(30)

    ticks = Counter()
    scheduler.add("hung", hang, every_seconds=0.05)
    scheduler.add("ticks", ticks, every_seconds=0.05)
    scheduler.start()
    try:
        eventually(started.is_set)
        seen = ticks.calls
        eventually(lambda: ticks.calls >= seen + 5)
        assert scheduler.run_now("hung") is False  # a run of it is in progress: skipped
        assert scheduler.status()["hung"].runs == 1
    finally:
        release.set()


def test_jobs_are_declared_once_with_one_schedule() -> None:
    jobs = Scheduler()
    jobs.add("sync", Counter(), cron="*/5 * * * *")
    with pytest.raises(TenureError, match="already scheduled"):
        jobs.add("sync", Counter(), every_seconds=1)
    with pytest.raises(TenureError, match="either every_seconds or cron"):
        jobs.add("both", Counter(), every_seconds=1, cron="* * * * *")
    with pytest.raises(TenureError, match="either every_seconds or cron"):
        jobs.add("neither", Counter())
    with pytest.raises(TenureError, match="expected 5 fields"):
        jobs.add("bad", Counter(), cron="hourly")
    with pytest.raises(TenureError, match="no job 'nope'"):
        jobs.run_now("nope")
    assert jobs.run_now("sync") is True and jobs.status()["sync"].state == "ok"
    jobs.start()
    try:
        upcoming = jobs.status()["sync"].next_run
        assert upcoming is not None and upcoming.minute % 5 == 0
    finally:
        jobs.shutdown()


def test_crontab_weekdays_count_from_sunday() -> None:
    monday_nine = crontab("0 9 * * 1")
    after = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)  # a Sunday
    fire = monday_nine.get_next_fire_time(None, after)
    assert fire is not None and (fire.weekday(), fire.hour, fire.day) == (0, 9, 23)
    sunday = crontab("30 8 * * 7").get_next_fire_time(None, after)
    assert sunday is not None and (sunday.weekday(), sunday.day) == (6, 29)


def test_soon_runs_a_job_now_and_once_more_after_a_run_in_progress(scheduler: Scheduler) -> None:
    started = threading.Event()
    release = threading.Event()
    runs: list[int] = []

    def refresh() -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            started.set()
            release.wait(10)  # the first run is in progress when new data arrives

    scheduler.add("refresh", refresh, every_seconds=3600)
    scheduler.start()
    scheduler.soon("refresh")
    assert started.wait(10)
    scheduler.soon("refresh")  # asked for during the run: one more run after it, not lost
    scheduler.soon("refresh")  # and merged with this one
    release.set()
    eventually(lambda: len(runs) >= 2)
    time.sleep(0.3)
    assert len(runs) == 2


def test_a_settling_job_asked_for_often_runs_once_per_interval(scheduler: Scheduler) -> None:
    """A stream of writes asks for the snapshot after each one: with a settle time, the runs
    after the first wait for it and the requests in between merge into one run."""
    runs: list[float] = []
    scheduler.add(
        "refresh", lambda: runs.append(time.monotonic()), on_demand=True, settle_seconds=1.0
    )
    scheduler.start()
    scheduler.soon("refresh")
    eventually(lambda: len(runs) == 1)
    for _ in range(5):
        scheduler.soon("refresh")
        time.sleep(0.05)
    eventually(lambda: len(runs) == 2)
    time.sleep(1.5)
    assert len(runs) == 2  # five requests, one run
    assert runs[1] - runs[0] >= 0.9
