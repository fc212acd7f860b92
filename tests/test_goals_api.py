"""Goals through the API as the dashboard edits them: a metric goal for one segment takes its
unit from the catalog, every field can be changed, a task list's progress is its share of done
tasks, a segment the data lacks stores nothing, and a viewer reads but cannot change."""

from __future__ import annotations

import datetime as dt
import warnings
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from tenure import demo
from tenure.api.app import create_app
from tenure.app import goals as goal_rules
from tenure.app import store as store_module
from tenure.app.keys import create_key
from tenure.app.store import Goal, GoalHistory, Store
from tenure.workspace import Workspace

TODAY = dt.date.today()
DATES = {
    "start_date": str(TODAY - dt.timedelta(days=30)),
    "due_date": str(TODAY + dt.timedelta(days=60)),
}
NRR_GOAL = {"kind": "metric", "metric": "nrr", "start_value": 90, "target_value": 110}


@pytest.fixture
def client(demo_ws: tuple[Workspace, demo.DemoResult], store: Store) -> TestClient:
    return TestClient(create_app(demo_ws[0], store, base_url="http://testserver"))


def _key(store: Store, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(store, role, role)}"}


def _plan(client: TestClient, key: dict[str, str]) -> tuple[str, float]:
    """A plan and its NRR in the last complete month, read from the metrics API."""
    last = (TODAY.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    page = client.get(
        "/api/metrics",
        headers=key,
        params={"names": "nrr", "by": "plan", "from": str(last), "to": str(last)},
    ).json()
    row = next(r for r in page["items"] if r["value"] is not None)
    return str(row["plan"]), float(row["value"])


def test_a_segment_metric_goal_is_edited_in_every_field(client: TestClient, store: Store) -> None:
    editor = _key(store, "editor")
    plan, nrr = _plan(client, editor)
    body = {
        "name": "NRR of one plan",
        "kind": "metric",
        "metric": "nrr",
        "segment_by": "plan",
        "segment_value": plan,
        "unit": "number",  # the catalog's unit wins
        "start_value": 80,
        "target_value": 120,
        **DATES,
    }
    made = client.post("/api/goals", headers=editor, json=body)
    assert made.status_code == 201, made.text
    goal = made.json()
    assert goal["unit"] == "percent" and goal["value"] == pytest.approx(nrr)
    assert goal["progress"] == pytest.approx(max(0, min(100, (nrr - 80) / 40 * 100)))
    listed = client.get("/api/goals", headers=editor).json()
    assert listed["reporting_currency"] == "USD" and listed["items"][0]["segment_value"] == plan

    moved = client.patch(
        f"/api/goals/{goal['id']}",
        headers=editor,
        json={
            "metric": "mrr",
            "segment_by": None,
            "segment_value": None,
            "start_value": 0,
            "target_value": 10_000_000,
            "start_date": str(TODAY - dt.timedelta(days=10)),
        },
    )
    assert moved.status_code == 200, moved.text
    changed = moved.json()
    assert (changed["metric"], changed["unit"], changed["segment_by"]) == ("mrr", "currency", None)
    assert changed["start_date"] == str(TODAY - dt.timedelta(days=10))
    history = client.get(f"/api/goals/{goal['id']}/history", headers=editor).json()
    assert len(history) == 2 and history[1]["value"] == changed["value"] != history[0]["value"]

    half = client.patch(f"/api/goals/{goal['id']}", headers=editor, json={"segment_by": "plan"})
    assert half.status_code == 400 and "go together" in half.json()["detail"]


def test_a_task_list_goal_counts_done_tasks(client: TestClient, store: Store) -> None:
    editor = _key(store, "editor")
    tasks = [{"title": "Kick-off", "done": True}, {"title": "Train"}, {"title": "Go live"}]
    goal = client.post(
        "/api/goals",
        headers=editor,
        json={"name": "Onboard Acme", "kind": "tasks", "tasks": tasks, **DATES},
    ).json()
    assert goal["value"] == 1 and goal["progress"] == pytest.approx(100 / 3)
    ticked = [{**t, "done": True} for t in tasks]
    done = client.patch(f"/api/goals/{goal['id']}", headers=editor, json={"tasks": ticked}).json()
    assert done["progress"] == 100 and done["status"] == "done"
    untitled = client.patch(
        f"/api/goals/{goal['id']}", headers=editor, json={"tasks": [{"done": True}]}
    )
    assert untitled.status_code == 400 and "title" in untitled.json()["detail"]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"segment_by": "nonsense", "segment_value": "x"}, "nonsense"),
        ({"kind": "number", "segment_by": "plan", "segment_value": "pro"}, "only a metric goal"),
        ({"kind": "number", "unit": "parsecs"}, "unit must be one of"),
    ],
)
def test_a_goal_that_cannot_be_measured_is_not_stored(
    client: TestClient, store: Store, change: dict[str, Any], words: str
) -> None:
    editor = _key(store, "editor")
    body = {"name": "Bad", **NRR_GOAL, **DATES, **change}
    refused = client.post("/api/goals", headers=editor, json=body)
    assert refused.status_code == 400 and words in refused.json()["detail"], refused.text
    assert client.get("/api/goals", headers=editor).json()["total"] == 0


