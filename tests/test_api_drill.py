"""Drill-through over the API: a period's accounts with the numerator and denominator of the ratio,
its CSV export (formula-safe), comments filtered by band, language, theme, survey and segment,
and saved views that round-trip per key."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterator

import pandas as pd
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

import tenure
from tenure import demo
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.text.feedback import bands
from tenure.workspace import Workspace

RANGE = {"from": "2026-01-01", "to": "2026-09-01"}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    folder = tmp_path_factory.mktemp("drill")
    with tenure.connect(f"duckdb:///{folder / 'drill.duckdb'}") as ws:
        demo.build(
            ws, folder / "demo", accounts=200, events=10_000, seed=5, as_of=dt.date(2026, 11, 1)
        )
        formula = {"response_id": "F1", "account_id": "A000001", "survey": "nps", "score": 1}
        ws.load(
            "survey_responses",
            pd.DataFrame(
                [{**formula, "comment": "=1+1 slow", "responded_at": dt.datetime(2026, 8, 3)}]
            ),
        )
        paying = ws.table("accounts").to_pandas().set_index("account_id")
        first = ws.drill("mrr", "2026-08")["account_id"].iloc[0]
        renamed = paying.loc[[first]].reset_index().assign(name="=HYPERLINK(1)")
        ws.load("accounts", renamed)
        yield ws


@pytest.fixture
def client(workspace: Workspace, store: Store) -> TestClient:
    return TestClient(create_app(workspace, store, base_url="http://testserver"))


def _key(store: Store, name: str = "viewer") -> dict[str, str]:
    return {"Authorization": f"Bearer {create_key(store, name, 'viewer')}"}


def test_a_drill_page_carries_the_ratio_behind_its_rows(client: TestClient, store: Store) -> None:
    key = _key(store)
    params = {"period": "2026-08", "limit": 5}
    page = client.get("/api/drill/customer_churn_rate/page", headers=key, params=params).json()
    metric = client.get(
        "/api/metrics",
        headers=key,
        params={"names": "customer_churn_rate", "from": "2026-08-01", "to": "2026-08-01"},
    ).json()["items"][0]
    assert (page["numerator"], page["denominator"]) == (metric["numerator"], metric["denominator"])
    assert page["value"] == metric["value"] and page["unit"] == "percent"
    assert page["definition"] == "customers_churned / customers_start"
    rows = client.get("/api/drill/customer_churn_rate", headers=key, params=params).json()
    assert page["total"] == len(rows) and len(page["items"]) == 5
    # The rows add up to the ratio's parts.
    assert sum(r["customers_churned"] for r in rows) == metric["numerator"]
    assert sum(r["customers_start"] for r in rows) == metric["denominator"]
    mrr = client.get("/api/drill/mrr/page", headers=key, params=params).json()
    assert mrr["denominator"] is None and mrr["numerator"] == mrr["value"]


def test_a_drill_exports_as_formula_safe_csv(client: TestClient, store: Store) -> None:
    key = _key(store)
    params = {"period": "2026-08", "format": "csv"}
    answer = client.get("/api/drill/mrr", headers=key, params=params)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="mrr-2026-08.csv"' in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    json_rows = client.get("/api/drill/mrr", headers=key, params={"period": "2026-08"}).json()
    assert [r["account_id"] for r in rows] == [r["account_id"] for r in json_rows]
    assert rows[0]["name"] == "'=HYPERLINK(1)"  # the biggest account, renamed to a formula
    bad = client.get("/api/drill/mrr", headers=key, params={**params, "format": "xlsx"})
    assert bad.status_code == 422


def test_comments_filter_by_band_language_theme_survey_and_segment(
    client: TestClient, store: Store, workspace: Workspace
) -> None:
    key = _key(store)

    def get(**filters: str) -> dict:  # type: ignore[type-arg]
        answer = client.get(
            "/api/feedback", headers=key, params={**RANGE, "limit": 1000, **filters}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()  # type: ignore[no-any-return]

    every = get()
    counts = pd.Series([c["band"] for c in every["items"]]).value_counts()
    for band in ("detractor", "passive", "promoter"):
        only = get(band=band)
        assert only["total"] == counts[band] and {c["band"] for c in only["items"]} == {band}
    # The engine's bands are the analysis's bands, answer by answer.
    raw = workspace.table("survey_responses").to_pandas()
    raw = raw[raw["comment"].notna()].set_index("response_id")
    shown = {c["response_id"]: c["band"] for c in every["items"]}
    expected = bands(raw.loc[list(shown)].reset_index(), workspace.definitions)
    assert list(expected) == list(shown.values())

    languages = pd.Series([c["language"] for c in every["items"]]).value_counts()
    japanese = get(language="ja")
    assert japanese["total"] == languages["ja"] and {c["language"] for c in japanese["items"]} == {
        "ja"
    }
    theme = every["themes"][0]["theme"]
    themed = get(theme=theme)
    assert 0 < themed["total"] < every["total"]
    assert all(theme in c["themes"] for c in themed["items"])
    assert themed["total"] == sum(theme in c["themes"] for c in every["items"])
    both = get(theme=theme, band="detractor", survey="nps")
    assert all(c["band"] == "detractor" and c["survey"] == "nps" for c in both["items"])
    assert both["total"] < themed["total"]
    plans = workspace.table("accounts").to_pandas().set_index("account_id")["plan"]
    plan = plans.dropna().iloc[0]
    segment = get(where=f"plan = '{plan}'")
    assert 0 < segment["total"] < every["total"]
    assert {plans[c["account_id"]] for c in segment["items"]} == {plan}
    assert get(theme="no such theme")["total"] == 0
    wrong = client.get("/api/feedback", headers=key, params={"band": "angry"})
    assert wrong.status_code == 422


def test_saved_views_round_trip_per_key(client: TestClient, store: Store) -> None:
    mine, theirs = _key(store, "mine"), _key(store, "theirs")
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


def test_a_cohort_cell_drills_to_its_accounts(client: TestClient, store: Store) -> None:
    key = _key(store)
    table = client.get("/api/cohorts", headers=key, params=RANGE).json()
    cell = next(c for c in table if c["offset"] == 3 and c["active"] < c["cohort_size"])
    params = {"cohort": cell["cohort"], "offset": 3}
    page = client.get("/api/cohorts/drill/page", headers=key, params=params).json()
    assert (page["numerator"], page["denominator"]) == (cell["active"], cell["cohort_size"])
    assert (
        page["value"] == pytest.approx(cell["retention"]) and page["total"] == cell["cohort_size"]
    )
    assert sum(r["active"] for r in page["items"]) == cell["active"]
    csv_rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    "/api/cohorts/drill", headers=key, params={**params, "format": "csv"}
                ).text
            )
        )
    )
    assert len(csv_rows) == cell["cohort_size"]
