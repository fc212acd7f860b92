"""Finding 2: a rule that would break the scheduler (`hours: "abc"`, a filter on a column the
accounts table does not have) was accepted with 201; it is a 400 naming the field, at creation
and on update."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.workspace import Workspace
from tests.test_automations import load_company

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

GOOD: dict[str, Any] = {
    "name": "open tickets",
    "trigger": {"type": "state_duration", "hours": 48},
    "actions": [{"kind": "task", "title": "{{ ticket_id }}"}],
}


@pytest.fixture
def setup(ws: Workspace, store: Store) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(create_app(load_company(ws), store))
    return client, {"Authorization": f"Bearer {create_key(store, 'e', 'editor')}"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trigger": {"type": "state_duration", "hours": "abc"}}, "trigger.hours"),
        ({"conditions": [{"where": "nosuch_column = 'x'"}]}, "conditions.0.where"),
        ({"actions": [{"kind": "task"}]}, "actions.0.title"),
        (
            {"actions": [{"kind": "webhook", "url": "http://h.example/", "extra": 1}]},
            "actions.0.extra",
        ),
    ],
)
def test_a_rule_that_cannot_run_is_a_400_naming_the_field(
    setup: tuple[TestClient, dict[str, str]], change: dict[str, Any], field: str
) -> None:
    client, editor = setup
    created = client.post("/api/automations", headers=editor, json={**GOOD, **change})
    assert created.status_code == 400, created.text
    assert created.json()["detail"].startswith(f"{field}: ")
    number = client.post("/api/automations", headers=editor, json=GOOD).json()["id"]
    patched = client.patch(f"/api/automations/{number}", headers=editor, json=change)
    assert patched.status_code == 400, patched.text
    assert patched.json()["detail"].startswith(f"{field}: ")
    (stored,) = client.get("/api/automations", headers=editor).json()
    assert stored["trigger"] == {"type": "state_duration", "hours": 48.0}  # unchanged
