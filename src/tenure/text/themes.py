"""Themes of comments (themes.yaml, or a workspace's own file), key phrases found in the text,
and which of them separate detractors from promoters.

The separation statistic is the log-odds ratio with an informative Dirichlet prior (Monroe,
Colaresi and Quinn, "Fightin' Words", 2008): each theme's share of detractor mentions against its
share of promoter mentions, both smoothed towards the theme's share of all mentions, divided by
its standard error. A z-score so computed stays modest for a theme seen in three comments
however lopsided they are, where a raw ratio would shout.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from tenure.errors import TenureError
from tenure.text.lexicon import UNSPACED, Terms, read_yaml, words

PRIOR_STRENGTH = 10.0  # pseudo-mentions spread over the themes in proportion to their frequency

STOPWORDS = {
    "en": set(
        [
            "a",
            "an",
            "and",
            "are",
            "as",
            "at",
            "be",
            "been",
            "but",
            "by",
            "for",
            "from",
            "had",
            "has",
            "have",
            "i",
            "in",
            "is",
            "it",
            "its",
            "of",
            "on",
            "or",
            "our",
            "so",
            "that",
            "the",
            "their",
            "them",
            "they",
            "this",
            "to",
            "too",
            "us",
            "was",
            "we",
            "were",
            "what",
            "when",
            "which",
            "with",
            "you",
            "your",
            "very",
            "just",
            "like",
            "can",
            "not",
            "no",
            "do",
            "does",
            "did",
            "will",
            "would",
            "could",
            "should",
            "all",
            "any",
            "more",
            "most",
            "much",
            "than",
            "then",
            "there",
            "these",
            "those",
            "some",
            "such",
            "only",
            "also",
            "even",
            "after",
            "before",
            "about",
            "into",
            "out",
            "over",
            "up",
        ]
    ),
    "it": set(
        [
            "a",
            "ad",
            "al",
            "alla",
            "alle",
            "anche",
            "che",
            "chi",
            "ci",
            "con",
            "da",
            "dal",
            "dalla",
            "dei",
            "del",
            "della",
            "delle",
            "di",
            "e",
            "è",
            "gli",
            "ha",
            "hanno",
            "i",
            "il",
            "in",
            "la",
            "le",
            "lo",
            "ma",
            "mi",
            "molto",
            "ne",
            "nel",
            "nella",
            "non",
            "o",
            "per",
            "più",
            "quello",
            "questo",
            "se",
            "si",
            "sono",
            "su",
            "sul",
            "sulla",
            "tra",
            "un",
            "una",
            "uno",
            "ci",
            "abbiamo",
            "ogni",
            "come",
            "dopo",
        ]
    ),
}
KANJI_KATAKANA = re.compile(r"[\u4e00-\u9fff\u30a0-\u30ff\u30fc]{2,}")


@lru_cache(maxsize=8)
def theme_terms(path: str | None = None) -> dict[str, dict[str, Terms]]:
    """theme -> language -> Terms, from themes.yaml or the given file."""
    data = read_yaml(Path(path) if path else None, "themes.yaml")
    themes: dict[str, dict[str, Terms]] = {}
    for theme, by_language in data.items():
        if not isinstance(by_language, dict):
            raise TenureError(f"theme {theme!r}: expected language: [words, ...]")
        themes[str(theme)] = {
            str(lang): Terms(str(lang), tuple(str(w) for w in terms))
            for lang, terms in by_language.items()
        }
    return themes


def themes_of(text: str, language: str | None, path: str | None = None) -> list[str]:
    """The themes a comment mentions in its language's words (every language's words when its
    language is unknown or has no words in the file)."""
    themes = theme_terms(path)
    covered = {lang for by_language in themes.values() for lang in by_language}
    found = []
    for theme, by_language in themes.items():
        if language in covered:
            candidates = [by_language[language]] if language in by_language else []
        else:
            candidates = list(by_language.values())
        if any(terms.count(text) for terms in candidates):
            found.append(theme)
    return found


def key_phrases(text: str, language: str | None) -> list[str]:
    """Content words and word pairs (spaced languages), or runs of kanji and katakana
    (Japanese); none for Thai and Chinese, where themes carry the meaning."""
    if language == "ja":
        return sorted(set(KANJI_KATAKANA.findall(text)))
    if language in UNSPACED:
        return []
    stop = STOPWORDS.get(language or "", set())
    tokens = [w for w in words(text) if w not in stop and len(w) > 2 and not w.isdigit()]
    pairs = [f"{a} {b}" for a, b in itertools.pairwise(tokens)]
    return sorted(set(tokens) | set(pairs))


def contrast(
    mentions: Iterable[Sequence[str]], labels: Iterable[str], *, minimum: int = 1
) -> pd.DataFrame:
    """Per theme or phrase: detractor and promoter mentions, their shares of each group's
    comments, and the log-odds z-score (positive: more typical of detractors)."""
    detractor: Counter[str] = Counter()
    promoter: Counter[str] = Counter()
    groups = {"detractor": 0, "promoter": 0}
    for items, label in zip(mentions, labels, strict=True):
        if label not in groups:
            continue
        groups[label] += 1
        (detractor if label == "detractor" else promoter).update(set(items))
    names = sorted(
        n for n in set(detractor) | set(promoter) if detractor[n] + promoter[n] >= minimum
    )
    columns = [
        "term",
        "detractor_mentions",
        "promoter_mentions",
        "detractor_share",
        "promoter_share",
        "z",
    ]
    if not names:
        return pd.DataFrame(columns=columns)
    d = np.array([detractor[n] for n in names], dtype=float)
    p = np.array([promoter[n] for n in names], dtype=float)
    n_d, n_p = d.sum(), p.sum()
    prior = PRIOR_STRENGTH * (d + p) / (n_d + n_p)
    a0 = prior.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.log((d + prior) / (n_d + a0 - d - prior)) - np.log(
            (p + prior) / (n_p + a0 - p - prior)
        )
        z = delta / np.sqrt(1 / (d + prior) + 1 / (p + prior))
    # A term that holds every mention of a group (the only theme said) separates nothing.
    z = np.where(np.isfinite(z), z, 0.0)
    frame = pd.DataFrame(
        {
            "term": names,
            "detractor_mentions": d.astype(int),
            "promoter_mentions": p.astype(int),
            "detractor_share": 100 * d / max(groups["detractor"], 1),
            "promoter_share": 100 * p / max(groups["promoter"], 1),
            "z": z,
        }
    )
    return frame.sort_values(["z", "term"], ascending=[False, True]).reset_index(drop=True)
