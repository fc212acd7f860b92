"""Language of a comment: scripts decide where they can (Thai, Japanese kana, Hangul, Cyrillic,
Arabic, ...); Latin-script text goes to langdetect's character n-gram profiles, seeded so the
same text always gets the same answer."""

from __future__ import annotations

import re
from functools import lru_cache

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
    from langdetect import DetectorFactory, detect_langs
    from langdetect.lang_detect_exception import LangDetectException

    DetectorFactory.seed = 0
    try:
        best = detect_langs(text)[0]
    except LangDetectException:
        return None
    return str(best.lang)
