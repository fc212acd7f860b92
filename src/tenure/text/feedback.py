"""Survey comments from the workspace, analysed: language (as loaded, else detected), band
(promoter / passive / detractor by the answer's score), sentiment, themes and key phrases; theme
reports per period and segment; search; and the measured quality of the sentiment scorer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from tenure.errors import QueryError
from tenure.metrics.compute import make_query
from tenure.metrics.definitions import Definitions
from tenure.metrics.tables import Tables
from tenure.text.language import detect
from tenure.text.sentiment import LearnedSentiment, Sentiment, lexicon_score
from tenure.text.themes import contrast, key_phrases, themes_of

# What a listing of comments shows, in order.
COMMENT_COLUMNS = [
    "responded_at",
    "account_id",
    "survey",
    "score",
    "band",
    "language",
    "sentiment",
    "themes",
    "comment",
]


def bands(frame: pd.DataFrame, definitions: Definitions) -> pd.Series:
    """promoter / passive / detractor for each answer: NPS bands on 0-10 (other scales mapped
    onto it); CSAT and CES satisfied / positive as the metrics count them, and the bottom two
    boxes (CSAT) or below the midpoint (CES) as detractors; custom surveys by their share of the
    scale (>= 0.8 promoter, <= 0.4 detractor)."""
    low, high, score = frame["scale_min"], frame["scale_max"], frame["score"]
    share = (score - low) / (high - low)
    ten = np.where(high == 10, score, share * 10)
    survey = frame["survey"]
    promoter = np.select(
        [survey == "nps", survey == "csat", survey == "ces"],
        [
            ten >= 9,
            score >= _threshold(definitions.csat_satisfied, low, high, "top2"),
            score > (low + high) / 2,
        ],
        share >= 0.8,
    )
    detractor = np.select(
        [survey == "nps", survey == "csat", survey == "ces"],
        [ten < 7, score <= low + 1, score < (low + high) / 2],
        share <= 0.4,
    )
    if definitions.ces_positive != "above_midpoint":
        positive = score >= low + (high - low) * float(definitions.ces_positive)
        promoter = np.where(survey == "ces", positive, promoter)
    return pd.Series(
        np.where(promoter, "promoter", np.where(detractor, "detractor", "passive")),
        index=frame.index,
    )


def _threshold(rule: str, low: pd.Series, high: pd.Series, keyword: str) -> pd.Series:
    return high - 1 if rule == keyword else low + (high - low) * float(rule)


def comments(
    tables: Tables,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: Sequence[str] = (),
    where: str | None = None,
    survey: str | None = None,
    contains: str | None = None,
    grain: str = "month",
) -> pd.DataFrame:
    """Comments answered in the periods from `start` to `end`, with the account's segments and
    their analysis. `contains` keeps comments holding that text (any case); it is passed to the
    engine as a value, never spliced into SQL."""
    query = make_query(
        tables, [], grain=grain, start=start, end=end, by=by, where=where, policy=None
    )
    answers = query.facts("survey_responses")
    at = query.local(answers.responded_at)
    first = query.first
    last = query.calendar.period_end.max().execute()
    rows = answers.filter(answers.comment.notnull(), at.date() >= first, at.date() < last)
    if survey is not None:
        rows = rows.filter(rows.survey == survey)
    if contains:
        rows = rows.filter(rows.comment.lower().contains(contains.lower()))
    rows = query.with_segments(rows)
    frame: pd.DataFrame = rows.order_by("responded_at", "response_id").to_pandas()
    return analyse(frame, tables.definitions, learned=_learned(tables))


def analyse(
    frame: pd.DataFrame, definitions: Definitions, learned: LearnedSentiment | None = None
) -> pd.DataFrame:
    """Add detected_language, band, sentiment, themes and phrases to answers with comments."""
    result = frame.copy()
    loaded = result["language"] if "language" in result else pd.Series([None] * len(result))
    pairs = [
        (text, lang if isinstance(lang, str) and lang else None)
        for text, lang in zip(result["comment"].astype(str), loaded, strict=True)
    ]
    # Comments repeat (short answers, templates): each distinct text and language is read once.
    distinct = list(dict.fromkeys(pairs))
    texts = [text for text, _ in distinct]
    detected = [lang or detect(text) for text, lang in distinct]
    sentiment = Sentiment(learned).score(texts, detected)
    themes = [themes_of(t, lang) for t, lang in zip(texts, detected, strict=True)]
    phrases = [key_phrases(t, lang) for t, lang in zip(texts, detected, strict=True)]
    position = {pair: i for i, pair in enumerate(distinct)}
    rows = [position[pair] for pair in pairs]
    result["language"] = [detected[i] for i in rows]
    result["band"] = bands(result, definitions) if len(result) else pd.Series(dtype=str)
    result["sentiment"] = sentiment[rows] if rows else np.array([], dtype=float)
    result["themes"] = [themes[i] for i in rows]
    result["phrases"] = [phrases[i] for i in rows]
    return result


def _labelled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["band"].isin(["promoter", "detractor"])]


def _learned(tables: Tables) -> LearnedSentiment | None:
    """A sentiment model fitted on all of the workspace's scored comments, kept in the
    workspace's memo until a load (data_version) or the counting definitions change it."""
    definitions = tables.definitions
    key = ("sentiment_model", tables.data_version, definitions)
    if key in tables.memo:
        cached: LearnedSentiment | None = tables.memo[key]
        return cached
    answers = tables.table("survey_responses")
    scored = answers.filter(answers.comment.notnull()).select(
        "comment", "survey", "score", "scale_min", "scale_max"
    )
    frame = scored.to_pandas()
    model = None
    if not frame.empty:
        frame["band"] = bands(frame, definitions)
        labelled = _labelled(frame)
        model = LearnedSentiment.fit(
            labelled["comment"].tolist(), (labelled["band"] == "promoter").astype(int).tolist()
        )
    tables.memo[key] = model
    return model


