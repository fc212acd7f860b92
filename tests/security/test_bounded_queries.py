"""Finding 3: a viewer cannot stall or exhaust the server. A request for more result cells than
the limit is refused before the engine runs, a query past the time limit is interrupted and the
reader's cursor serves the next one, the result cache is bounded by bytes, and expensive routes
answer 429 with Retry-After once a key has spent its burst."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import tenure
from tenure import demo
from tenure.api.app import create_app
from tenure.api.deps import RateLimiter, ResultCache, size_of
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.engine.bounds import DEFAULT_CELLS, check_cells, result_periods
from tenure.engine.deadline import QueryTimeout, deadline
from tenure.live import LiveWorkspace
from tenure.workspace import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("bounded")
    with tenure.connect(f"duckdb:///{folder / 'bounded.duckdb'}") as ws:
        demo.build(
            ws, folder / "demo", accounts=120, events=4_000, seed=5, as_of=dt.date(2026, 11, 1)
        )
        yield ws


@pytest.fixture
def app_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    yield store
    store.dispose()


def _client(workspace: Workspace, store: Store) -> TestClient:
    return TestClient(create_app(workspace, store))


def _key(store: Store, name: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(store, name, 'viewer')}"}


def test_27_years_by_day_in_3_segments_is_refused_before_it_runs(
    workspace: Workspace, app_store: Store
) -> None:
    client, key = _client(workspace, app_store), _key(app_store)
    params = {
        "names": "mrr",
        "grain": "day",
        "from": "2000-01-01",
        "to": "2026-12-31",
        "by": ["plan", "country", "industry"],
    }
    began = time.perf_counter()
    answer = client.get("/api/metrics", params=params, headers=key)
    assert time.perf_counter() - began < 5
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    detail = answer.json()["detail"]
    assert f"the limit is {DEFAULT_CELLS:,}" in detail and "coarser grain" in detail
    # the same range by month fits, and the limit is a setting
    monthly = client.get("/api/metrics", params={**params, "grain": "month"}, headers=key)
    assert monthly.status_code == 200, monthly.text


def test_the_cell_limit_counts_periods_from_the_calendar(monkeypatch: pytest.MonkeyPatch) -> None:
    assert result_periods(dt.date(2000, 1, 1), dt.date(2026, 12, 31), "day") == 9862
    assert result_periods(dt.date(2025, 2, 1), dt.date(2025, 12, 31), "quarter") == 4
    assert result_periods(dt.date(2025, 1, 1), dt.date(2025, 1, 31), "week") == 5
    assert result_periods(None, dt.date(2025, 1, 31), "month") == 12
    monkeypatch.setenv("TENURE_MAX_CELLS", "100")
    check_cells(10, 2, 5)
    with pytest.raises(tenure.errors.QueryError, match="the limit is 100"):
        check_cells(10, 2, 6)


def test_a_slow_query_is_interrupted_and_the_cursor_serves_the_next(workspace: Workspace) -> None:
    live = LiveWorkspace(workspace)
    with live.reader() as ws:
        cursor = ws.duckdb
        began = time.perf_counter()
        with pytest.raises(QueryTimeout, match=r"longer than 0\.3 s"), deadline(cursor, 0.3):
            cursor.execute("SELECT count(*) FROM range(1000000000000) t(x) WHERE x % 7 = 3")
            cursor.fetchall()
        assert time.perf_counter() - began < 5
    with live.reader() as again:  # the same thread's cursor
        assert again.duckdb is cursor
        with deadline(again.duckdb, 5):
            assert again.duckdb.execute("SELECT 42").fetchall() == [(42,)]
        assert len(again.table("accounts").execute()) == 120


def test_a_request_past_the_time_limit_answers_503_and_the_next_one_succeeds(
    workspace: Workspace, app_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, key = _client(workspace, app_store), _key(app_store)
    params = {"names": "mrr", "grain": "day", "from": "2022-01-01", "to": "2026-10-31"}
    monkeypatch.setenv("TENURE_QUERY_SECONDS", "0.05")
    slow = client.get("/api/metrics", params=params, headers=key)
    assert slow.status_code == 503, slow.text
    assert slow.headers["content-type"] == "application/problem+json"
    assert "longer than 0.05 s" in slow.json()["detail"]
    monkeypatch.delenv("TENURE_QUERY_SECONDS")
    answer = client.get("/api/metrics", params=params, headers=key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["total"] > 1000


def test_the_result_cache_evicts_by_bytes() -> None:
    frames = [
        pd.DataFrame({"value": range(n), "label": [f"row {i}" for i in range(n)]})
        for n in (1000, 2000, 3000)
    ]
    sizes = [size_of(f) for f in frames]
    assert sizes[0] < sizes[1] < sizes[2]
    cache = ResultCache(size=100, max_bytes=sizes[1] + sizes[2])
    for number, frame in enumerate(frames):
        cache.put(number, frame)
    assert cache.get(0) is None  # the oldest went out to make room
    assert cache.get(1) is frames[1] and cache.get(2) is frames[2]
    assert cache.bytes == sizes[1] + sizes[2] and len(cache) == 2
    huge = pd.DataFrame({"value": range(100_000)})
    cache.put("huge", huge)  # larger than the whole cache: not kept, nothing evicted for it
    assert cache.get("huge") is None and len(cache) == 2
    cache.put(1, frames[0])  # a key put again is counted once
    assert cache.bytes == sizes[0] + sizes[2]


def test_expensive_routes_answer_429_with_retry_after_after_the_burst(
    workspace: Workspace, app_store: Store
) -> None:
    app = create_app(workspace, app_store)
    app.state.limiter = RateLimiter(burst=3, per_minute=6)
    client, key, other = TestClient(app), _key(app_store, "one"), _key(app_store, "two")
    for year in (2024, 2025, 2026):  # three computations spend the burst
        cohorts = {"from": f"{year}-01-01"}
        assert client.get("/api/cohorts", params=cohorts, headers=key).status_code == 200
    # a result already computed for this data version costs nothing
    assert client.get("/api/cohorts", params=cohorts, headers=key).status_code == 200
    refused = client.get("/api/metrics", params={"names": "mrr"}, headers=key)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 10
    # another key has its own bucket, and cheap routes are not counted
    assert client.get("/api/funnel", params={"steps": ["a", "b"]}, headers=other).status_code == 200
    assert client.get("/api/metrics/catalog", headers=key).status_code == 200


def test_a_bucket_refills_with_time() -> None:
    now = [0.0]
    limiter = RateLimiter(burst=2, per_minute=60, clock=lambda: now[0])
    assert limiter.take("k") == 0 and limiter.take("k") == 0
    assert limiter.take("k") == pytest.approx(1.0)
    now[0] += 1.0
    assert limiter.take("k") == 0
