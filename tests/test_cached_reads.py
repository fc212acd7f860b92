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


def _load(ws: Any, table: str, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    ws.load(table, pd.DataFrame(rows))


ACCOUNT = {"account_id": "A", "name": "Acme", "created_at": "2026-01-05"}
EVENT = {"event_id": "E1", "occurred_at": "2026-02-01", "name": "login", "user_id": "U1"}


def test_a_load_renews_only_the_results_that_read_its_table(live: LiveWorkspace) -> None:
    """An events load leaves a result computed from accounts cached and renews one computed
    from events; a setting may change anything, so it renews both."""
    reads = Reads(live, ResultCache(), RateLimiter(burst=100, per_minute=60), ApiKey(id=1))
    with live.writer() as ws:
        _load(ws, "accounts", [ACCOUNT])
    computed: list[str] = []

    def count(table: str) -> Any:
        def compute(ws: Any) -> int:
            computed.append(table)
            return int(ws.table(table).count().execute())

        return compute

    assert reads(("accounts",), count("accounts")) == 1
    assert reads(("events",), count("events")) == 0
    with live.writer() as ws:
        _load(ws, "events", [EVENT])
    assert reads(("accounts",), count("accounts")) == 1  # still cached
    assert reads(("events",), count("events")) == 1  # renewed: the new event is counted
    assert computed == ["accounts", "events", "events"]
    with live.writer() as ws:
        ws.set_setting("timezone", "Asia/Tokyo")
    reads(("accounts",), count("accounts"))
    reads(("events",), count("events"))
    assert computed == ["accounts", "events", "events", "accounts", "events"]


def test_a_write_that_is_not_a_load_renews_everything(live: LiveWorkspace) -> None:
    reads = Reads(live, ResultCache(), RateLimiter(burst=100, per_minute=60), ApiKey(id=1))
    computed: list[int] = []

    def compute(ws: Any) -> int:
        computed.append(1)
        return int(ws.table("accounts").count().execute())

    reads(("n",), compute)
    with live.writer() as ws:  # a raw write the workspace cannot attribute to a table
        ws.duckdb.execute("CREATE TABLE IF NOT EXISTS scratch (x INT)")
    reads(("n",), compute)
    assert computed == [1, 1]


def test_a_result_read_while_a_load_commits_is_not_kept_as_current(live: LiveWorkspace) -> None:
    """The versions are taken before the computation: one that read the old rows while a load
    committed is recomputed on the next request."""
    reads = Reads(live, ResultCache(), RateLimiter(burst=100, per_minute=60), ApiKey(id=1))
    with live.writer() as ws:
        _load(ws, "accounts", [ACCOUNT])

    def compute(ws: Any) -> int:
        n = int(ws.table("accounts").count().execute())
        with live.writer() as writer:  # commits after this computation read the table
            _load(writer, "accounts", [{**ACCOUNT, "account_id": "B"}])
        return n

    assert reads(("n",), compute) == 1
    assert reads(("n",), lambda ws: int(ws.table("accounts").count().execute())) == 2


def test_the_api_says_how_each_answer_was_made(tmp_path: Any, store: Any) -> None:
    """X-Tenure-Cache: miss when computed, hit from the cache; an events load keeps a revenue
    answer cached and renews an engagement one."""
    from fastapi.testclient import TestClient

    from tenure.api.app import create_app
    from tenure.app.keys import create_key

    headers = {"Authorization": f"Bearer {create_key(store, 'v', 'viewer')}"}
    with tenure.connect(f"duckdb:///{tmp_path / 'w.duckdb'}") as ws:
        _load(ws, "accounts", [ACCOUNT])
        client = TestClient(create_app(ws, store))
        live = client.app.state.live

        def served(name: str) -> str:
            response = client.get("/api/metrics", params={"names": name}, headers=headers)
            assert response.status_code == 200, response.text
            return response.headers["x-tenure-cache"]

        assert [served("mrr"), served("mrr"), served("dau")] == ["miss", "hit", "miss"]
        with live.writer() as writer:
            _load(writer, "events", [EVENT])
        assert [served("mrr"), served("dau"), served("dau")] == ["hit", "miss", "hit"]


def test_after_a_write_recent_results_are_renewed_before_anyone_asks(
    live: LiveWorkspace,
) -> None:
    from tenure.api.deps import renew

    cache = ResultCache()
    reads = Reads(live, cache, RateLimiter(burst=100, per_minute=60), ApiKey(id=1))
    with live.writer() as ws:
        _load(ws, "accounts", [ACCOUNT])
    computed: list[str] = []

    def count(table: str) -> Any:
        def compute(ws: Any) -> int:
            computed.append(table)
            return int(ws.table(table).count().execute())

        return compute

    reads(("accounts",), count("accounts"))
    reads(("events",), count("events"))
    with live.writer() as ws:
        _load(ws, "events", [EVENT])
    assert renew(live, cache) == 1  # only the result that read events
    assert computed == ["accounts", "events", "events"]
    assert reads(("events",), count("events")) == 1 and reads.served == "hit"
    assert computed == ["accounts", "events", "events"]
    assert renew(live, cache) == 0  # nothing stale is left
    assert renew(live, cache, seconds=0) == 0
