"""Reads do not wait for each other: while one request is stuck inside a metric computation,
another is answered (a lock around the engine would make the second wait for the first)."""

from __future__ import annotations

import datetime as dt
import inspect
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tenure
from tenure import demo
from tenure.api.app import ROUTERS, create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.workspace import Workspace
from tests.served import serving


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:

    ws = tenure.connect(f"duckdb:///{tmp_path / 'live.duckdb'}")
    demo.build(ws, tmp_path / "demo", accounts=40, events=2_000, seed=5, as_of=dt.date(2026, 11, 1))
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    key = create_key(store, "reader", "viewer")
    with serving(create_app(ws, store)) as base:
        yield {"base": base, "headers": {"Authorization": f"Bearer {key}"}}
    ws.close()


def test_a_slow_read_does_not_hold_up_another(
    server: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    entered, release = threading.Event(), threading.Event()
    compute = Workspace.metrics

    def metrics(self: Workspace, names: list[str], **options: Any) -> Any:
        if "mrr" in names:  # the slow one: waits inside the engine call until released
            entered.set()
            release.wait(timeout=60)
        return compute(self, names, **options)

    monkeypatch.setattr(Workspace, "metrics", metrics)
    slow: dict[str, httpx.Response] = {}

    def ask_slow() -> None:
        slow["response"] = httpx.get(
            server["base"] + "/api/metrics",
            params={"names": "mrr"},
            headers=server["headers"],
            timeout=90,
        )

    waiting = threading.Thread(target=ask_slow)
    waiting.start()
    try:
        assert entered.wait(timeout=30), "the slow request never reached the engine"
        fast = httpx.get(
            server["base"] + "/api/metrics",
            params={"names": "customers"},
            headers=server["headers"],
            timeout=20,
        )
        assert fast.status_code == 200 and fast.json()["total"] > 0
        assert not release.is_set() and waiting.is_alive()  # answered while the other waits
    finally:
        release.set()
        waiting.join(timeout=60)
    assert slow["response"].status_code == 200 and slow["response"].json()["total"] > 0


def test_every_route_dependency_runs_on_the_event_loop(tmp_path: Path) -> None:
    """FastAPI runs a sync dependency on a pool thread: a trip per dependency per request, each
    waiting for the interpreter lock under load. Every dependency of every route is a coroutine
    (the key look-up goes to a pool thread itself, only when the app store must be read)."""
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute

    def runs_on_the_loop(call: Any) -> bool:
        # A function, or an instance with a __call__ method (FastAPI's security schemes).
        method = None if inspect.isfunction(call) else type(call).__call__
        return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(method)

    sync: set[str] = set()

    def walk(dependant: Dependant) -> None:
        for sub in dependant.dependencies:
            if not runs_on_the_loop(sub.call):
                sync.add(getattr(sub.call, "__qualname__", repr(sub.call)))
            walk(sub)

    with tenure.connect("duckdb://") as ws:
        app = create_app(ws, Store(f"sqlite:///{tmp_path / 'app.db'}"))
        routers = [app.router, *(module.router for module in ROUTERS)]  # included as they are
        routes = [r for router in routers for r in router.routes if isinstance(r, APIRoute)]
        for route in routes:
            walk(route.dependant)
    assert len(routes) > 60
    assert not sync, f"sync dependencies: {sorted(sync)}"
