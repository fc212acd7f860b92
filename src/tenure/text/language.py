"""Language of a comment: scripts decide where they can (Thai, Japanese kana, Hangul, Cyrillic,
Arabic, ...); Latin-script text goes to langdetect's character n-gram profiles, seeded so the
same text always gets the same answer. Short texts fool the profiles ("Excellent produit,
merci !" reads as Catalan): a text given to a language Tenure's word lists do not cover goes to
the covered language the profiles rank first among those, when that language's word lists
(sentiment cues, theme words) find a word in it."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

SCRIPTS = (
    ("th", re.compile(r"[\u0e00-\u0e7f]")),
    ("ja", re.compile(r"[\u3040-\u30ff]")),  # hiragana and katakana
    ("ko", re.compile(r"[\uac00-\ud7af]")),
    ("ru", re.compile(r"[\u0400-\u04ff]")),
    ("ar", re.compile(r"[\u0600-\u06ff]")),
    ("he", re.compile(r"[\u0590-\u05ff]")),
    ("el", re.compile(r"[\u0370-\u03ff]")),
    ("hi", re.compile(r"[\u0900-\u097f]")),
)
HAN = re.compile(r"[\u4e00-\u9fff]")
LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
READ = ("en", "it", "es", "pt", "fr", "de")  # Latin-script languages of lexicon.yaml


@lru_cache(maxsize=100_000)
def detect(text: str | None) -> str | None:
    """An ISO 639-1 code, or None for text without letters."""
    if not text or not LETTERS.search(text):
        return None
    for code, pattern in SCRIPTS:
        if pattern.search(text):
            return code
    if HAN.search(text):
        return "zh"  # Han without kana
    return _latin(text)


def _latin(text: str) -> str | None:
    from langdetect import DetectorFactory, detector_factory
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    detector_factory.init_factory()
    factory = detector_factory._factory
    assert factory is not None
    try:
        best = _best(factory, text, None)
        if best is None or best in READ:
            return best
        covered = _best(factory, text, READ)
    except LangDetectException:
        return None
    if covered is not None and vocabulary(covered).search(text.lower()):
        return covered
    return best


def _best(factory: Any, text: str, among: tuple[str, ...] | None) -> str | None:
    detector = factory.create()
    if among is not None:
        detector.set_prior_map(
            {lang: 1.0 if lang in among else 0.0 for lang in factory.get_lang_list()}
        )
    detector.append(text)
    found = detector.get_probabilities()
    return str(found[0].lang) if found else None


@lru_cache(maxsize=16)
def vocabulary(language: str) -> re.Pattern[str]:
    """Every sentiment cue and theme word of a language, as one pattern."""
    from tenure.text.lexicon import compile_terms, read_yaml

    terms: list[str] = []
    lists = read_yaml(None, "lexicon.yaml").get(language, {})
    for key in ("positive", "negative"):
        terms += [str(w) for w in lists.get(key, [])]
    for by_language in read_yaml(None, "themes.yaml").values():
        terms += [str(w) for w in by_language.get(language, [])]
    return compile_terms(language, tuple(terms))
