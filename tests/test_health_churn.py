"""Health score definitions and scoring, point-in-time features, and churn prediction trained on
the demo company's own history."""

from __future__ import annotations

import datetime as dt
import pickle
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure import demo
from tenure.cli import app
from tenure.errors import TenureError
from tenure.metrics.account_features import FEATURES, account_features
from tenure.models.churn import ChurnModel, train
from tenure.models.health import HealthConfigError, HealthModel, score_features
from tenure.workspace import Workspace
from tests.books import day, load_book, sub

DEFAULT: dict[str, Any] = {
    "bands": {"red": 40, "yellow": 70},
    "components": {
        "frequency": {"feature": "active_days_30d", "weight": 3, "thresholds": [0, 10]},
        "support": {"feature": "tickets_30d", "weight": 1, "thresholds": [4, 0]},
        "nps": {"feature": "nps_180d", "weight": 1, "thresholds": [5, 10], "missing": 50},
    },
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": 1}, "unknown key\\(s\\) colour"),
        (
            {"components": {"x": {"feature": "vibes", "weight": 1}}},
            "unknown feature 'vibes'; valid: mrr",
        ),
        (
            {"components": {"x": {"feature": "mrr", "weight": 0}}},
            "component 'x': weight must be positive",
        ),
        (
            {"components": {"x": {"feature": "mrr", "weight": 1, "thresholds": [3, 3]}}},
            "two different numbers",
        ),
        (
            {"components": {"x": {"feature": "mrr", "weight": 1, "method": "vibes"}}},
            "method must be",
        ),
        ({"bands": {"red": 80, "yellow": 70}}, "0 <= red < yellow <= 100"),
        ({"segments": [{"name": "big"}]}, "segment #0 needs a `where` filter"),
    ],
)
def test_health_definitions_are_validated(change: dict[str, Any], message: str) -> None:
    with pytest.raises(HealthConfigError, match=message):
        HealthModel.parse({**DEFAULT, **change}, "my.yaml")
    assert HealthModel.load().segments[-1].where is None  # the shipped default parses


def test_health_is_the_weighted_mean_of_component_scores() -> None:
    model = HealthModel.parse(DEFAULT)
    features = pd.DataFrame(
        {
            "cutoff": [dt.date(2026, 1, 1)] * 3,
            "account_id": ["A", "B", "C"],
            "active_days_30d": [10.0, 5.0, 0.0],
            "tickets_30d": [0.0, 2.0, 6.0],
            "nps_180d": [10.0, np.nan, 5.0],
        }
    )
    scores = score_features(model, features, pd.Series(["default"] * 3)).set_index("account_id")
    assert scores.loc["A", "health"] == pytest.approx(100)
    assert scores.loc["B", "health"] == pytest.approx((3 * 50 + 50 + 50) / 5)  # nps unknown: 50
    assert scores.loc["C", "health"] == pytest.approx(0)
    assert list(scores.band) == ["green", "yellow", "red"]
    assert (
        scores.loc["C", "pulled_down_by"] == "frequency, support, nps"
    )  # biggest weighted gap first
    assert scores.loc["A", "pulled_down_by"] == ""


def test_health_segments_and_percentiles(ws: Workspace) -> None:
    load_book(
        ws,
        [sub(a, 100, "2025-01-01") for a in "ABCD"],
        accounts={
            "A": {"tier": "big"},
            "B": {"tier": "big"},
            "C": {"tier": "small"},
            "D": {"tier": "small"},
        },
    )
    ws.load(
        "events",
        pd.DataFrame(
            [
                {
                    "event_id": f"E{a}{n}",
                    "occurred_at": day(f"2025-06-{10 + n:02d}"),
                    "name": "page_view",
                    "account_id": a,
                    "user_id": f"U{a}",
                }
                for a, count in (("A", 6), ("B", 2), ("C", 1), ("D", 3))
                for n in range(count)
            ]
        ),
    )
    definition = {
        **DEFAULT,
        "components": {
            "frequency": {"feature": "active_days_30d", "weight": 1, "method": "percentile"}
        },
        "segments": [
            {"name": "big accounts", "where": "tier = 'big'", "bands": {"red": 60, "yellow": 90}}
        ],
    }
    path = Path(tempfile.mkdtemp()) / "health.yaml"
    import yaml

    path.write_text(yaml.safe_dump(definition), encoding="utf-8")
    scores = ws.health(as_of=dt.date(2025, 7, 1), config=path).set_index("account_id")
    assert scores.loc["A", "segment"] == "big accounts" and scores.loc["C", "segment"] == "default"
    # Percentiles within each segment: A beats B, D beats C.
    assert scores.loc["A", "health"] == 100 and scores.loc["D", "health"] == 100
    assert scores.loc["B", "health"] == 50 and scores.loc["B", "band"] == "red"  # big: red < 60
    assert scores.loc["C", "band"] == "yellow"  # default bands: 40 <= 50 < 70


