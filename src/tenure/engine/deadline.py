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
    state = {"running": True, "fired": False}

    def stop() -> None:
        with lock:
            if state["running"]:
                state["fired"] = True
                connection.interrupt()

    timer = threading.Timer(limit, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception as exc:
        if state["fired"]:
            raise QueryTimeout(
                f"the query ran longer than {limit:g} s and was stopped; narrow it (a shorter "
                "range, a coarser grain, fewer segments or metrics) and try again"
            ) from exc
        raise
    finally:
        with lock:
            state["running"] = False
        timer.cancel()
