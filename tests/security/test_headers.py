"""Finding 7: responses carried no Content-Security-Policy, X-Content-Type-Options,
Referrer-Policy or framing rule. Now the API, the dashboard pages, the public survey form, its
error pages and the static files all do; so does /docs,
whose Swagger UI is vendored."""

from __future__ import annotations

import re
import warnings
from importlib import resources

import pytest

from tenure.api.app import create_app
from tenure.api.security import POLICY
from tenure.app import surveys
from tenure.app.keys import create_key
from tenure.app.store import Store, Survey
from tenure.workspace import Workspace

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def _survey_link(store: Store) -> str:
    with store.session() as session:
        survey = Survey(name="NPS", kind="nps", question="Would you?", scale_min=0, scale_max=10)
        session.add(survey)
        session.flush()
        number = survey.id
    return "/s/" + surveys.invite(store, number, account_id="A1", user_id=None)


@pytest.fixture
def client(ws: Workspace, store: Store) -> TestClient:
    return TestClient(create_app(ws, store), follow_redirects=False)


def _policy(header: str) -> dict[str, str]:
    return {
        part.split(" ", 1)[0]: part.split(" ", 1)[1] if " " in part else ""
        for part in (p.strip() for p in header.split(";"))
    }


def _assert_secured(headers: dict[str, str] | object, policy: str = POLICY) -> None:
    assert headers["content-security-policy"] == policy  # type: ignore[index]
    assert headers["x-content-type-options"] == "nosniff"  # type: ignore[index]
    assert headers["referrer-policy"] == "no-referrer"  # type: ignore[index]
    assert headers["x-frame-options"] == "DENY"  # type: ignore[index]


def test_the_policy_allows_only_the_servers_own_scripts_and_styles() -> None:
    rules = _policy(POLICY)
    assert rules["script-src"] == "'self'" and rules["style-src"] == "'self'"
    assert rules["frame-ancestors"] == "'none'" and rules["base-uri"] == "'none'"
    assert rules["object-src"] == "'none'" and rules["form-action"] == "'self'"
    assert "unsafe" not in POLICY


def test_every_kind_of_response_carries_the_headers(client: TestClient, store: Store) -> None:
    key = create_key(store, "cs", "admin")
    for response in (
        client.get("/api/goals", headers={"Authorization": f"Bearer {key}"}),  # API
        client.get("/api/goals"),  # a problem document (401)
        client.get("/login"),  # dashboard page
        client.get("/overview"),  # redirect to the login
        client.get(_survey_link(store)),  # the public survey form
        client.get("/s/not-a-token"),  # its error page
        client.get("/static/app.js"),
        client.post("/api/goals", content=b"x" * 6_000_000),  # refused by the body limit
    ):
        _assert_secured(response.headers)
    docs = client.get("/docs")
    _assert_secured(docs.headers)
    assert docs.status_code == 200


def test_the_pages_have_no_inline_script_or_style(client: TestClient, store: Store) -> None:
    """What the policy would block: inline <script>, <style>, style= and on...= attributes."""
    pages = [client.get(p).text for p in ("/login", _survey_link(store), "/docs")]
    templates = resources.files("tenure.web").joinpath("templates")
    pages += [
        t.read_text(encoding="utf-8") for t in templates.iterdir() if t.name.endswith(".html")
    ]
    for page in pages:
        assert not re.search(r"<style|<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=", page), page
