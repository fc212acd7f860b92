"""Drill-through over the API: a period's accounts with the numerator and denominator of the ratio,
its CSV export (formula-safe), one feature's adopters, a funnel step's people, a survival point's
accounts at risk and a score band's accounts (each adding up to the chart's number), comments
filtered by band, language, theme, survey and segment, and saved views that round-trip per key."""

from __future__ import annotations

import csv
import datetime as dt
import io
import warnings
from collections.abc import Iterator

import httpx
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
from tenure.models import account_snapshot
from tenure.text.feedback import bands
from tenure.workspace import Workspace

RANGE = {"from": "2026-01-01", "to": "2026-09-01"}


# What these routes read is the analytical store; the app store only holds the caller's key.
pytestmark = pytest.mark.app_store_not_under_test


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
        account_snapshot.refresh(ws)  # what the server does after a load
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


def _csv(
    client: TestClient, key: dict[str, str], path: str, params: dict[str, object]
) -> list[dict[str, str]]:
    answer = client.get(path, headers=key, params={**params, "format": "csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(answer.text)))


def _problem(answer: httpx.Response, status: int) -> None:
    assert answer.status_code == status
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_feature_bar_drills_to_its_adopters(client: TestClient, store: Store) -> None:
    key = _key(store)
    bars = client.get(
        "/api/metrics",
        headers=key,
        params={
            "names": "feature_adoption_rate",
            "by": "feature",
            "from": "2026-08-01",
            "to": "2026-08-01",
        },
    ).json()["items"]
    bar = max(bars, key=lambda b: b["numerator"])
    params = {"period": "2026-08", "dimension": "feature", "value": bar["feature"]}
    page = client.get("/api/drill/feature_adoption_rate/page", headers=key, params=params).json()
    assert (page["numerator"], page["denominator"]) == (bar["numerator"], bar["denominator"])
    assert page["value"] == pytest.approx(bar["value"])
    assert {r["feature"] for r in page["items"]} == {bar["feature"]}
    # The adopters' users add up to the bar's numerator (in the demo a user has one account).
    assert sum(r["feature_users"] for r in page["items"]) == bar["numerator"]
    rows = _csv(client, key, "/api/drill/feature_adoption_rate", params)
    assert len(rows) == page["total"] > 0
    other = next(b for b in bars if b["feature"] != bar["feature"])
    elsewhere = client.get(
        "/api/drill/feature_adoption_rate/page",
        headers=key,
        params={**params, "value": other["feature"]},
    ).json()
    assert elsewhere["numerator"] == other["numerator"]
    lonely = {"period": "2026-08", "dimension": "feature"}
    _problem(client.get("/api/drill/feature_adoption_rate/page", headers=key, params=lonely), 400)
    wrong = {**params, "dimension": "channel"}
    _problem(client.get("/api/drill/feature_adoption_rate", headers=key, params=wrong), 400)


STEPS = ["visit", "signup", "onboarding_step", "converted_to_paid"]


def test_a_funnel_step_drills_to_the_people_who_reached_or_dropped(
    client: TestClient, store: Store
) -> None:
    key = _key(store)
    base = {"steps": STEPS, "window": 30, **RANGE}
    funnel = client.get("/api/funnel", headers=key, params=base).json()
    people = [sum(r["people"] for r in funnel if r["step"] == i) for i in range(1, 5)]
    assert people[0] > people[1] > 0
    for step in (1, 3):
        page = client.get(
            "/api/funnel/drill/page", headers=key, params={**base, "step": step}
        ).json()
        assert page["total"] == page["numerator"] == people[step - 1]
        assert page["denominator"] == people[0]
    dropped = {**base, "step": 2, "dropped": "true"}
    page = client.get("/api/funnel/drill/page", headers=key, params=dropped).json()
    assert page["total"] == page["numerator"] == people[0] - people[1]
    assert page["denominator"] == people[0]
    assert all(r.get("signup_at") is None for r in page["items"])
    assert len(_csv(client, key, "/api/funnel/drill", dropped)) == people[0] - people[1]
    # A filter keeps the people of the accounts it matches, in the chart and in its drill.
    only = {**base, "where": "country = 'DE'"}
    narrowed = client.get("/api/funnel", headers=key, params=only).json()
    reached = sum(r["people"] for r in narrowed if r["step"] == 2)
    page = client.get("/api/funnel/drill/page", headers=key, params={**only, "step": 2}).json()
    assert page["total"] == reached < people[1]
    _problem(client.get("/api/funnel/drill", headers=key, params={**base, "step": 5}), 400)
    _problem(
        client.get("/api/funnel/drill", headers=key, params={**base, "step": 1, "dropped": "true"}),
        400,
    )
    _problem(client.get("/api/funnel/drill", headers=key, params={**base, "step": 0}), 422)


def test_a_survival_point_drills_to_the_accounts_at_risk(client: TestClient, store: Store) -> None:
    key = _key(store)
    curve = client.get("/api/survival", headers=key).json()["curve"]
    point = next(p for p in curve[3:] if p["events"] > 0)
    params = {"days": point["duration"]}
    page = client.get(
        "/api/survival/drill/page", headers=key, params={**params, "limit": 1000}
    ).json()
    assert (page["numerator"], page["denominator"]) == (point["events"], point["at_risk"])
    assert page["total"] == point["at_risk"]
    assert sum(r["churned_here"] for r in page["items"]) == point["events"]
    assert all(r["duration_days"] >= point["duration"] - 1e-6 for r in page["items"])
    assert len(_csv(client, key, "/api/survival/drill", params)) == point["at_risk"]
    _problem(client.get("/api/survival/drill", headers=key, params={"days": -1}), 422)
    _problem(client.get("/api/survival/drill/page", headers=key, params={"days": "soon"}), 422)


def test_a_score_band_drills_to_its_accounts(client: TestClient, store: Store) -> None:
    key = _key(store)
    health = client.get("/api/scores/distribution", headers=key, params={"score": "health"}).json()
    assert [b["band"] for b in health] == ["red", "yellow", "green"]
    band = max(health, key=lambda b: b["accounts"])
    params = {"score": "health", "band": band["band"]}
    page = client.get(
        "/api/scores/drill/page", headers=key, params={**params, "limit": 1000}
    ).json()
    assert page["total"] == page["numerator"] == band["accounts"] > 0
    assert page["denominator"] == sum(b["accounts"] for b in health)
    assert {r["band"] for r in page["items"]} == {band["band"]}
    assert len(_csv(client, key, "/api/scores/drill", params)) == band["accounts"]
    churn = client.get("/api/scores/distribution", headers=key, params={"score": "churn"}).json()
    assert [b["band"] for b in churn][:2] == ["0-10", "10-20"] and len(churn) == 10
    only = {"score": "health", "where": "country = 'DE'"}
    narrowed = client.get("/api/scores/distribution", headers=key, params=only).json()
    assert 0 < sum(b["accounts"] for b in narrowed) < page["denominator"]
    _problem(
        client.get("/api/scores/drill", headers=key, params={"score": "health", "band": "10-20"}),
        400,
    )
    _problem(
        client.get("/api/scores/drill/page", headers=key, params={"score": "mood", "band": "red"}),
        422,
    )


def test_a_score_distribution_honours_the_filter_and_the_split(
    client: TestClient, store: Store, workspace: Workspace
) -> None:
    key = _key(store)
    base = {"survey": "nps", **RANGE}
    every = client.get("/api/surveys/distribution", headers=key, params=base).json()
    assert {b["score"] for b in every} <= set(range(11)) and len(every) > 5
    total = sum(b["answers"] for b in every)
    plans = workspace.table("accounts").to_pandas().set_index("account_id")["plan"]
    answers = workspace.table("survey_responses").to_pandas()
    day = answers["responded_at"].dt.date
    nps = answers[
        (answers["survey"] == "nps") & (day >= dt.date(2026, 1, 1)) & (day <= dt.date(2026, 9, 1))
    ]
    assert total == len(nps)  # the demo's workspace keeps UTC, so local days are UTC days
    plan = plans.dropna().iloc[0]
    narrowed = client.get(
        "/api/surveys/distribution", headers=key, params={**base, "where": f"plan = '{plan}'"}
    ).json()
    mine = nps[nps["account_id"].map(plans) == plan]
    assert 0 < sum(b["answers"] for b in narrowed) == len(mine) < total
    split = client.get(
        "/api/surveys/distribution", headers=key, params={**base, "by": "plan"}
    ).json()
    assert sum(b["answers"] for b in split) == total
    assert {(b["score"], b["answers"]) for b in split if b["plan"] == plan} == {
        (b["score"], b["answers"]) for b in narrowed
    }
    # The paid-plan segments split revenue metrics only: refused with their names.
    paid = client.get("/api/surveys/distribution", headers=key, params={**base, "by": "paid_plan"})
    _problem(paid, 400)
    assert "paid_plan" in paid.json()["detail"]
    _problem(client.get("/api/surveys/distribution", headers=key, params={**base, "by": "x"}), 400)


def test_a_score_bar_drills_to_its_answers(
    client: TestClient, store: Store, workspace: Workspace
) -> None:
    key = _key(store)
    base = {"survey": "nps", **RANGE}
    bars = client.get("/api/surveys/distribution", headers=key, params=base).json()
    total = sum(b["answers"] for b in bars)
    bar = next(b for b in bars if b["score"] == 1)  # holds the formula comment
    params = {**base, "score": 1}
    page = client.get(
        "/api/surveys/distribution/drill/page", headers=key, params={**params, "limit": 1000}
    ).json()
    assert page["total"] == page["numerator"] == bar["answers"] > 0
    assert page["denominator"] == total
    assert page["value"] == pytest.approx(100 * bar["answers"] / total)
    assert {r["score"] for r in page["items"]} == {1}
    first = page["items"][0]
    assert list(first)[:2] == ["account_id", "name"]
    assert {"respondent", "responded_at", "comment", "language"} <= set(first)
    formula = next(r for r in page["items"] if r["response_id"] == "F1")
    assert formula["comment"] == "=1+1 slow" and formula["account_id"] == "A000001"
    rows = _csv(client, key, "/api/surveys/distribution/drill", params)
    assert len(rows) == bar["answers"]
    assert next(r for r in rows if r["response_id"] == "F1")["comment"] == "'=1+1 slow"
    # One segment's bar: its answers, of that segment's answers.
    split = client.get(
        "/api/surveys/distribution", headers=key, params={**base, "by": "plan"}
    ).json()
    one = max((b for b in split if b["plan"] is not None), key=lambda b: b["answers"])
    segment = {**base, "score": one["score"], "by": "plan", "value": one["plan"]}
    page = client.get("/api/surveys/distribution/drill/page", headers=key, params=segment).json()
    assert page["numerator"] == one["answers"] == page["total"]
    assert page["denominator"] == sum(b["answers"] for b in split if b["plan"] == one["plan"])
    assert {r["plan"] for r in page["items"]} == {one["plan"]}
    lonely = {**params, "by": "plan"}
    _problem(client.get("/api/surveys/distribution/drill", headers=key, params=lonely), 400)
    _problem(
        client.get("/api/surveys/distribution/drill", headers=key, params={**params, "score": "x"}),
        422,
    )
    _problem(
        client.get(
            "/api/surveys/distribution/drill/page",
            headers=key,
            params={**params, "survey": "mood"},
        ),
        422,
    )
    backwards = {**params, "from": "2026-09-01", "to": "2026-01-01"}
    _problem(client.get("/api/surveys/distribution/drill", headers=key, params=backwards), 400)


def test_a_paid_plan_split_counts_its_plans_against_the_size_limit(
    client: TestClient, store: Store, workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key(store)
    plans = workspace.table("subscriptions").to_pandas()["plan"].nunique()
    assert plans > 1
    params = {"names": "mrr", "by": "paid_plan", "from": "2026-02-01", "to": "2026-07-01"}
    monkeypatch.setenv("TENURE_MAX_CELLS", str(6 * plans))  # six months, plans + NULL over it
    refused = client.get("/api/metrics", headers=key, params=params)
    _problem(refused, 400)
    assert f"{plans + 1:,} segments" in refused.json()["detail"]
    monkeypatch.setenv("TENURE_MAX_CELLS", str(6 * (plans + 1)))
    answer = client.get("/api/metrics", headers=key, params=params)
    assert answer.status_code == 200, answer.text
    assert {r["paid_plan"] for r in answer.json()["items"]} <= set(
        workspace.table("subscriptions").to_pandas()["plan"]
    ) | {None}


def test_a_paid_plan_point_drills_to_that_plans_accounts(client: TestClient, store: Store) -> None:
    key = _key(store)
    rows = client.get(
        "/api/metrics",
        headers=key,
        params={"names": "mrr", "by": "paid_plan", "from": "2026-08-01", "to": "2026-08-01"},
    ).json()["items"]
    point = max(rows, key=lambda r: float(r["value"] or 0))
    params = {"period": "2026-08", "dimension": "paid_plan", "value": point["paid_plan"]}
    page = client.get("/api/drill/mrr/page", headers=key, params={**params, "limit": 1000}).json()
    assert float(page["value"]) == pytest.approx(float(point["value"]))
    assert float(point["value"]) > 0
    assert {r["paid_plan"] for r in page["items"]} == {point["paid_plan"]}
    assert sum(float(r["mrr_end"]) for r in page["items"]) == pytest.approx(float(point["value"]))
    nps = client.get("/api/drill/nps", headers=key, params=params)
    _problem(nps, 400)
