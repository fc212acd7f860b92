"""A time limit for engine reads: a query still running after N seconds is interrupted.

DuckDB stops a running statement when its connection's `interrupt()` is called from another
thread; the statement fails and the connection (a reader's cursor) stays usable. A timer thread
does that here, and the failure becomes QueryTimeout (503). Python work done between queries
(pandas, models) is not interrupted; the next query it starts is.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

from tenure.errors import QueryError

SECONDS_ENV = "TENURE_QUERY_SECONDS"
DEFAULT_SECONDS = 30.0


class QueryTimeout(QueryError):
    """A query ran past its time limit and was stopped (answered with 503: try a narrower one)."""

    status = 503


def query_seconds() -> float:
    """The time limit: $TENURE_QUERY_SECONDS if it is a positive number, else 30 s."""
    text = os.environ.get(SECONDS_ENV, "")
    try:
        seconds = float(text)
    except ValueError:
        return DEFAULT_SECONDS
    return seconds if 0 < seconds < float("inf") else DEFAULT_SECONDS


@contextlib.contextmanager
def deadline(connection: Any, seconds: float | None = None) -> Iterator[None]:
    """Interrupt `connection` (anything with `interrupt()`) if the block runs longer than
    `seconds` (default: `query_seconds()`); the block then raises QueryTimeout. Once the block
    is left the timer can no longer fire, so a later query on the connection is not touched."""
    limit = query_seconds() if seconds is None else seconds
    lock = threading.Lock()
    done = threading.Event()
    fired = threading.Event()

    def watch() -> None:
        if done.wait(limit):
            return
        fired.set()
        # Again and again until the block ends: an interrupt reaches only a running query, and
        # the block may be between queries when the time is up.
        while True:
            with lock:
                if done.is_set():
                    return
                connection.interrupt()
            if done.wait(0.05):
                return

    watcher = threading.Thread(target=watch, name="query-deadline", daemon=True)
    watcher.start()
    try:
        yield
    except Exception as exc:
        if fired.is_set():
            raise QueryTimeout(
                f"the query ran longer than {limit:g} s and was stopped; narrow it (a shorter "
                "range, a coarser grain, fewer segments or metrics) and try again"
            ) from exc
        raise
    finally:
        with lock:
            done.set()
