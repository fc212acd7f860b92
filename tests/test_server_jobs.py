"""The server's jobs: the account snapshot (and a stale revenue ledger) is built at start-up and
again after every load, the automations keep their schedule when another job fails, and admins
can read how each job went."""

from __future__ import annotations

import datetime as dt
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tenure
from tenure import demo
from tenure.app import automations
from tenure.app.keys import create_key
from tenure.app.store import Store, Task
from tenure.metrics import revenue_ledger, rollups
from tenure.models import account_snapshot
from tenure.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def eventually(check: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} seconds")


@pytest.fixture
def company(tmp_path: Path) -> Iterator[Workspace]:
    with tenure.connect(f"duckdb:///{tmp_path / 'jobs.duckdb'}") as ws:
        demo.build(
            ws, tmp_path / "demo", accounts=60, events=3000, seed=5, as_of=dt.date(2026, 11, 1)
        )
        yield ws


def snapshot_built(client: TestClient, admin: dict[str, str]) -> bool:
    jobs = {j["name"]: j for j in client.get("/api/jobs", headers=admin).json()}
    return jobs["account_snapshot"]["last_success"] is not None


def test_the_snapshot_is_built_at_start_up_and_after_each_load(
    company: Workspace, store: Store
) -> None:
    from tenure.api.app import create_app

    admin = {"Authorization": f"Bearer {create_key(store, 'a', 'admin')}"}
    # As on a store from before the revenue ledger: the start-up snapshot job builds it.
    company.duckdb.execute(
        f"DELETE FROM {rollups.META_TABLE} WHERE name = ?", [revenue_ledger.NAME]
    )
    assert not revenue_ledger.serves_now(company)
    with TestClient(create_app(company, store, schedule_seconds=3600)) as client:
        live = client.app.state.live  # type: ignore[attr-defined]

        def status() -> dict[str, Any] | None:
            with live.reader() as ws:  # the connection itself belongs to the server's writer
                return account_snapshot.status(ws)

        eventually(lambda: snapshot_built(client, admin))
        first = status()
        assert first is not None and first["accounts"] == 60
        with live.reader() as ws:
            assert revenue_ledger.serves_now(ws)
        ingest = client.post(
            "/api/ingest/tickets",
            headers=admin,
            json={
                "rows": [
                    {
                        "ticket_id": "late-1",
                        "account_id": "A0001",
                        "channel": "email",
                        "opened_at": "2026-10-30T10:00:00Z",
                        "status": "open",
                    }
                ]
            },
        )
        assert ingest.status_code == 200, ingest.text
        refreshed = eventually(lambda: (now := status()) and now["loads"] > first["loads"] and now)
        assert not refreshed["stale"]


def test_a_failing_job_does_not_stop_the_automations(
    company: Workspace, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tenure.api.app import create_app

    def broken(ws: Any, **_: Any) -> int:
        raise RuntimeError("snapshot exploded")

    monkeypatch.setattr(account_snapshot, "build", broken)
    automations.create_rule(
        store, "open", {"type": "state_duration", "hours": 48}, [], [{"kind": "task", "title": "x"}]
    )
    admin = {"Authorization": f"Bearer {create_key(store, 'a', 'admin')}"}
    with TestClient(create_app(company, store, schedule_seconds=0.3)) as client:

        def tasks() -> int:
            with store.session() as session:
                return session.query(Task).count()

        eventually(tasks)

        def shown() -> dict[str, Any]:
            return {j["name"]: j for j in client.get("/api/jobs", headers=admin).json()}

        eventually(lambda: shown()["account_snapshot"]["last_error"])
        eventually(lambda: shown()["automations"]["state"] == "ok")
        jobs = shown()
        assert "snapshot exploded" in jobs["account_snapshot"]["last_error"]
        assert jobs["automations"]["state"] == "ok"
