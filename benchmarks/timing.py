"""Shared by the benchmarks: the best wall time of a few runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def best_of(runs: int, action: Callable[[], Any]) -> float:
    """The fastest of `runs` calls, in seconds (the least disturbed by a shared machine)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)