def theme_report(
    analysed: pd.DataFrame, *, by: Sequence[str] = (), phrases: bool = False, minimum: int = 2
) -> pd.DataFrame:
    """Per segment and theme (or key phrase): comments mentioning it, their mean sentiment,
    detractor and promoter mentions and the z-score that separates them."""
    column = "phrases" if phrases else "themes"
    groups = analysed.groupby(list(by), dropna=False) if by else [((), analysed)]
    pieces = []
    for key, part in groups:
        table = contrast(part[column], part["band"], minimum=minimum)
        exploded = part[[column, "sentiment"]].explode(column).dropna(subset=[column])
        stats = exploded.groupby(column)["sentiment"].agg(comments="count", sentiment="mean")
        table = table.merge(stats, left_on="term", right_index=True, how="left")
        values = key if isinstance(key, tuple) else (key,)
        for position, (name, value) in enumerate(zip(by, values, strict=True)):
            table.insert(position, name, [value] * len(table))
        pieces.append(table)
    columns = [
        *by,
        "term",
        "comments",
        "sentiment",
        "detractor_mentions",
        "promoter_mentions",
        "detractor_share",
        "promoter_share",
        "z",
    ]
    if not pieces:
        return pd.DataFrame(columns=columns)
    report = pd.concat(pieces, ignore_index=True)
    return report[columns].rename(columns={"term": "phrase" if phrases else "theme"})


def holdout() -> pd.DataFrame:
    """The hand-labelled comments shipped with Tenure (language, label, text), none of them
    taken from the demo's templates."""
    with resources.files("tenure.text").joinpath("holdout.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle)


def quality(tables: Tables, *, folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Accuracy of the sentiment sign against the labels, per scorer and data set:
    the hand-labelled hold-out (lexicon; learned on the workspace; both) and the workspace's own
    promoter / detractor comments (lexicon; learned, cross-validated by `folds`; both)."""
    rows = []
    labelled_set = holdout()
    truth = (labelled_set["label"] == "positive").to_numpy()
    model = _learned(tables)
    lexicon = np.array(
        [
            lexicon_score(t, lang) or 0.0
            for t, lang in zip(labelled_set["text"], labelled_set["language"], strict=True)
        ]
    )
    learned = model.score(labelled_set["text"].tolist()) if model else None
    rows += _accuracies("hold-out", labelled_set["language"], truth, lexicon, learned)

    answers = tables.table("survey_responses")
    frame = answers.filter(answers.comment.notnull()).to_pandas()
    if frame.empty:
        return pd.DataFrame(rows)
    frame = analyse(frame, tables.definitions)
    own = _labelled(frame).reset_index(drop=True)
    if own.empty:
        return pd.DataFrame(rows)
    truth = (own["band"] == "promoter").to_numpy()
    lexicon = np.array(
        [
            lexicon_score(t, lang) or 0.0
            for t, lang in zip(own["comment"], own["language"], strict=True)
        ]
    )
    predicted = _cross_validated(own, truth, folds, seed)
    rows += _accuracies("workspace", own["language"], truth, lexicon, predicted)
    return pd.DataFrame(rows)


def _cross_validated(
    own: pd.DataFrame, truth: np.ndarray, folds: int, seed: int
) -> np.ndarray | None:
    order = np.random.default_rng(seed).permutation(len(own))
    predicted = np.full(len(own), np.nan)
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        model = LearnedSentiment.fit(
            own["comment"].iloc[train].tolist(), truth[train].astype(int).tolist()
        )
        if model is None:
            return None
        predicted[test] = model.score(own["comment"].iloc[test].tolist())
    return predicted


def _accuracies(
    dataset: str,
    languages: pd.Series,
    truth: np.ndarray,
    lexicon: np.ndarray,
    learned: np.ndarray | None,
) -> list[dict[str, Any]]:
    scorers = {"lexicon": lexicon}
    if learned is not None:
        scorers["learned"] = learned
        scorers["both"] = (lexicon + learned) / 2
    rows = []
    langs = languages.fillna("?").to_numpy()
    for name, scores in scorers.items():
        for language in ["all", *sorted(set(langs))]:
            keep = np.ones(len(truth), bool) if language == "all" else langs == language
            if not keep.any():
                continue
            correct = (scores[keep] > 0) == truth[keep]
            rows.append(
                {
                    "dataset": dataset,
                    "scorer": name,
                    "language": language,
                    "comments": int(keep.sum()),
                    "accuracy": float(100 * correct.mean()),
                }
            )
    return rows


def require_text(text: str) -> str:
    if not text.strip():
        raise QueryError("search for some text, e.g. tenure feedback search 'slow'")
    return text
