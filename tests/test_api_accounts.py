"""The Accounts API reads the account snapshot: search, band, paying, cancelling and attribute
filters, sorting by a whitelisted column either way, paging, one account with its health
components, 503 with Retry-After before the first snapshot, and user text treated as text."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import tenure
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.models import account_snapshot as snapshot
from tenure.models.health import HealthModel
from tenure.workspace import Workspace
from tests.books import _load, day, load_book, sub

BOOK_DAY = dt.date(2026, 11, 1)
HOSTILE = "'; DROP TABLE account_snapshot; --"
ACCOUNTS = {
    "A": {"name": "Acme 100% Corp", "plan": "starter", "owner": "ann"},
    "B": {"name": "O'Brien_Co", "plan": "pro", "owner": "bob"},
    "C": {"name": "Cedar", "plan": "pro", "owner": "ann"},
    "D": {"name": "Delta", "plan": "pro", "owner": "bob"},
    "E": {"name": "Echo", "plan": "pro", "owner": "ann"},
    "F": {"name": "Fjord", "plan": "pro", "owner": "bob"},
    "G": {"name": f"<b>Gamma</b>{HOSTILE}", "plan": "pro", "owner": "ann"},
    "H": {"name": "Hotel", "plan": "pro", "owner": "bob"},
    "I": {"name": "India", "plan": "pro", "owner": "ann"},
}
SUBSCRIPTIONS = [
    sub("A", 50, "2026-01-15", "2026-06-15", plan="starter"),
    sub("A", 200, "2026-06-15", plan="pro"),
    sub("B", 1200, "2025-03-10", plan="enterprise", billing_period=12, trial_ends_at="2025-03-24"),
    sub("C", 80, "2026-01-05", canceled_at="2026-10-20"),
    sub("D", 90, "2026-02-01", "2026-12-31", canceled_at="2026-09-30"),
    sub("E", 30, "2026-03-03", plan="addon", canceled_at="2026-10-01"),
    sub("E", 300, "2026-03-20", plan="team"),
    sub("F", 40, "2025-01-01", "2026-03-01"),
    sub("H", 70, "2026-10-01", billing_period=2, billing_unit="week"),
    sub("I", 10, "2026-09-01"),
]
# MRR: E 330, A 200, H 70 a fortnight = 151.67, B 100, D 90, C 80, I 10; F and G none.
BY_ARR = ["E", "A", "H", "B", "D", "C", "I"]


def _company(ws: Workspace) -> None:
    load_book(ws, SUBSCRIPTIONS, accounts=ACCOUNTS)
    _load(ws, "users", [{"user_id": f"U{a}", "account_id": a} for a in ACCOUNTS])
    _load(
        ws,
        "events",
        [
            {
                "event_id": f"E{n}",
                "account_id": a,
                "user_id": f"U{a}",
                "name": "login",
                "occurred_at": day(t),
            }
            for n, (a, t) in enumerate(
                [("A", "2026-10-30T12:00:00"), ("E", "2026-10-20T08:00:00"), ("A", "2026-10-12")]
            )
        ],
    )
    _load(
        ws,
        "tickets",
        [
            {
                "ticket_id": "T1",
                "account_id": "A",
                "channel": "email",
                "opened_at": day("2026-10-01"),
                "resolved_at": None,
                "status": "open",
            }
        ],
    )
    _load(
        ws,
        "survey_responses",
        [
            {
                "response_id": "R1",
                "account_id": "A",
                "survey": "nps",
                "score": 3,
                "responded_at": day("2026-10-01"),
            }
        ],
    )


# The worklist reads the account snapshot; the app store only holds the caller's key.
pytestmark = pytest.mark.app_store_not_under_test


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("accounts")
    with tenure.connect(f"duckdb:///{folder / 'accounts.duckdb'}") as ws:
        _company(ws)
        assert snapshot.refresh(ws, as_of=BOOK_DAY) == len(ACCOUNTS)
        yield ws


@pytest.fixture
def client(workspace: Workspace, store: Store) -> TestClient:
    return TestClient(create_app(workspace, store, base_url="http://testserver"))


@pytest.fixture
def viewer(store: Store) -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(store, 'viewer', 'viewer')}"}


def _get(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = client.get("/api/accounts", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _ids(client: TestClient, headers: dict[str, str], **params: Any) -> tuple[list[str], int]:
    body = _get(client, headers, **params)
    return [row["account_id"] for row in body["items"]], body["total"]


def test_the_worklist_is_the_snapshot_with_its_freshness(
    client: TestClient, viewer: dict[str, str]
) -> None:
    body = _get(client, viewer, sort="account_id", order="asc")
    assert body["total"] == len(ACCOUNTS) and body["limit"] == 100 and body["offset"] == 0
    assert [r["account_id"] for r in body["items"]] == sorted(ACCOUNTS)
    assert body["reporting_currency"] == "USD"
    info = body["snapshot"]
    assert info["as_of"] == "2026-11-01" and info["stale"] is False
    assert info["accounts"] == len(ACCOUNTS) and info["refreshed_at"].endswith("Z")
    rows = {r["account_id"]: r for r in body["items"]}
    a = rows["A"]
    assert (a["name"], a["owner"], a["paid_plan"]) == ("Acme 100% Corp", "ann", "pro")
    assert Decimal(a["arr"]) == Decimal(2400) and Decimal(a["mrr"]) == Decimal(200)
    assert a["next_renewal"] == "2026-11-15" and a["scheduled_churn_on"] is None
    assert a["open_tickets"] == 1 and a["last_nps"] == 3
    assert a["last_activity"] == "2026-10-30T12:00:00Z"  # stored in UTC, said with its zone
    assert a["band"] in snapshot.BANDS and 0 <= a["health"] <= 100
    assert "NPS 3 (detractor)" in a["health_drivers"]
    assert a["churn_probability"] is None and a["churn_drivers"] is None  # no churn model
    assert rows["C"]["scheduled_churn_on"] == "2026-11-05" and rows["C"]["next_renewal"] is None
    assert rows["G"]["health"] is None and rows["G"]["paying"] is False
    assert "health_components" not in a  # only on the account itself


def test_sort_either_way_and_page_through(client: TestClient, viewer: dict[str, str]) -> None:
    ids, total = _ids(client, viewer, sort="arr", order="desc")
    assert ids[:7] == BY_ARR and sorted(ids[7:]) == ["F", "G"] and total == 9
    up, _ = _ids(client, viewer, sort="arr", order="asc")
    assert up[2:] == BY_ARR[::-1]
    pages = [_ids(client, viewer, sort="arr", limit=4, offset=o) for o in (0, 4, 8)]
    assert [p[0] for p in pages] == [ids[:4], ids[4:8], ids[8:]]
    assert {p[1] for p in pages} == {9}
    assert _ids(client, viewer, sort="arr", offset=50) == ([], 9)
    names, _ = _ids(client, viewer, sort="name", order="asc")
    assert names[:3] == ["G", "A", "C"]  # "<b>…" sorts before letters
    renewals, _ = _ids(client, viewer, sort="next_renewal", order="asc")
    assert renewals[:3] == ["I", "H", "A"]  # 11-01, 11-12, 11-15; NULLs last


def test_filters_narrow_the_list(client: TestClient, viewer: dict[str, str]) -> None:
    everyone = _get(client, viewer, sort="account_id", order="asc")["items"]
    asc = {"sort": "account_id", "order": "asc"}
    assert _ids(client, viewer, cancelling=True, **asc) == (["C", "D"], 2)
    assert _ids(client, viewer, cancelling=False, **asc)[1] == 7
    assert _ids(client, viewer, paying=False, **asc) == (["F", "G"], 2)
    assert _ids(client, viewer, where="owner = 'bob'", **asc) == (["B", "D", "F", "H"], 4)
    assert _ids(client, viewer, search="ACME", **asc) == (["A"], 1)
    assert _ids(client, viewer, search="OTE", paying=True, **asc) == (["H"], 1)  # Hotel
    assert _ids(client, viewer, search="EDA", cancelling=True, **asc) == (["C"], 1)  # Cedar
    assert _ids(client, viewer, search="EDA", cancelling=False, **asc) == ([], 0)
    bands = {r["band"] for r in everyone if r["band"]}
    assert bands
    for band in bands:
        chosen = [r["account_id"] for r in everyone if r["band"] == band]
        assert _ids(client, viewer, band=band, **asc) == (chosen, len(chosen))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("%", ["A"]),
        ("_", ["B", "G"]),  # O'Brien_Co, account_snapshot
        ("o'b", ["B"]),
        (HOSTILE, ["G"]),  # it is in G's name, and matches as text
        ("<b>", ["G"]),
        ('" OR 1=1 --', []),
        ("%' OR '1'='1", []),
    ],
)
def test_hostile_search_text_is_text(
    client: TestClient, viewer: dict[str, str], text: str, expected: list[str]
) -> None:
    assert _ids(client, viewer, search=text, sort="account_id", order="asc") == (
        expected,
        len(expected),
    )
    assert _ids(client, viewer, limit=1)[1] == len(ACCOUNTS)  # the snapshot is still there


def test_bad_options_are_problems(client: TestClient, viewer: dict[str, str]) -> None:
    for sort in ("name; DROP TABLE x", "health_drivers", "nope"):
        bad = client.get("/api/accounts", headers=viewer, params={"sort": sort})
        assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"
        detail = bad.json()["detail"]
        assert f"cannot sort by {sort!r}" in detail
        assert "choose one of: account_id, name, owner, paid_plan, mrr, arr" in detail
    for params in (
        {"order": "sideways"},
        {"band": "purple"},
        {"limit": 0},
        {"limit": 1001},
        {"offset": -1},
        {"where": "x" * 501},
        {"paying": "maybe"},
    ):
        assert client.get("/api/accounts", headers=viewer, params=params).status_code == 422
    unknown = client.get("/api/accounts", headers=viewer, params={"where": "colour = 'red'"})
    assert unknown.status_code == 400 and "unknown column 'colour'" in unknown.json()["detail"]
    assert client.get("/api/accounts").status_code == 401


def test_one_account_with_its_health_components(client: TestClient, viewer: dict[str, str]) -> None:
    response = client.get("/api/accounts/A", headers=viewer)
    assert response.status_code == 200
    a = response.json()
    assert a["name"] == "Acme 100% Corp" and a["reporting_currency"] == "USD"
    model = HealthModel.load()
    components = model.segments[0].components
    assert [c["component"] for c in a["health_components"]] == [c.name for c in components]
    assert [c["weight"] for c in a["health_components"]] == [c.weight for c in components]
    scores = [c["score"] for c in a["health_components"]]
    assert all(0 <= s <= 100 for s in scores)
    # The health score is the weighted mean of the component scores.
    weighted = sum(c.weight * s for c, s in zip(components, scores, strict=True))
    assert a["health"] == pytest.approx(weighted / sum(c.weight for c in components))
    nps = next(c for c in a["health_components"] if c["component"] == "nps")
    assert nps["measure"] == "NPS 3 (detractor)"
    g = client.get("/api/accounts/G", headers=viewer).json()
    assert g["name"] == ACCOUNTS["G"]["name"] and g["health_components"] is None
    missing = client.get("/api/accounts/NOPE", headers=viewer)
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"


def test_the_timeline_reads_the_snapshot_mrr_history(
    client: TestClient, viewer: dict[str, str], workspace: Workspace
) -> None:
    """A: 50 from 15 January 2026, 200 from 15 June (each month read at its end); the twelve
    months to the snapshot's, as the metric itself answers for A alone; G never paid."""
    body = client.get("/api/accounts/A/timeline", headers=viewer).json()
    months = [(row["period_start"], float(row["value"])) for row in body["mrr"]]
    assert months == [("2025-12-01", 0)] + [(f"2026-{m:02}-01", 50) for m in range(1, 6)] + [
        (f"2026-{m:02}-01", 200) for m in range(6, 12)
    ]
    first, last = dt.date(2025, 12, 1), dt.date(2026, 11, 1)
    for account in ("A", "E", "H", "G"):
        rows = client.get(f"/api/accounts/{account}/timeline", headers=viewer).json()["mrr"]
        metric = workspace.metrics(
            ["mrr"], start=first, end=last, where=f"account_id = '{account}'"
        )
        assert [float(r["value"]) for r in rows] == [float(v) for v in metric["value"]], account
    missing = client.get("/api/accounts/NOPE/timeline", headers=viewer).json()
    assert missing["mrr"] == [] and missing["events"] == []