def test_a_viewer_reads_goals_but_cannot_change_them(client: TestClient, store: Store) -> None:
    editor, viewer = _key(store, "editor"), _key(store, "viewer")
    goal = client.post(
        "/api/goals",
        headers=editor,
        json={
            "name": "Cases",
            "kind": "number",
            "start_value": 0,
            "target_value": 4,
            "current_value": 1,
            **DATES,
        },
    ).json()
    assert client.get(f"/api/goals/{goal['id']}", headers=viewer).status_code == 200
    assert client.get(f"/api/goals/{goal['id']}/history", headers=viewer).status_code == 200
    assert client.post("/api/goals", headers=viewer, json={}).status_code == 403
    patched = client.patch(f"/api/goals/{goal['id']}", headers=viewer, json={"target_value": 9})
    assert patched.status_code == 403
    assert client.delete(f"/api/goals/{goal['id']}", headers=viewer).status_code == 403
    assert client.get(f"/api/goals/{goal['id']}", headers=viewer).json()["target_value"] == 4


def test_goals_read_from_the_cache_show_every_change_to_the_app_store(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The goal list and a goal's history are answered from the cache until this process
    writes to the app store (through any Store on it): reads leave its state alone."""
    monkeypatch.setattr(store_module, "STORE_READ_SECONDS", 3600.0)  # not renewed by the clock
    editor = _key(store, "editor")
    tasks = [{"title": "Kick-off", "done": True}, {"title": "Go live"}]
    body = {"name": "Onboard Acme", "kind": "tasks", "tasks": tasks, **DATES}
    goal = client.post("/api/goals", headers=editor, json=body).json()
    first = client.get("/api/goals", headers=editor).json()
    state = store.state()
    history = client.get(f"/api/goals/{goal['id']}/history", headers=editor).json()
    again = client.get("/api/goals", headers=editor)
    assert again.json() == first and again.headers["X-Tenure-Cache"] == "hit"
    repeated = client.get(f"/api/goals/{goal['id']}/history", headers=editor)
    assert repeated.json() == history and repeated.headers["X-Tenure-Cache"] == "hit"
    assert store.state()[0] == state[0]  # reads wrote nothing
    other = Store(store.url)  # as a CLI command run by the server opens it
    try:
        with other.session() as session:
            renamed = session.get(Goal, goal["id"])
            assert renamed is not None
            renamed.name = "Onboard Acme Corp"
            session.add(GoalHistory(goal_id=goal["id"], value=2, progress=100, status="done"))
    finally:
        other.dispose()
    assert store.state()[0] == state[0] + 1
    kept = len(client.app.state.cache)  # type: ignore[attr-defined]
    names = [g["name"] for g in client.get("/api/goals", headers=editor).json()["items"]]
    assert names == ["Onboard Acme Corp"]
    later = client.get(f"/api/goals/{goal['id']}/history", headers=editor).json()
    assert len(later) == len(history) + 1 and later[-1]["status"] == "done"
    # Each answer took the place of its earlier one: none is left behind per store state.
    assert len(client.app.state.cache) == kept  # type: ignore[attr-defined]


def test_a_metric_goals_progress_is_read_once_per_data_version(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list is answered again after any write to the app store, and at least every few
    seconds; the progress of a goal it holds is computed again only when the goal or the data
    changed."""
    monkeypatch.setattr(store_module, "STORE_READ_SECONDS", 3600.0)
    editor = _key(store, "editor")
    body = {"name": "NRR", **NRR_GOAL}
    assert client.post("/api/goals", headers=editor, json={**body, **DATES}).status_code == 201
    viewed: list[int] = []
    view = goal_rules.view
    monkeypatch.setattr(goal_rules, "view", lambda *a, **k: viewed.append(1) or view(*a, **k))
    first = client.get("/api/goals", headers=editor)
    _key(store, "viewer")  # a write to the app store that no goal depends on
    again = client.get("/api/goals", headers=editor)
    assert first.headers["X-Tenure-Cache"] == again.headers["X-Tenure-Cache"] == "miss"
    assert again.json() == first.json() and len(viewed) == 1
    renamed = client.patch(
        f"/api/goals/{first.json()['items'][0]['id']}", headers=editor, json={"name": "NRR 110"}
    )
    assert renamed.status_code == 200 and len(viewed) == 2  # the answer to the edit
    listed = client.get("/api/goals", headers=editor).json()
    assert listed["items"][0]["name"] == "NRR 110" and len(viewed) == 3