def test_features_use_only_facts_before_the_cutoff(ws: Workspace) -> None:
    load_book(ws, [sub("A", 100, "2025-01-01", "2025-09-15"), sub("B", 50, "2025-01-01")])
    events = [
        {
            "event_id": "E1",
            "occurred_at": day("2025-05-20T10:00:00"),
            "name": "page_view",
            "account_id": "A",
            "user_id": "U1",
        },
        {
            "event_id": "E2",
            "occurred_at": day("2025-06-01T00:00:00"),
            "name": "page_view",
            "account_id": "A",
            "user_id": "U1",
        },
    ]
    ws.load("events", pd.DataFrame(events))
    before = account_features(ws, [dt.date(2025, 6, 1)], horizon_days=120).set_index("account_id")
    assert before.loc["A", "events_30d"] == 1  # the event at midnight on the cut-off is excluded
    assert before.loc["A", "days_since_active"] == 12
    assert before.loc["A", "churned"] == 1 and before.loc["B", "churned"] == 0
    # Facts arriving later do not change what was known at the cut-off.
    later = [
        {
            "event_id": f"L{n}",
            "occurred_at": day("2025-06-15T10:00:00"),
            "name": "page_view",
            "account_id": "A",
            "user_id": "U1",
        }
        for n in range(5)
    ]
    ws.load("events", pd.DataFrame(later))
    ws.load(
        "tickets",
        pd.DataFrame(
            [
                {
                    "ticket_id": "T1",
                    "account_id": "A",
                    "channel": "chat",
                    "opened_at": day("2025-06-02"),
                    "status": "open",
                }
            ]
        ),
    )
    again = account_features(ws, [dt.date(2025, 6, 1)], horizon_days=120).set_index("account_id")
    pd.testing.assert_frame_equal(before, again)


@pytest.fixture(scope="module")
def company() -> Iterator[Workspace]:
    with tenure.connect("duckdb://") as ws:
        demo.build(
            ws,
            Path(tempfile.mkdtemp()),
            accounts=2000,
            events=300_000,
            seed=11,
            as_of=dt.date(2026, 11, 1),
        )
        yield ws


def test_churn_model_beats_health_and_recency_on_the_held_out_window(company: Workspace) -> None:
    model = train(company)
    report = model.report
    ours, health, recency = report["model"], report["health_score"], report["recency"]
    assert ours["examples"] == health["examples"] == recency["examples"] > 1000
    assert ours["roc_auc"] > health["roc_auc"] + 0.02 and ours["roc_auc"] > recency["roc_auc"] + 0.1
    assert ours["pr_auc"] > health["pr_auc"] + 0.05 and ours["pr_auc"] > 2 * recency["pr_auc"]
    assert ours["top_decile_lift"] > 1.5 * recency["top_decile_lift"]
    # Calibrated: the mean predicted probability is close to the observed churn rate.
    assert report["mean_predicted"] == pytest.approx(ours["churn_rate"], abs=0.03)
    restored = ChurnModel.loads(model.dumps())
    scored = company.health(as_of=dt.date(2026, 10, 1))
    assert len(scored) > 100 and scored["health"].between(0, 100).all()
    features = account_features(company, [dt.date(2026, 10, 1)])
    risk = pd.DataFrame({"p": restored.probability(features)})
    assert risk["p"].between(0, 1).all()
    # The snapshot explains every account after every load: a row of features explained before
    # is not scored again, and what is remembered equals scoring it.
    scored_rows: list[int] = []
    score_them = restored._explain

    def counting(frame: pd.DataFrame, top: int) -> tuple[np.ndarray, list[str]]:
        scored_rows.append(len(frame))
        return score_them(frame, top)

    restored._explain = counting  # type: ignore[method-assign]
    distinct = len(features.drop_duplicates(subset=list(FEATURES)))
    probability, drivers = restored.explain(features)
    assert scored_rows == [distinct] and distinct > 100
    expected_p, expected_d = score_them(features, 3)
    np.testing.assert_array_equal(probability, expected_p)
    assert drivers == expected_d
    assert restored.explain(features)[1] == drivers and scored_rows == [distinct]
    changed = features.copy()
    changed.loc[changed.index[0], "days_since_active"] = 4321
    probability, drivers = restored.explain(changed)
    assert scored_rows == [distinct, 1]
    expected_p, expected_d = score_them(changed, 3)
    np.testing.assert_array_equal(probability, expected_p)
    assert drivers == expected_d
    del restored._explain  # the counting stand-in, which cannot be pickled
    assert "_explained" not in pickle.loads(restored.dumps()).__dict__


def test_churn_and_health_commands(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'c.duckdb'}"
    runner = CliRunner()
    result = runner.invoke(app, ["churn", "score", "--db", url])
    assert result.exit_code == 2 and "run `tenure churn train` first" in result.output
    with tenure.connect(url) as ws:
        demo.build(
            ws, tmp_path / "demo", accounts=600, events=60_000, seed=5, as_of=dt.date(2026, 11, 1)
        )
    result = runner.invoke(app, ["churn", "train", "--format", "json", "--db", url])
    assert result.exit_code == 0, result.output
    assert '"roc_auc"' in result.output and '"health_score"' in result.output
    result = runner.invoke(
        app,
        ["churn", "score", "--as-of", "2026-10-15", "--top", "5", "--format", "csv", "--db", url],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "account_id,churn_probability,drivers,mrr" and len(lines) == 6
    result = runner.invoke(
        app, ["health", "--as-of", "2026-10-15", "--band", "red", "--format", "csv", "--db", url]
    )
    assert result.exit_code == 0 and "red" in result.output
    result = runner.invoke(app, ["health", "--band", "purple", "--db", url])
    assert result.exit_code == 2 and "unknown band 'purple'" in result.output
    result = runner.invoke(
        app,
        [
            "health",
            "--history",
            "--from",
            "2026-09-01",
            "--as-of",
            "2026-10-15",
            "--format",
            "csv",
            "--db",
            url,
        ],
    )
    assert result.exit_code == 0 and result.output.count("2026-09-07") > 10


def test_training_needs_history(ws: Workspace) -> None:
    load_book(ws, [sub("A", 100, "2026-01-01")])
    with pytest.raises(TenureError, match="six months of history"):
        train(ws, as_of=dt.date(2026, 6, 1))
