"""Feedback that works the same in every language (the parallel set of eight languages), and the
detractor drivers: the log-odds statistic by hand, the function, the API and the CLI."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure.api.app import create_app
from tenure.app.keys import create_key
from tenure.app.store import Store
from tenure.cli import app
from tenure.text.evaluation import LANGUAGES, analyse_parallel, language_table, parallel
from tenure.text.feedback import detractor_drivers
from tenure.text.sentiment import LearnedSentiment, Sentiment, lexicon_score
from tenure.text.themes import contrast, themes_of
from tests.books import day

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def measured() -> pd.DataFrame:
    return language_table(analyse_parallel()).set_index(["dataset", "language"])


def test_the_parallel_set_has_every_comment_in_eight_languages() -> None:
    frame = parallel()
    assert set(frame["language"]) == set(LANGUAGES) and len(LANGUAGES) == 8
    per_id = frame.groupby("id")["language"].nunique()
    assert len(per_id) >= 60 and (per_id == 8).all()
    assert frame["text"].str.strip().ne("").all()
    halves = frame[frame["language"] == "en"].groupby(["split", "label"]).size()
    assert halves.min() >= 15  # both halves hold both labels in numbers
    known = {"price", "support", "usability", "performance", "features", "reliability"}
    assert known | {"onboarding", "billing", "documentation"} <= set(frame["themes"].sum())


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_is_within_five_points_of_english_on_the_held_out_half(
    measured: pd.DataFrame, language: str
) -> None:
    held_out = measured.loc["parallel-test"]
    english = held_out.loc["en"]
    row = held_out.loc[language]
    assert row["detected"] >= 95
    assert row["sentiment"] >= english["sentiment"] - 5
    assert row["themes_vs_english"] >= english["themes_vs_english"] - 5 == 95


def test_sentiment_accuracy_on_the_held_out_half_is_at_least_85(measured: pd.DataFrame) -> None:
    assert measured.loc[("parallel-test", "all"), "sentiment"] >= 85
    assert measured.loc[("parallel-dev", "all"), "sentiment"] >= 85


@pytest.mark.parametrize("comment", ["p05", "p09", "p13", "p21", "p22", "p25", "p30", "p33", "p39"])
def test_the_same_comment_gets_the_same_themes_and_sign_in_eight_languages(comment: str) -> None:
    rows = analyse_parallel()
    rows = rows[rows["id"] == comment]
    assert len(rows) == 8
    assert len({tuple(f) for f in rows["found"]}) == 1, rows[["language", "found"]]
    signs = set(np.sign(rows["sentiment"]))
    assert signs == {1.0 if rows["label"].iloc[0] == "positive" else -1.0}


def test_the_same_praise_scores_the_same_in_english_and_japanese() -> None:
    english = "The support team is fast and helpful."
    japanese = "サポートの対応が早くてとても丁寧です。"
    assert lexicon_score(english, "en") == lexicon_score(japanese, "ja") == 1.0
    dev = parallel()[parallel()["split"] == "dev"]
    model = LearnedSentiment.fit(
        dev["text"].tolist(), (dev["label"] == "positive").astype(int).tolist(), dev["language"]
    )
    assert model is not None and model.languages == frozenset()  # 16-17 per label and language
    scores = Sentiment(model).score([english, japanese], ["en", "ja"])
    assert scores[0] == scores[1] == 1.0  # a model fitted on some comments does not tilt either
    assert themes_of(english, "en") == themes_of("サポートの対応が速くて助かります。", "ja")


@pytest.mark.parametrize(
    ("language", "plain", "negated"),
    [
        ("en", "The app is fast.", "The app is not fast."),
        ("it", "L'app è veloce.", "L'app non è veloce."),
        ("es", "La aplicación es rápida.", "La aplicación no es rápida."),
        ("pt", "O aplicativo é rápido.", "O aplicativo não é rápido."),
        ("fr", "L'application est rapide.", "L'application n'est pas rapide."),
        ("de", "Die App ist schnell.", "Die App ist nicht schnell."),
        ("de", "Der Export funktioniert.", "Der Export funktioniert nicht."),  # negated after
        ("ja", "アプリは速いです。", "アプリは速くないです。"),
        ("ja", "エラーがあります。", "エラーはありません。"),
        ("th", "แอปเร็ว", "แอปไม่เร็ว"),
        ("th", "มีปัญหา", "ไม่มีปัญหา"),  # a negator that is a cue counts through the cue it turns
        ("en", "We found a bug.", "They fixed the bug."),
    ],
)
def test_negation_turns_a_cue_around_in_each_language(
    language: str, plain: str, negated: str
) -> None:
    before, after = lexicon_score(plain, language), lexicon_score(negated, language)
    assert before is not None and after is not None
    assert before * after < 0


def test_short_thai_cues_inside_longer_words_are_not_read() -> None:
    assert lexicon_score("อยากแนะนำให้บริษัทอื่นใช้ด้วย", "th") == 1.0  # อยาก holds ยาก "hard"
    assert lexicon_score("การอบรมยอดเยี่ยม", "th") == 1.0  # อบรม holds รอ "wait"


def test_the_drivers_z_score_matches_a_hand_computation() -> None:
    # Detractors mention price twice and support once; promoters support twice and price once.
    mentions = [["price"], ["price"], ["support"], ["support"], ["support"], ["price"]]
    labels = ["detractor"] * 3 + ["promoter"] * 3
    table = contrast(mentions, labels).set_index("term")
    # n_d = n_p = 3; the prior spreads 10 pseudo-mentions by frequency: 5 each, a0 = 10.
    delta = math.log((2 + 5) / (3 + 10 - 2 - 5)) - math.log((1 + 5) / (3 + 10 - 1 - 5))
    z = delta / math.sqrt(1 / (2 + 5) + 1 / (1 + 5))
    assert table.loc["price", "z"] == pytest.approx(z) == pytest.approx(0.5541, abs=1e-4)
    assert table.loc["support", "z"] == pytest.approx(-z)


def _analysed() -> pd.DataFrame:
    rows = [
        ("R1", "pro", 2, "detractor", ["price"], ["too expensive"]),
        ("R2", "pro", 1, "detractor", ["price", "support"], ["too expensive"]),
        ("R3", "pro", 10, "promoter", ["support"], ["great support"]),
        ("R4", "pro", 9, "promoter", ["support"], ["great support"]),
        ("R5", "basic", 3, "detractor", ["reliability"], ["outages"]),
        ("R6", "basic", 10, "promoter", ["usability"], ["easy"]),
        ("R7", "basic", 8, "passive", ["reliability"], ["outages"]),
    ]
    return pd.DataFrame(
        [
            {
                "response_id": r,
                "plan": plan,
                "score": score,
                "band": band,
                "themes": themes,
                "phrases": phrases,
                "responded_at": pd.Timestamp("2026-03-02")
                if r != "R4"
                else pd.Timestamp("2026-04-01"),
            }
            for r, plan, score, band, themes, phrases in rows
        ]
    )


def test_drivers_per_segment_and_period_name_the_comments_behind_them() -> None:
    drivers = detractor_drivers(None, by=["plan"], minimum=1, analysed=_analysed())  # type: ignore[arg-type]
    assert list(drivers.columns[:4]) == ["plan", "term", "kind", "z"]
    pro = drivers[(drivers["plan"] == "pro") & (drivers["kind"] == "theme")].set_index("term")
    assert pro.loc["price", "comment_ids"] == ["R1", "R2"]
    assert pro.loc["support", "comment_ids"] == ["R2", "R3", "R4"]
    assert (pro.loc["price", "detractor_count"], pro.loc["price", "promoter_count"]) == (2, 0)
    assert pro.loc["price", "z"] > 0 > pro.loc["support", "z"]
    assert pro.index[0] == "price"  # highest z first
    basic = drivers[drivers["plan"] == "basic"]
    assert all("R7" not in ids for ids in basic["comment_ids"])  # passives are neither side
    by_month = detractor_drivers(None, grain="month", minimum=1, analysed=_analysed())  # type: ignore[arg-type]
    assert sorted(set(by_month["period"].astype(str))) == ["2026-03-01", "2026-04-01"]
    april = by_month[by_month["period"].astype(str) == "2026-04-01"]
    assert set(april["z"]) == {0.0}  # one promoter, one theme: nothing to separate


@pytest.fixture
def small(tmp_path: Path) -> str:
    url = f"duckdb:///{tmp_path / 'drivers.duckdb'}"
    texts = [
        (2, "Too expensive for what we get."),
        (3, "The price is too high."),
        (1, "Troppo caro per quello che offre."),
        (10, "Support is fast and helpful."),
        (9, "サポートの対応がとても丁寧です。"),
        (10, "Great support team."),
    ]
    with tenure.connect(url) as ws:
        report = ws.load(
            "survey_responses",
            pd.DataFrame(
                [
                    {
                        "response_id": f"R{i}",
                        "account_id": "A",
                        "survey": "nps",
                        "score": score,
                        "comment": text,
                        "responded_at": day("2026-03-02"),
                    }
                    for i, (score, text) in enumerate(texts, 1)
                ]
            ),
        )
        assert report.rejected == 0
    return url


def test_drivers_through_the_cli(small: str) -> None:
    runner = CliRunner()
    args = ["feedback", "drivers", "--from", "2026-03", "--to", "2026-03", "--min", "1"]
    found = runner.invoke(app, [*args, "--kind", "theme", "--format", "json", "--db", small])
    assert found.exit_code == 0, found.output
    rows = {r["term"]: r for r in json.loads(found.output)}
    assert rows["price"]["comment_ids"] == "R1 R2 R3" and rows["price"]["z"] > 0
    assert rows["support"]["z"] < 0
    bad = runner.invoke(app, [*args, "--kind", "word", "--db", small])
    assert bad.exit_code == 2 and "--kind" in bad.output


def test_drivers_through_the_api(small: str, store: Store) -> None:
    with tenure.connect(small) as ws:
        client = TestClient(create_app(ws, store, base_url="http://testserver"))
        key = {"Authorization": f"Bearer {create_key(store, 'viewer', 'viewer')}"}
        params = {"from": "2026-03-01", "to": "2026-03-31", "minimum": 1, "kind": "theme"}
        answer = client.get("/api/feedback/drivers", params=params, headers=key)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        items = {i["term"]: i for i in body["items"]}
        assert body["total"] == len(items) and items["price"]["comment_ids"] == ["R1", "R2", "R3"]
        assert items["price"]["z"] > 0 > items["support"]["z"] and items["price"]["segment"] == {}
        bad = client.get("/api/feedback/drivers", params={"grain": "hour"}, headers=key)
        assert bad.status_code == 422
        assert client.get("/api/feedback/drivers").status_code == 401
