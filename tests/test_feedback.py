"""Feedback analysis: language, sentiment, themes and detractor themes, in four languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import tenure
from tenure.cli import app
from tenure.demo import DemoResult
from tenure.text import feedback
from tenure.text.feedback import holdout, quality, theme_report
from tenure.text.language import detect
from tenure.text.sentiment import LearnedSentiment, lexicon_score
from tenure.text.themes import contrast, key_phrases, themes_of
from tenure.workspace import Workspace
from tests.books import day


def test_the_language_of_every_hand_labelled_comment_is_detected() -> None:
    labelled = holdout()
    assert len(labelled) == 80 and set(labelled.language) == {"en", "it", "ja", "th"}
    assert [detect(t) for t in labelled.text] == list(labelled.language)
    assert detect("  123 !! ") is None


@pytest.mark.parametrize(
    ("text", "language", "sign"),
    [
        ("Support is fast and helpful.", "en", 1),
        ("Support is not helpful at all.", "en", -1),  # a negator flips the cue
        ("The app isn't slow any more", "en", 1),
        ("Il supporto non è veloce.", "it", -1),
        ("Molto facile da usare.", "it", 1),
        ("画面が分かりにくく、操作が難しいです。", "ja", -1),
        ("とても使いやすいです。", "ja", 1),
        ("บริการไม่ดี", "th", -1),  # the longer negative cue wins over ดี inside it
        ("บริการดีมาก", "th", 1),
        ("The invoice arrived on Tuesday.", "en", 0),
    ],
)
def test_lexicon_sentiment_in_the_demo_languages(text: str, language: str, sign: int) -> None:
    score = lexicon_score(text, language)
    assert score is not None
    assert (score > 0) - (score < 0) == sign
    assert lexicon_score("tekst", "nl") is None  # a language without a lexicon


def test_themes_and_phrases_in_each_language() -> None:
    assert themes_of("Too expensive and the pages are slow", "en") == ["price", "performance"]
    assert themes_of("Troppo caro per quello che offre.", "it") == ["price"]
    assert "support" in themes_of("サポートの返信が遅い", "ja")
    assert themes_of("ราคาแพงเกินไป", "th") == ["price"]
    assert "price" in themes_of("ราคาแพง", None)  # unknown language: every language's words
    assert "サポート" in key_phrases("サポートの対応が早くて丁寧です", "ja")
    assert "reports time" in key_phrases("Pages are slow and reports time out.", "en")


def test_the_separation_statistic_is_modest_on_small_counts() -> None:
    mentions = [["rare"]] * 3 + [["common"]] * 30 + [["other"]] * 200
    labels = ["detractor"] * 33 + ["promoter"] * 100 + ["detractor"] * 100
    table = contrast(mentions, labels).set_index("term")
    assert (
        table.loc["rare", "detractor_mentions"] == 3 and table.loc["rare", "promoter_mentions"] == 0
    )
    assert 0 < table.loc["rare", "z"] < table.loc["common", "z"]


def test_demo_detractors_talk_about_price_and_promoters_about_support(
    demo_ws: tuple[Workspace, DemoResult],
) -> None:
    ws, _ = demo_ws
    analysed = ws.feedback(
        start=pd.Timestamp("2024-01-01").date(), end=pd.Timestamp("2026-10-01").date()
    )
    assert set(analysed.language) == {"en", "ja", "it", "th"}
    report = theme_report(analysed).set_index("theme")
    assert report["z"].idxmax() in {"price", "reliability"}  # the demo's commonest complaints
    assert report.loc["support", "z"] < 0 < report.loc["price", "z"]
    assert report.loc["price", "sentiment"] < report.loc["support", "sentiment"]


def test_sentiment_quality_is_measured_on_the_hold_out_and_the_workspace(
    demo_ws: tuple[Workspace, DemoResult],
) -> None:
    ws, _ = demo_ws
    table = quality(ws).set_index(["dataset", "language"])
    assert set(table.index.get_level_values("dataset")) == {
        "parallel-dev",
        "parallel-test",
        "hold-out",
        "workspace",
    }
    # Guards at the accuracies measured when the word lists were extended (README: Feedback).
    # A neutral score is right for neither label, so the lexicon alone misses the hold-out's
    # comments without a cue, which the model learned on the workspace then reads.
    assert table.loc[("parallel-test", "all"), "lexicon"] >= 85
    assert table.loc[("parallel-test", "all"), "tenure"] >= 85
    assert table.loc[("hold-out", "all"), "lexicon"] >= 60
    assert table.loc[("hold-out", "all"), "tenure"] >= 80
    assert table.loc[("workspace", "all"), "lexicon"] >= 95
    assert table.loc[("workspace", "all"), "learned"] >= 90
    assert table.loc[("parallel-test", "ja"), "themes_vs_english"] >= 95


def test_feedback_commands_escape_nothing_and_search_by_value(tmp_path: Path) -> None:
    url = f"duckdb:///{tmp_path / 'fb.duckdb'}"
    rows = [
        ("R1", "nps", 2, "Too expensive'; DROP TABLE survey_responses; --"),
        ("R2", "nps", 10, "<script>alert(1)</script> great support"),
        ("R3", "csat", 1, "Support takes days to answer."),
    ]
    with tenure.connect(url) as ws:
        report = ws.load(
            "survey_responses",
            pd.DataFrame(
                [
                    {
                        "response_id": r,
                        "account_id": "A",
                        "survey": s,
                        "score": sc,
                        "comment": c,
                        "responded_at": day("2026-03-02"),
                    }
                    for r, s, sc, c in rows
                ]
            ),
        )
        assert report.rejected == 0
    runner = CliRunner()
    found = runner.invoke(
        app,
        [
            "feedback",
            "search",
            "drop table",
            "--from",
            "2026-03",
            "--to",
            "2026-03",
            "--format",
            "json",
            "--db",
            url,
        ],
    )
    assert found.exit_code == 0, found.output
    assert "DROP TABLE survey_responses" in found.output
    found = runner.invoke(
        app,
        [
            "feedback",
            "search",
            "<script>",
            "--from",
            "2026-03",
            "--to",
            "2026-03",
            "--format",
            "csv",
            "--db",
            url,
        ],
    )
    assert "<script>alert(1)</script> great support" in found.output
    themes = runner.invoke(
        app,
        [
            "feedback",
            "themes",
            "--from",
            "2026-03",
            "--to",
            "2026-03",
            "--min",
            "1",
            "--format",
            "csv",
            "--db",
            url,
        ],
    )
    assert themes.exit_code == 0 and "price" in themes.output and "support" in themes.output
    empty = runner.invoke(app, ["feedback", "search", "  ", "--db", url])
    assert empty.exit_code == 2 and "search for some text" in empty.output
    with tenure.connect(url) as ws:
        assert ws.table("survey_responses").count().execute() == 3


def test_the_sentiment_model_is_fitted_again_only_when_its_comments_change(
    demo_ws: tuple[Workspace, DemoResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A load clears the workspace's memo; one that brings no scored comment (events, accounts)
    does not make the feedback pages fit the model again."""
    ws, _ = demo_ws
    fitted: list[int] = []
    fit = LearnedSentiment.fit

    def counting(texts: list[str], labels: list[int], languages: list[str | None]) -> Any:
        fitted.append(len(texts))
        return fit(texts, labels, languages)

    monkeypatch.setattr(LearnedSentiment, "fit", counting)
    monkeypatch.setattr(feedback, "_fitted", {})
    ws.memo.clear()  # another test may have fitted it in this workspace
    first = feedback._learned(ws)
    ws.memo.clear()  # as a load does
    assert feedback._learned(ws) is first is not None
    assert len(fitted) == 1 and fitted[0] > 100
