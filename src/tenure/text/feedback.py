"""Survey comments from the workspace, analysed: language (as loaded, else detected), band
(promoter / passive / detractor by the answer's score), sentiment, themes and key phrases; theme
reports per period and segment; search; and the measured quality of the sentiment scorer."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

from tenure.errors import QueryError
from tenure.metrics.compute import make_query
from tenure.metrics.definitions import Definitions
from tenure.metrics.tables import Tables
from tenure.metrics.voice import BANDS
from tenure.metrics.voice import band as band_of
from tenure.text.evaluation import analyse_parallel, language_table, right
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
    band: str | None = None,
    language: str | None = None,
    theme: str | None = None,
) -> pd.DataFrame:
    """Comments answered in the periods from `start` to `end`, with the account's segments and
    their analysis. `contains` keeps comments holding that text (any case); it is passed to the
    engine as a value, never spliced into SQL. `band` (detractor / passive / promoter) and
    `survey` filter in the engine; `language` there too for comments loaded with one (those
    without are detected, then kept if they match), and `theme` after the analysis finds it."""
    if band is not None and band not in BANDS:
        raise QueryError(f"band: one of {', '.join(BANDS)}")
    query = make_query(
        tables, [], grain=grain, start=start, end=end, by=by, where=where, policy=None
    )
    answers = query.facts("survey_responses")
    at = query.local(answers.responded_at)
    first = query.first
    last = query.run(query.calendar.period_end.max())
    rows = answers.filter(answers.comment.notnull(), at.date() >= first, at.date() < last)
    if survey is not None:
        rows = rows.filter(rows.survey == survey)
    if contains:
        rows = rows.filter(rows.comment.lower().contains(contains.lower()))
    if band is not None:
        rows = rows.filter(band_of(rows, tables.definitions) == band)
    if language:
        loaded = rows.language
        rows = rows.filter(loaded.isnull() | (loaded == "") | (loaded.lower() == language.lower()))
    rows = query.with_segments(
        rows.mutate(answered_on=query.local(rows.responded_at).date()), day="answered_on"
    )
    rows = rows.drop("answered_on")
    frame: pd.DataFrame = rows.order_by("responded_at", "response_id").to_pandas()
    analysed = analyse(frame, tables.definitions, learned=_learned(tables))
    if language:  # the detected ones
        found = analysed["language"].fillna("").astype(str).str.lower()
        analysed = analysed[found == language.lower()]
    if theme and len(analysed):
        mentions = analysed["themes"].explode()
        analysed = analysed[(mentions == theme).groupby(level=0).any()]
    return analysed


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


# Sentiment models fitted in this process, by the digest of the comments, languages and labels
# they were fitted on: a load that adds no scored comment (events, accounts) fits none again.
_fitted: dict[bytes, LearnedSentiment | None] = {}


def _learned(tables: Tables) -> LearnedSentiment | None:
    """A sentiment model fitted on all of the workspace's scored comments, kept in the
    workspace's memo until a load (data_version) or the counting definitions change it, and
    fitted again only when the comments it learns from changed."""
    definitions = tables.definitions
    key = ("sentiment_model", tables.data_version, definitions)
    if key in tables.memo:
        cached: LearnedSentiment | None = tables.memo[key]
        return cached
    answers = tables.table("survey_responses")
    scored = answers.filter(answers.comment.notnull()).select(
        "comment", "language", "survey", "score", "scale_min", "scale_max"
    )
    frame = scored.to_pandas()
    model = None
    if not frame.empty:
        frame["band"] = bands(frame, definitions)
        # In one order, so that the same comments give the same model and the same digest.
        labelled = _labelled(frame).sort_values(["comment", "language", "band"], kind="stable")
        learned_from = pd.DataFrame(
            {
                "comment": labelled["comment"].astype(str),
                "language": _languages(labelled),
                "label": (labelled["band"] == "promoter").astype(int),
            }
        )
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(learned_from, index=False).to_numpy().tobytes()
        ).digest()
        if digest not in _fitted:
            if len(_fitted) >= 4:
                _fitted.clear()
            _fitted[digest] = LearnedSentiment.fit(
                learned_from["comment"].tolist(),
                learned_from["label"].tolist(),
                learned_from["language"].tolist(),
            )
        model = _fitted[digest]
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


def _languages(frame: pd.DataFrame) -> list[str | None]:
    """Each comment's language as loaded, else detected."""
    loaded = frame["language"] if "language" in frame else pd.Series([None] * len(frame))
    return [
        lang if isinstance(lang, str) and lang else detect(text)
        for text, lang in zip(frame["comment"].astype(str), loaded, strict=True)
    ]


