"""Expensive reads of the API: computed once per data version however many ask at once, served
from the cache afterwards without spending the caller's rate-limit tokens, and recomputed after a
write."""

from __future__ import annotations

import threading
from typing import Any

import pytest

import tenure
from tenure.api.deps import RateLimiter, Reads, ResultCache
from tenure.api.problems import Problem
from tenure.app.store import ApiKey
from tenure.live import LiveWorkspace


@pytest.fixture
def live() -> Any:
    with tenure.connect("duckdb://") as ws:
        yield LiveWorkspace(ws)


def test_concurrent_requests_for_one_result_compute_it_once(live: LiveWorkspace) -> None:
    reads = Reads(live, ResultCache(), RateLimiter(burst=100, per_minute=60), ApiKey(id=1))
    release = threading.Event()
    calls: list[int] = []
    answers: list[Any] = []

    def compute(ws: Any) -> list[int]:
        calls.append(1)
        release.wait(10)  # everyone else arrives while the first computes
        return [int(ws.duckdb.execute("SELECT 42").fetchall()[0][0])]

    threads = [
        threading.Thread(target=lambda: answers.append(reads(("answer",), compute)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(30)
    assert calls == [1]
    assert answers == [[42]] * 8


def test_hits_cost_no_token_and_a_write_recomputes(live: LiveWorkspace) -> None:
    reads = Reads(live, ResultCache(), RateLimiter(burst=1, per_minute=0.001), ApiKey(id=7))
    computed: list[int] = []

    def compute(_: Any) -> list[int]:
        computed.append(1)
        return [len(computed)]

    assert reads(("a",), compute) == [1]
    for _ in range(20):  # cached: no token spent
        assert reads(("a",), compute) == [1]
    with pytest.raises(Problem) as refused:  # a miss needs the token the first one spent
        reads(("b",), compute)
    assert refused.value.status_code == 429
    with live.writer():
        pass  # a write moves the version: the cached result is no longer served
    with pytest.raises(Problem):
        reads(("a",), compute)
    assert computed == [1]
