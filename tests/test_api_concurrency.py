"""Reads do not wait for each other: while one request is stuck inside a metric computation,
another is answered (a lock around the engine would make the second wait for the first)."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import tenure
from tenure import demo
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.workspace import Workspace


@pytest.fixture
def server(tmp_path: Path) -> Iterator[dict[str, Any]]:
    import uvicorn

    ws = tenure.connect(f"duckdb:///{tmp_path / 'live.duckdb'}")
    demo.build(ws, tmp_path / "demo", accounts=40, events=2_000, seed=5, as_of=dt.date(2026, 11, 1))
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    key = create_key(store, "reader", "viewer")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(ws, store), host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/health", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield {"base": base, "headers": {"Authorization": f"Bearer {key}"}}
    instance.should_exit = True
    thread.join(timeout=10)
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
