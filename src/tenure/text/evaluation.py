"""How well the feedback analysis works in each language, measured on the parallel set shipped
with Tenure (parallel.csv): the same labelled comments written in eight languages, split into a
development half (the word lists were tuned on it) and a held-out half (reported, never tuned
on). Per language: how often the language is detected, the accuracy of the sentiment's sign, and
the agreement of the themes found with those found in the English original and with the
hand-labelled themes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd

from tenure.text.language import detect
from tenure.text.sentiment import lexicon_score
from tenure.text.themes import themes_of

LANGUAGES = ("en", "ja", "it", "th", "es", "de", "fr", "pt")
SPLITS = ("dev", "test")


@lru_cache(maxsize=1)
def parallel() -> pd.DataFrame:
    """The parallel set in long form: id, split, label, themes (a sorted list), language, text."""
    source = resources.files("tenure.text").joinpath("parallel.csv")
    with source.open(encoding="utf-8") as handle:
        wide = pd.read_csv(handle, dtype=str, keep_default_na=False)
    long = wide.melt(
        id_vars=["id", "split", "label", "themes"],
        value_vars=list(LANGUAGES),
        var_name="language",
        value_name="text",
    )
    long["themes"] = [sorted(t for t in s.split(";") if t) for s in long["themes"]]
    return long.sort_values(["id", "language"], key=_language_order).reset_index(drop=True)


def _language_order(column: pd.Series) -> pd.Series:
    if column.name == "language":
        return column.map({lang: i for i, lang in enumerate(LANGUAGES)})
    return column


def right(scores: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Whether each score has the label's sign: > 0 for a positive comment, < 0 for a negative
    one (a neutral 0 is right for neither)."""
    scores = np.asarray(scores, dtype=float)
    return np.where(np.asarray(positive, dtype=bool), scores > 0, scores < 0)


def jaccard(found: Sequence[str], expected: Sequence[str]) -> float:
    """|found ∩ expected| / |found ∪ expected|; 1 when both are empty."""
    a, b = set(found), set(expected)
    return 1.0 if not a | b else len(a & b) / len(a | b)


def analyse_parallel(
    scorer: Callable[[list[str], list[str | None]], np.ndarray] | None = None,
) -> pd.DataFrame:
    """The parallel set with each comment's detected language, sentiment (the lexicon, or
    `scorer(texts, languages)`), themes found, and themes found in its English original."""
    frame = parallel().copy()
    frame["detected"] = [detect(t) for t in frame["text"]]
    languages = frame["detected"].tolist()
    if scorer is None:
        frame["sentiment"] = [
            lexicon_score(t, lang) or 0.0 for t, lang in zip(frame["text"], languages, strict=True)
        ]
    else:
        frame["sentiment"] = scorer(frame["text"].tolist(), languages)
    frame["found"] = [themes_of(t, lang) for t, lang in zip(frame["text"], languages, strict=True)]
    english = frame[frame["language"] == "en"].set_index("id")["found"]
    frame["english_found"] = frame["id"].map(english)
    return frame


def language_table(analysed: pd.DataFrame) -> pd.DataFrame:
    """Per split and language (and `all`): comments, % language detected, % sentiment sign
    right, and the mean Jaccard agreement (%) of the themes found with the English original's
    and with the labels, plus the share with exactly the English original's themes."""
    rows = []
    for split in SPLITS:
        part = analysed[analysed["split"] == split]
        for language in ["all", *LANGUAGES]:
            rows_of = part if language == "all" else part[part["language"] == language]
            if rows_of.empty:
                continue
            truth = (rows_of["label"] == "positive").to_numpy()
            found, english, labels = rows_of["found"], rows_of["english_found"], rows_of["themes"]
            rows.append(
                {
                    "dataset": f"parallel-{split}",
                    "language": language,
                    "comments": len(rows_of),
                    "detected": 100 * float((rows_of["detected"] == rows_of["language"]).mean()),
                    "sentiment": 100 * float(right(rows_of["sentiment"].to_numpy(), truth).mean()),
                    "themes_vs_english": 100
                    * float(np.mean([jaccard(f, e) for f, e in zip(found, english, strict=True)])),
                    "themes_exact": 100
                    * float(
                        np.mean([set(f) == set(e) for f, e in zip(found, english, strict=True)])
                    ),
                    "themes_vs_labels": 100
                    * float(np.mean([jaccard(f, t) for f, t in zip(found, labels, strict=True)])),
                }
            )
    return pd.DataFrame(rows)