def holdout() -> pd.DataFrame:
    """The hand-labelled comments shipped with Tenure (language, label, text), none of them
    taken from the demo's templates."""
    with resources.files("tenure.text").joinpath("holdout.csv").open(encoding="utf-8") as handle:
        return pd.read_csv(handle)


QUALITY_COLUMNS = [
    "dataset",
    "language",
    "comments",
    "detected",
    "lexicon",
    "learned",
    "tenure",
    "themes_vs_english",
    "themes_exact",
    "themes_vs_labels",
]


def quality(tables: Tables, *, folds: int = 5, seed: int = 0) -> pd.DataFrame:
    """Per data set and language (and `all`): comments, % whose language is detected, % whose
    sentiment sign matches the label by the lexicon, by the model learned on this workspace,
    and by Tenure's scorer (the lexicon, the model where the lexicon finds nothing), and for
    the parallel set the themes' agreement (%) with the English original's and the labels.

    Data sets: `parallel-dev` (the half the word lists were tuned on), `parallel-test` (the
    held-out half), `hold-out` (80 comments in four languages, written apart from both), and
    `workspace` (this workspace's promoter and detractor comments; the learned model
    cross-validated by `folds`)."""
    model = _learned(tables)
    analysed = analyse_parallel()
    learned_parallel = model.score(analysed["text"].tolist()) if model else None
    tenure = Sentiment(model).score(analysed["text"].tolist(), analysed["detected"].tolist())
    table = language_table(analysed)
    extra = _accuracy_rows(analysed, learned_parallel, tenure)
    rows = table.merge(extra, on=["dataset", "language"], how="left").rename(
        columns={"sentiment": "lexicon"}
    )

    labelled_set = holdout()
    texts, languages = labelled_set["text"].tolist(), labelled_set["language"].tolist()
    truth = (labelled_set["label"] == "positive").to_numpy()
    pieces = [
        rows,
        _accuracies(
            "hold-out",
            labelled_set["language"],
            truth,
            _lexicon_scores(texts, languages),
            model.score(texts) if model else None,
            Sentiment(model).score(texts, languages),
        ),
    ]

    answers = tables.table("survey_responses")
    frame = answers.filter(answers.comment.notnull()).to_pandas()
    if not frame.empty:
        frame = analyse(frame, tables.definitions)
        own = _labelled(frame).reset_index(drop=True)
        if not own.empty:
            truth = (own["band"] == "promoter").to_numpy()
            texts, languages = own["comment"].tolist(), own["language"].tolist()
            lexicon = _lexicon_scores(texts, languages)
            predicted, knows = _cross_validated(own, truth, folds, seed)
            combined = None
            if predicted is not None:
                fill = (lexicon == 0) & knows
                combined = np.where(fill, predicted, lexicon)
            pieces.append(
                _accuracies("workspace", own["language"], truth, lexicon, predicted, combined)
            )
    result = pd.concat([p for p in pieces if not p.empty], ignore_index=True)
    return result.reindex(columns=QUALITY_COLUMNS)


def _lexicon_scores(texts: Sequence[str], languages: Sequence[str | None]) -> np.ndarray:
    return np.array(
        [lexicon_score(t, lang) or 0.0 for t, lang in zip(texts, languages, strict=True)]
    )


def _accuracy_rows(
    analysed: pd.DataFrame, learned: np.ndarray | None, tenure: np.ndarray
) -> pd.DataFrame:
    frame = analysed[["split", "language", "label"]].copy()
    truth = frame["label"] == "positive"
    frame["learned"] = 100.0 * right(learned, truth.to_numpy()) if learned is not None else np.nan
    frame["tenure"] = 100.0 * right(tenure, truth.to_numpy())
    every = frame.assign(language="all")
    means = pd.concat([frame, every]).groupby(["split", "language"])[["learned", "tenure"]].mean()
    means = means.reset_index()
    means["dataset"] = "parallel-" + means["split"]
    return means.drop(columns="split")


