"""The REST API: authentication and roles, problem details, limits, metrics, accounts, goals,
surveys by signed links, ingestion and export."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import tenure
from tenure import demo
from tenure.api.app import create_app
from tenure.app import store as store_module
from tenure.app import surveys as survey_rules
from tenure.app.keys import create_key
from tenure.app.store import Invitation, Store
from tenure.models import account_snapshot
from tenure.workspace import Workspace


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("api")
    with tenure.connect(f"duckdb:///{folder / 'api.duckdb'}") as ws:
        demo.build(
            ws, folder / "demo", accounts=300, events=30_000, seed=3, as_of=dt.date(2026, 11, 1)
        )
        account_snapshot.refresh(ws)
        yield ws


@pytest.fixture
def client(workspace: Workspace, store: Store) -> TestClient:
    return TestClient(create_app(workspace, store, base_url="http://testserver"))


def _key(store: Store, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(store, role, role)}"}


def test_every_route_but_the_survey_form_needs_a_key(client: TestClient, store: Store) -> None:
    routes = [
        ("get", "/api/metrics?names=mrr"),
        ("get", "/api/metrics/catalog"),
        ("get", "/api/accounts"),
        ("get", "/api/goals"),
        ("post", "/api/goals"),
        ("get", "/api/surveys"),
        ("post", "/api/ingest/events"),
        ("get", "/api/export/accounts"),
        ("get", "/api/drill/mrr_churned?period=2026-03"),
    ]
    for method, path in routes:
        response = getattr(client, method)(path)
        assert response.status_code == 401, path
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/api/goals", headers={"Authorization": "Bearer tk_nope"})
    assert wrong.status_code == 401
    viewer = _key(store, "viewer")
    assert client.get("/api/goals", headers=viewer).status_code == 200
    denied = client.post("/api/goals", headers=viewer, json={})
    assert denied.status_code == 403 and "editor role" in denied.json()["detail"]
    assert client.get("/openapi.json").status_code == 200


def test_bad_requests_get_problem_details(client: TestClient, store: Store) -> None:
    editor = _key(store, "editor")
    malformed = client.post(
        "/api/goals", headers={**editor, "content-type": "application/json"}, content=b"{not json"
    )
    assert (
        malformed.status_code == 422
        and malformed.headers["content-type"] == "application/problem+json"
    )
    extra = client.post(
        "/api/goals",
        headers=editor,
        json={
            "name": "x",
            "kind": "number",
            "start_date": "2026-01-01",
            "due_date": "2026-02-01",
            "sql": "drop",
        },
    )
    assert extra.status_code == 422 and "sql" in extra.json()["detail"]
    big = client.post("/api/ingest/events", headers=editor, content=b"x" * 6_000_000)
    assert big.status_code == 413 and big.json()["title"] == "Request body too large"
    injected = client.get(
        "/api/metrics", headers=editor, params={"names": "mrr", "where": "1=1; DROP TABLE accounts"}
    )
    assert injected.status_code == 400 and "filter" in injected.json()["detail"]
    unknown = client.get("/api/metrics", headers=editor, params={"names": "vibes"})
    assert unknown.status_code == 400 and "unknown metric 'vibes'" in unknown.json()["detail"]
    grain = client.get(
        "/api/metrics", headers=editor, params={"names": "mrr", "grain": "fortnight"}
    )
    assert grain.status_code == 422
    nul = client.get("/api/accounts/A%00B", headers=editor)
    assert nul.status_code == 400 and "NUL" in nul.json()["detail"]
    ancient = client.get("/api/cohorts", headers=editor, params={"from": "0001-01-01"})
    assert ancient.status_code == 422


def test_metrics_accounts_drill_and_export(
    client: TestClient, store: Store, workspace: Workspace
) -> None:
    viewer = _key(store, "viewer")
    params: dict[str, Any] = {
        "names": ["mrr", "customers"],
        "from": "2026-01-01",
        "to": "2026-06-01",
        "by": "plan",
        "limit": 5,
    }
    page = client.get("/api/metrics", headers=viewer, params=params).json()
    frame = workspace.metrics(
        ["mrr", "customers"], start=dt.date(2026, 1, 1), end=dt.date(2026, 6, 1), by=["plan"]
    )
    assert page["total"] == len(frame) and len(page["items"]) == 5
    assert page["items"][0]["value"] == str(frame.iloc[0]["value"])  # money as exact decimals
    second = client.get("/api/metrics", headers=viewer, params={**params, "offset": 5}).json()
    assert second["items"][0] != page["items"][0]
    accounts = client.get(
        "/api/accounts", headers=viewer, params={"band": "red", "limit": 3}
    ).json()
    assert all(a["band"] == "red" for a in accounts["items"]) and accounts["total"] >= len(
        accounts["items"]
    )
    one = accounts["items"][0]["account_id"]
    detail = client.get(f"/api/accounts/{one}", headers=viewer).json()
    assert detail["account_id"] == one and 0 <= detail["health"] <= 100
    assert client.get("/api/accounts/NOPE", headers=viewer).status_code == 404
    churned = client.get("/api/drill/mrr_churned", headers=viewer, params={"period": "2026-03"})
    assert churned.status_code == 200 and all(r["mrr_churned"] is not None for r in churned.json())
    csv = client.get("/api/export/accounts", headers=viewer)
    assert csv.status_code == 200 and csv.text.startswith("account_id,")


def test_goals_of_every_kind_with_progress_status_and_history(
    client: TestClient, store: Store
) -> None:
    editor = _key(store, "editor")
    today = dt.date.today()
    half = {
        "start_date": str(today - dt.timedelta(days=50)),
        "due_date": str(today + dt.timedelta(days=50)),
    }
    number = client.post(
        "/api/goals",
        headers=editor,
        json={
            "name": "Case studies",
            "kind": "number",
            "start_value": 0,
            "target_value": 10,
            "current_value": 5,
            **half,
        },
    ).json()
    assert number["progress"] == pytest.approx(50) and number["status"] == "on_track"
    behind = client.patch(
        f"/api/goals/{number['id']}", headers=editor, json={"current_value": 2}
    ).json()
    assert behind["status"] == "off_track"
    at_risk = client.patch(
        f"/api/goals/{number['id']}", headers=editor, json={"current_value": 3.5}
    ).json()
    assert at_risk["status"] == "at_risk"
    tasks = client.post(
        "/api/goals",
        headers=editor,
        json={
            "name": "Launch QBRs",
            "kind": "tasks",
            "tasks": [{"title": "a", "done": True}, {"title": "b"}, {"title": "c"}, {"title": "d"}],
            "display": "pie",
            **half,
        },
    ).json()
    assert tasks["progress"] == pytest.approx(25)
    flag = client.post(
        "/api/goals", headers=editor, json={"name": "SOC 2", "kind": "boolean", **half}
    ).json()
    assert (
        client.patch(f"/api/goals/{flag['id']}", headers=editor, json={"done": True}).json()[
            "status"
        ]
        == "done"
    )
    metric = client.post(
        "/api/goals",
        headers=editor,
        json={
            "name": "NRR",
            "kind": "metric",
            "metric": "nrr",
            "start_value": 90,
            "target_value": 110,
            "display": "thermometer",
            **half,
        },
    )
    assert metric.status_code == 201 and metric.json()["value"] is not None
    bad = client.post(
        "/api/goals",
        headers=editor,
        json={"name": "x", "kind": "metric", "metric": "vibes", **half},
    )
    assert bad.status_code == 400 and "unknown metric" in bad.json()["detail"]
    history = client.get(f"/api/goals/{number['id']}/history", headers=editor).json()
    assert [h["status"] for h in history] == ["on_track", "off_track", "at_risk"]
    listed = client.get("/api/goals", headers=editor, params={"limit": 2}).json()
    assert listed["total"] == 4 and len(listed["items"]) == 2
    assert client.delete(f"/api/goals/{number['id']}", headers=editor).status_code == 204
    assert client.get(f"/api/goals/{number['id']}", headers=editor).status_code == 404


def _survey(client: TestClient, key: dict[str, str], name: str, kind: str) -> dict[str, Any]:
    body = {"name": name, "kind": kind, "question": "How likely are you to recommend us?"}
    created: dict[str, Any] = client.post("/api/surveys", headers=key, json=body).json()
    return created


def test_survey_links_are_signed_single_use_and_expire(
    client: TestClient, store: Store, workspace: Workspace
) -> None:
    editor = _key(store, "editor")
    survey = _survey(client, editor, "<b>Q4</b> NPS", "nps")
    assert (survey["scale_min"], survey["scale_max"]) == (0, 10)
    invite = client.post(
        f"/api/surveys/{survey['id']}/invitations",
        headers=editor,
        json={"account_id": "A000007", "user_id": "U1"},
    ).json()
    token = invite["token"]
    assert invite["url"] == f"http://testserver/s/{token}"
    page = client.get(f"/s/{token}")
    assert (
        page.status_code == 200
        and '<form method="post"' in page.text
        and "<script" not in page.text
    )
    assert "&lt;b&gt;Q4&lt;/b&gt; NPS" in page.text  # the survey's name is escaped
    payload, signature = token.split(".")
    forged = f"{payload}.{signature[:-2]}AA"
    assert client.get(f"/s/{forged}").status_code == 404
    other = survey_rules._b64(b'{"i": 1, "e": 9999999999}')
    assert client.post(f"/s/{other}.{signature}", data={"score": 10}).status_code == 404
    assert client.post(f"/s/{token}", data={"score": 11}).status_code == 422
    comment = "<script>alert('x')</script> ottimo servizio"
    done = client.post(f"/s/{token}", data={"score": 9, "comment": comment})
    assert done.status_code == 200 and "Your answer has been recorded" in done.text
    assert client.post(f"/s/{token}", data={"score": 1}).status_code == 410  # one answer per token
    assert client.get(f"/s/{token}").status_code == 410
    stored = workspace.table("survey_responses")
    row = stored.filter(
        stored.account_id == "A000007",
        stored.comment.notnull(),
        stored.response_id.startswith("INV"),
    ).to_pandas()
    assert list(row.comment) == [comment] and list(row.score) == [9.0]
    rates = client.get("/api/surveys/response-rates", headers=editor).json()
    assert [(r["invitations"], r["responses"], r["response_rate"]) for r in rates] == [
        (1, 1, 100.0)
    ]
    answers = client.get(f"/api/surveys/{survey['id']}/responses", headers=editor).json()
    assert [a["comment"] for a in answers] == [comment]
    late = client.post(
        f"/api/surveys/{survey['id']}/invitations", headers=editor, json={"days": 1}
    ).json()["token"]
    with store.session() as session:
        number = max(i.id for i in session.query(Invitation).all())
        session.get(Invitation, number).expires_at = dt.datetime(2020, 1, 1)  # type: ignore[union-attr]
    assert client.get(f"/s/{late}").status_code == 410


def test_response_rates_split_by_segment_and_keep_filtered_accounts(
    client: TestClient, store: Store, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this process's writes renew the cached answer here, not the clock's interval.
    monkeypatch.setattr(store_module, "STORE_READ_SECONDS", 3600.0)
    editor = _key(store, "editor")
    survey = _survey(client, editor, "Onboarding CSAT", "csat")
    accounts = workspace.table("accounts").select("account_id", "plan").to_pandas()
    plans = sorted(accounts["plan"].unique())[:2]
    invited = {p: list(accounts[accounts["plan"] == p]["account_id"][:3]) for p in plans}
    answered = {plans[0]: 2, plans[1]: 1}
    for plan, ids in invited.items():
        for n, account in enumerate(ids):
            token = client.post(
                f"/api/surveys/{survey['id']}/invitations",
                headers=editor,
                json={"account_id": account, "channel": "in_app" if n == 2 else "email"},
            ).json()["token"]
            if n < answered[plan]:
                assert client.post(f"/s/{token}", data={"score": 5}).status_code == 200

    def rates(**params: object) -> list[dict[str, object]]:
        found = client.get("/api/surveys/response-rates", headers=editor, params=params).json()
        return [r for r in found if r["survey_id"] == survey["id"]]

    by_plan = {(r["plan"], r["channel"]): r for r in rates(by="plan")}
    assert {k: (r["invitations"], r["responses"]) for k, r in by_plan.items()} == {
        (plans[0], "email"): (2, 2),
        (plans[0], "in_app"): (1, 0),
        (plans[1], "email"): (2, 1),
        (plans[1], "in_app"): (1, 0),
    }
    assert by_plan[(plans[1], "email")]["response_rate"] == 50.0
    kept = rates(where=f"plan = '{plans[0]}'")
    assert [(r["channel"], r["invitations"], r["responses"]) for r in kept] == [
        ("email", 2, 2),
        ("in_app", 1, 0),
    ]
    assert rates(**{"from": "2100-01-01"}) == []
    unknown = client.get("/api/surveys/response-rates", headers=editor, params={"by": "colour"})
    assert unknown.status_code == 400 and "valid: " in unknown.json()["detail"]
    # Cached while nothing changes; an invitation answered or sent renews the answer at once.
    again = client.get("/api/surveys/response-rates", headers=editor, params={"by": "plan"})
    assert again.headers["X-Tenure-Cache"] == "hit"
    token = client.post(
        f"/api/surveys/{survey['id']}/invitations",
        headers=editor,
        json={"account_id": invited[plans[1]][0], "channel": "email"},
    ).json()["token"]
    assert {(r["plan"], r["channel"]): r["invitations"] for r in rates(by="plan")}[
        (plans[1], "email")
    ] == 3
    assert client.post(f"/s/{token}", data={"score": 4}).status_code == 200
    renewed = {(r["plan"], r["channel"]): r for r in rates(by="plan")}
    assert renewed[(plans[1], "email")]["responses"] == 2


def test_ingestion_reports_rejects_and_is_idempotent(client: TestClient, store: Store) -> None:
    editor = _key(store, "editor")
    unique = store.engine.dialect.name  # the workspace is shared by both app stores
    rows = [
        {
            "event_id": f"API1-{unique}",
            "occurred_at": "2026-10-20T10:00:00Z",
            "name": "page_view",
            "user_id": "U1",
            "account_id": "A000001",
        },
        {"event_id": "API2", "occurred_at": "yesterday", "name": "page_view", "user_id": "U1"},
    ]
    first = client.post("/api/ingest/events", headers=editor, json={"rows": rows})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["inserted"], body["rejected"]) == (1, 1)
    assert body["rejects"][0]["column"] == "occurred_at"
    again = client.post("/api/ingest/events", headers=editor, json={"rows": rows[:1]}).json()
    assert (again["inserted"], again["unchanged"]) == (0, 1)
    assert (
        client.post("/api/ingest/accounts", headers=editor, json={"rows": rows}).status_code == 404
    )
    assert client.post("/api/ingest/events", headers=editor, json={"rows": []}).status_code == 422


def test_goals_and_keys_from_the_command_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from tenure.cli import app

    runner = CliRunner()
    app_db = f"sqlite:///{tmp_path / 'cli-app.db'}"
    common = ["--app-db", app_db, "--db", f"duckdb:///{tmp_path / 'cli.duckdb'}"]
    made = runner.invoke(
        app,
        [
            "goals",
            "add",
            "Onboard EMEA",
            "--kind",
            "tasks",
            "--task",
            "a",
            "--task",
            "b",
            "--due",
            "2099-01-01",
            *common,
        ],
    )
    assert made.exit_code == 0, made.output
    ticked = runner.invoke(app, ["goals", "set", "1", "--task-done", "2", *common])
    assert ticked.exit_code == 0, ticked.output
    listed = runner.invoke(app, ["goals", "list", "--format", "csv", *common])
    assert "Onboard EMEA,tasks,,1.0,1.0,50.0" in listed.output
    wrong = runner.invoke(app, ["goals", "set", "1", "--task-done", "7", *common])
    assert wrong.exit_code == 2 and "task 7 does not exist" in wrong.output
    key = runner.invoke(app, ["keys", "create", "ops", "--role", "editor", "--app-db", app_db])
    assert key.exit_code == 0 and key.output.startswith("tk_")
    bad = runner.invoke(app, ["keys", "create", "ops", "--role", "root", "--app-db", app_db])
    assert bad.exit_code == 2 and "unknown role 'root'" in bad.output


def test_dashboards_are_per_key_and_metric_results_follow_new_loads(
    client: TestClient, store: Store, workspace: Workspace
) -> None:
    mine, theirs = _key(store, "viewer"), _key(store, "viewer")
    saved = client.put(
        "/api/dashboard", headers=mine, json={"widgets": [{"metric": "mrr", "type": "line"}]}
    )
    assert saved.status_code == 200
    assert client.get("/api/dashboard", headers=mine).json()["widgets"][0]["metric"] == "mrr"
    assert client.get("/api/dashboard", headers=theirs).json() == {"widgets": []}
    bad = client.put(
        "/api/dashboard", headers=mine, json={"widgets": [{"metric": "vibes", "type": "line"}]}
    )
    assert bad.status_code == 400
    editor = _key(store, "editor")
    params = {"names": "survey_responses", "from": "2026-10-01", "to": "2026-10-01"}
    before = client.get("/api/metrics", headers=editor, params=params).json()["items"][0]["value"]
    answer = {
        "response_id": f"CACHE-{store.engine.dialect.name}",
        "survey": "csat",
        "score": 5,
        "responded_at": "2026-10-10T10:00:00Z",
    }
    assert (
        client.post(
            "/api/ingest/survey_responses", headers=editor, json={"rows": [answer]}
        ).status_code
        == 200
    )
    after = client.get("/api/metrics", headers=editor, params=params).json()["items"][0]["value"]
    assert after == before + 1  # the cached result was dropped by the load


def test_dashboard_sessions_are_signed_expire_and_guard_writes(
    client: TestClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from itsdangerous import TimestampSigner

    from tenure.app import auth
    from tenure.app.keys import check_key

    token = create_key(store, "browser", "editor")
    record = check_key(store, token)
    assert record is not None
    cookie = auth.issue(store, record)
    resolved = auth.resolve(store, cookie)
    assert resolved is not None and resolved.id == record.id
    session = {auth.COOKIE: cookie, auth.CSRF_COOKIE: "c" * 32}
    client.cookies.update(session)
    try:
        assert client.get("/api/goals").status_code == 200
        unguarded = client.post("/api/surveys", json={})
        assert unguarded.status_code == 403 and "X-CSRF-Token" in unguarded.json()["detail"]
        guarded = client.post("/api/surveys", json={}, headers={"X-CSRF-Token": "c" * 32})
        assert guarded.status_code == 422  # past the session and CSRF checks, to the body
        payload, stamp, signature = cookie.split(".")
        for forged in (
            f"{payload}.{stamp}.{signature[:-2]}AA",  # tampered signature
            f"{auth.issue(store, record).split('.')[0][:-1]}x.{stamp}.{signature}",  # other id
        ):
            assert auth.resolve(store, forged) is None
            client.cookies.set(auth.COOKIE, forged)
            assert client.get("/api/goals").status_code == 401
        # A cookie issued 13 hours ago is past the 12-hour session.
        issued_at = int(dt.datetime.now(dt.UTC).timestamp()) - 13 * 3600
        monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: issued_at)
        old = auth.issue(store, record)
        monkeypatch.undo()
        assert auth.resolve(store, old, max_age=14 * 3600) is not None  # genuine, only old
        assert auth.resolve(store, old) is None
        client.cookies.set(auth.COOKIE, old)
        assert client.get("/api/goals").status_code == 401
    finally:
        client.cookies.clear()


def test_saved_views_round_trip_per_key(client: TestClient, store: Store) -> None:
    mine, theirs = (
        {"Authorization": f"Bearer {create_key(store, name, 'viewer')}"}
        for name in ("mine", "theirs")
    )
    view = {"page": "accounts", "name": "Red, cancelling", "params": {"band": "red", "sort": "arr"}}
    saved = client.put("/api/views", headers=mine, json=view)
    assert saved.status_code == 200, saved.text
    again = client.put("/api/views", headers=mine, json={**view, "params": {"band": "yellow"}})
    assert again.json()["id"] == saved.json()["id"]  # same page and name: replaced
    listed = client.get("/api/views", headers=mine, params={"page": "accounts"}).json()
    assert listed == [{**view, "id": saved.json()["id"], "params": {"band": "yellow"}}]
    assert client.get("/api/views", headers=theirs, params={"page": "accounts"}).json() == []
    view_id = saved.json()["id"]
    assert client.delete(f"/api/views/{view_id}", headers=theirs).status_code == 404
    assert client.delete(f"/api/views/{view_id}", headers=mine).status_code == 204
    assert client.get("/api/views", headers=mine, params={"page": "accounts"}).json() == []
    bad = client.put("/api/views", headers=mine, json={**view, "page": "nowhere"})
    assert bad.status_code == 422
