"""Sentiment of a comment in [-1, 1].

Two scorers. The lexicon scorer counts positive and negative cues of the comment's language
(lexicon.yaml; negators flip the cue that follows them in space-separated languages; in Japanese
and Thai the negative forms are cues of their own, and the longest cue wins where cues overlap).
The learned scorer is fitted on the workspace's own answers (comments of promoters and satisfied
customers against those of detractors and dissatisfied ones) with character n-grams, which need
no word segmentation, so it learns each company's vocabulary in any language. `Sentiment`
averages the two when a learned model is available.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from tenure.text.lexicon import UNSPACED, compile_terms, read_yaml, words

NEGATION_REACH = 3  # words


@dataclass(frozen=True)
class _Cues:
    pattern: re.Pattern[str]
    polarity: dict[str, int]
    negators: frozenset[str]


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, _Cues]:
    data = read_yaml(None, "lexicon.yaml")
    cues = {}
    for language, lists in data.items():
        polarity: dict[str, int] = {}
        for word in lists.get("positive", []):
            polarity[str(word).lower()] = 1
        for word in lists.get("negative", []):
            polarity[str(word).lower()] = -1
        terms = sorted(polarity, key=len, reverse=True)
        pattern = compile_terms(language, tuple(terms))
        negators = frozenset(str(n).lower() for n in lists.get("negators", []))
        cues[language] = _Cues(pattern, polarity, negators)
    return cues


def _polarity_of(cues: _Cues, match: str) -> int:
    if match in cues.polarity:
        return cues.polarity[match]
    for term, sign in cues.polarity.items():  # a starred cue matched with an ending
        if term.endswith("*") and match.startswith(term[:-1]):
            return sign
    return 0


def lexicon_score(text: str, language: str | None) -> float | None:
    """(positive - negative) / (positive + negative) cues; 0 with no cue; None for a language
    the lexicon does not cover."""
    cues = _lexicon().get(language or "")
    if cues is None:
        return None
    lowered = text.lower()
    positive = negative = 0
    tokens = words(lowered) if language not in UNSPACED else []
    for match in cues.pattern.finditer(lowered):
        sign = _polarity_of(cues, match.group(0))
        if tokens and cues.negators:
            before = words(lowered[: match.start()])[-NEGATION_REACH:]
            if any(w in cues.negators or w.endswith("n't") for w in before):
                sign = -sign
        if sign > 0:
            positive += 1
        elif sign < 0:
            negative += 1
    total = positive + negative
    return 0.0 if total == 0 else (positive - negative) / total


@dataclass
class LearnedSentiment:
    """Character n-gram logistic regression fitted on labelled comments (1 positive, 0 negative)."""

    model: Any = field(default=None, repr=False)

    MIN_PER_CLASS = 20

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[int]) -> LearnedSentiment | None:
        """None when there are fewer than MIN_PER_CLASS comments of either label."""
        y = np.asarray(labels, dtype=int)
        if min((y == 1).sum(), (y == 0).sum()) < cls.MIN_PER_CLASS:
            return None
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        model = make_pipeline(
            TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), min_df=2, sublinear_tf=True),
            LogisticRegression(C=4.0, max_iter=2000, class_weight="balanced"),
        )
        model.fit(list(texts), y)
        return cls(model)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """2 P(positive) - 1 per text."""
        return np.asarray(2 * self.model.predict_proba(list(texts))[:, 1] - 1, dtype=float)


@dataclass
class Sentiment:
    """The lexicon, averaged with a learned model when there is one."""

    learned: LearnedSentiment | None = None

    def score(self, texts: Sequence[str], languages: Sequence[str | None]) -> np.ndarray:
        lexicon = np.array(
            [
                np.nan if (s := lexicon_score(t, lang)) is None else s
                for t, lang in zip(texts, languages, strict=True)
            ],
            dtype=float,
        )
        if self.learned is None or len(texts) == 0:
            return np.asarray(np.nan_to_num(lexicon, nan=0.0), dtype=float)
        model = self.learned.score(texts)
        return np.asarray(np.where(np.isnan(lexicon), model, (lexicon + model) / 2), dtype=float)