def _cross_validated(
    own: pd.DataFrame, truth: np.ndarray, folds: int, seed: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """Out-of-fold learned scores, and whether the fold's model knew each comment's language."""
    order = np.random.default_rng(seed).permutation(len(own))
    predicted = np.full(len(own), np.nan)
    knows = np.zeros(len(own), dtype=bool)
    languages = own["language"].tolist()
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        model = LearnedSentiment.fit(
            own["comment"].iloc[train].tolist(),
            truth[train].astype(int).tolist(),
            [languages[i] for i in train],
        )
        if model is None:
            return None, knows
        predicted[test] = model.score(own["comment"].iloc[test].tolist())
        knows[test] = model.knows([languages[i] for i in test])
    return predicted, knows


def _accuracies(
    dataset: str,
    languages: pd.Series,
    truth: np.ndarray,
    lexicon: np.ndarray,
    learned: np.ndarray | None,
    tenure: np.ndarray | None,
) -> pd.DataFrame:
    rows = []
    langs = languages.fillna("?").to_numpy()
    for language in ["all", *sorted(set(langs))]:
        keep = np.ones(len(truth), bool) if language == "all" else langs == language
        if not keep.any():
            continue
        row: dict[str, Any] = {
            "dataset": dataset,
            "language": language,
            "comments": int(keep.sum()),
        }
        for name, scores in (("lexicon", lexicon), ("learned", learned), ("tenure", tenure)):
            if scores is not None:
                row[name] = float(100 * right(scores[keep], truth[keep]).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def require_text(text: str) -> str:
    if not text.strip():
        raise QueryError("search for some text, e.g. tenure feedback search 'slow'")
    return text


DRIVER_COLUMNS = [
    "term",
    "kind",
    "z",
    "detractor_count",
    "promoter_count",
    "detractor_share",
    "promoter_share",
    "comment_ids",
]
PERIODS = {"week": "W-SUN", "month": "M", "quarter": "Q", "year": "Y"}


def detractor_drivers(
    tables: Tables,
    *,
    start: dt.date | None = None,
    end: dt.date | None = None,
    by: Sequence[str] = (),
    where: str | None = None,
    grain: str | None = None,
    survey: str = "nps",
    minimum: int = 2,
    analysed: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The themes and key phrases that separate detractors from promoters of `survey`, per
    segment (`by`) and, with a `grain`, per period: the log-odds z-score with an informative
    Dirichlet prior (themes.contrast; z > 0: typical of detractors), the detractors and
    promoters mentioning each, and the response ids of those comments. Terms mentioned by
    fewer than `minimum` of them are left out. Sorted by segment, period and z, highest first."""
    if grain is not None and grain not in PERIODS:
        raise QueryError(f"grain for drivers: one of {', '.join(PERIODS)}")
    if analysed is None:
        analysed = comments(
            tables, start=start, end=end, by=by, where=where, survey=survey, grain=grain or "month"
        )
    keys = [*by, *(["period"] if grain else [])]
    columns = [*keys, *DRIVER_COLUMNS]
    frame = analysed[analysed["band"].isin(["detractor", "promoter"])].copy()
    if frame.empty:
        return pd.DataFrame(columns=columns)
    if grain:
        stamps = pd.to_datetime(frame["responded_at"]).dt.tz_localize(None)
        frame["period"] = stamps.dt.to_period(PERIODS[grain]).dt.start_time.dt.date
    groups = frame.groupby(keys, dropna=False, sort=True) if keys else [((), frame)]
    pieces = []
    for key, part in groups:
        values = key if isinstance(key, tuple) else (key,)
        for kind, column in (("theme", "themes"), ("phrase", "phrases")):
            table = contrast(part[column], part["band"], minimum=minimum)
            if table.empty:
                continue
            ids = _ids_by_term(part[column], part["response_id"])
            table = table.rename(
                columns={
                    "detractor_mentions": "detractor_count",
                    "promoter_mentions": "promoter_count",
                }
            )
            table["kind"] = kind
            table["comment_ids"] = [ids[t] for t in table["term"]]
            for position, (name, value) in enumerate(zip(keys, values, strict=True)):
                table.insert(position, name, [value] * len(table))
            pieces.append(table[columns])
    if not pieces:
        return pd.DataFrame(columns=columns)
    result = pd.concat(pieces, ignore_index=True)
    order = [*keys, "z", "term", "kind"]
    ascending = [True] * len(keys) + [False, True, True]
    return result.sort_values(order, ascending=ascending).reset_index(drop=True)


def _ids_by_term(mentions: pd.Series, response_ids: pd.Series) -> dict[str, list[str]]:
    ids: dict[str, list[str]] = {}
    for items, response_id in zip(mentions, response_ids, strict=True):
        for item in dict.fromkeys(items):
            ids.setdefault(item, []).append(str(response_id))
    return ids
