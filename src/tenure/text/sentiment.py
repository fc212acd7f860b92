"""Sentiment of a comment in [-1, 1].

Two scorers. The lexicon scorer counts positive and negative cues of the comment's language
(lexicon.yaml, eight languages; negators before or after a cue turn it around, per language;
the longest cue wins where cues overlap).
The learned scorer is fitted on the workspace's own answers (comments of promoters and satisfied
customers against those of detractors and dissatisfied ones) with character n-grams, which need
no word segmentation, so it learns each company's vocabulary in any language. `Sentiment`
reads the lexicon first and asks the learned model where the lexicon finds nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from tenure.text.lexicon import UNSPACED, WORD, compile_terms, read_yaml

NEGATION_REACH = 3  # words before a cue (space-separated languages)
NEGATION_AFTER = 2  # words after a cue, in languages that negate after the verb (de, fr)
GAP_AFTER = 5  # kana between a Japanese cue and the negative ending that turns it
KANA = re.compile(r"[\u3041-\u3096]")  # hiragana
CLAUSE = re.compile(r"[.,;:!?¡¿、。！？]")


@dataclass(frozen=True)
class _Cues:
    pattern: re.Pattern[str]
    polarity: dict[str, int]
    before: tuple[str, ...]  # negators in front of a cue: not, non, nicht, ไม่ ...
    after: tuple[str, ...]  # negators behind it: nicht, pas, ない, ません ...
    ignore: re.Pattern[str] | None  # longer words holding a cue that are not it (Thai อยาก)


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
        before = tuple(str(n).lower() for n in lists.get("negators", []))
        after = tuple(str(n).lower() for n in lists.get("negators_after", []))
        words = tuple(str(w).lower() for w in lists.get("ignore", []))
        ignore = compile_terms(language, words) if words else None
        cues[language] = _Cues(pattern, polarity, before, after, ignore)
    return cues


def _polarity_of(cues: _Cues, match: str) -> int:
    if match in cues.polarity:
        return cues.polarity[match]
    for term, sign in cues.polarity.items():  # a starred cue matched with an ending or beginning
        if "*" in term and is_negator(match, (term,)):
            return sign
    return 0


def is_negator(word: str, negators: tuple[str, ...]) -> bool:
    """A word is a negator as listed, or by its ending (`*n't`) or beginning (`n'*`)."""
    for negator in negators:
        if negator.startswith("*") and negator.endswith("*") and negator.strip("*") in word:
            return True
        if negator.startswith("*") and word.endswith(negator[1:]):
            return True
        if negator.endswith("*") and word.startswith(negator[:-1]):
            return True
        if word == negator:
            return True
    return False


def _negated(cues: _Cues, text: str, start: int, end: int, spaced: bool) -> int | None:
    """Where a negator of the cue at text[start:end] begins (or `end` for one after it), or
    None when the cue stands as written. Negators reach within the clause only."""
    if spaced:
        clause_start = max((m.end() for m in CLAUSE.finditer(text, 0, start)), default=0)
        before = list(WORD.finditer(text, clause_start, start))[-NEGATION_REACH:]
        for token in before:
            if is_negator(token.group(0), cues.before):
                return token.start()
        following = CLAUSE.search(text, end)
        after = list(WORD.finditer(text, end, following.start() if following else len(text)))
        if any(is_negator(t.group(0), cues.after) for t in after[:NEGATION_AFTER]):
            return end
        return None
    head = text[:start].rstrip()
    for negator in sorted(cues.before, key=len, reverse=True):
        if head.endswith(negator):
            return len(head) - len(negator)
    tail = text[end : end + GAP_AFTER + 12]
    for gap in range(GAP_AFTER + 1):
        if gap and not KANA.match(tail, gap - 1):
            break  # only kana (particles, verb endings) stand between a cue and its negation
        if tail.startswith(cues.after, gap):
            return end
    return None


def lexicon_score(text: str, language: str | None) -> float | None:
    """(positive - negative) / (positive + negative) cues, so a comment scores the same in any
    language however many of its words are cues; 0 with no cue; None for a language the lexicon
    does not cover. A negator turns the cue it governs around (`not slow`, `non funziona`,
    `funktioniert nicht`, `遅くない`, `ไม่ช้า`, `fixed the bug`); a negator that is a cue itself
    (`never`, `ไม่มี`) then counts only through the cue it turns."""
    cues = _lexicon().get(language or "")
    if cues is None:
        return None
    lowered = text.lower()
    spaced = language not in UNSPACED
    found: list[tuple[int, int, int]] = []  # start, end, sign
    masked = [m.span() for m in cues.ignore.finditer(lowered)] if cues.ignore else []
    for match in cues.pattern.finditer(lowered):
        if any(a <= match.start() and match.end() <= b for a, b in masked):
            continue
        sign = _polarity_of(cues, match.group(0))
        at = _negated(cues, lowered, match.start(), match.end(), spaced)
        if at is not None:
            sign = -sign
            if found and found[-1][1] > at and found[-1][0] <= at:
                found[-1] = (found[-1][0], found[-1][1], 0)  # the negator was counted as a cue
        found.append((match.start(), match.end(), sign))
    positive = sum(1 for *_, sign in found if sign > 0)
    negative = sum(1 for *_, sign in found if sign < 0)
    total = positive + negative
    return 0.0 if total == 0 else (positive - negative) / total


@dataclass
class LearnedSentiment:
    """Character n-gram logistic regression fitted on labelled comments (1 positive, 0 negative),
    trusted in the languages it saw at least MIN_PER_CLASS comments of each label in (all, when
    the comments' languages are not given)."""

    model: Any = field(default=None, repr=False)
    languages: frozenset[str] | None = None

    MIN_PER_CLASS = 20

    @classmethod
    def fit(
        cls,
        texts: Sequence[str],
        labels: Sequence[int],
        languages: Sequence[str | None] | None = None,
    ) -> LearnedSentiment | None:
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
        known = None
        if languages is not None:
            frame = pd.DataFrame({"language": list(languages), "label": y})
            counts = frame.groupby(["language", "label"]).size().unstack(fill_value=0)
            enough = counts[
                (counts.get(0, 0) >= cls.MIN_PER_CLASS) & (counts.get(1, 0) >= cls.MIN_PER_CLASS)
            ]
            known = frozenset(str(lang) for lang in enough.index)
        return cls(model, known)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        """2 P(positive) - 1 per text."""
        return np.asarray(2 * self.model.predict_proba(list(texts))[:, 1] - 1, dtype=float)

    def knows(self, languages: Sequence[str | None]) -> np.ndarray:
        """Whether the model is trusted in each language."""
        if self.languages is None:
            return np.ones(len(languages), dtype=bool)
        return np.array([lang in self.languages for lang in languages], dtype=bool)


@dataclass
class Sentiment:
    """The lexicon first; the learned model where the lexicon finds no cue (or does not cover
    the language) and the model knows the language. A comment's lexicon score is the same
    whatever language it is written in (a cue is a cue, and the score is the share of them that
    are positive), so the same praise scores the same in English and Japanese; averaging in a
    model fitted on one company's comments would not keep that."""

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
        fill = (np.isnan(lexicon) | (lexicon == 0)) & self.learned.knows(languages)
        result = np.nan_to_num(lexicon, nan=0.0)
        if fill.any():
            chosen = [t for t, f in zip(texts, fill, strict=True) if f]
            result[fill] = self.learned.score(chosen)
        return np.asarray(result, dtype=float)