def test_503_until_the_first_snapshot_then_stale_after_a_load(
    tmp_path: Path, store: Store, viewer: dict[str, str]
) -> None:
    with tenure.connect(f"duckdb:///{tmp_path / 'fresh.duckdb'}") as ws:
        _company(ws)
        client = TestClient(create_app(ws, store))
        for path in ("/api/accounts", "/api/accounts/A", "/api/accounts/A/timeline"):
            building = client.get(path, headers=viewer)
            assert building.status_code == 503, path
            assert building.headers["content-type"] == "application/problem+json"
            assert building.headers["retry-after"].isdigit()
            assert building.json()["detail"] == "the account snapshot is being built; retry shortly"
        # Writes go through the server's writer, as the CLI's do while it serves.
        live = client.app.state.live
        with live.writer(changes_data=False) as writer:
            snapshot.refresh(writer, as_of=BOOK_DAY)
        assert _get(client, viewer)["snapshot"]["stale"] is False
        event = {"event_id": "E99", "account_id": "B", "user_id": "UB", "name": "login"}
        with live.writer() as writer:
            _load(writer, "events", [{**event, "occurred_at": day("2026-10-31")}])
        body = _get(client, viewer)
        assert body["snapshot"]["stale"] is True and body["total"] == len(ACCOUNTS)
