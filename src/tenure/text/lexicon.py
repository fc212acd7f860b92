"""Word lists (sentiment cues, themes) and matching them in text of any language: whole words
where words are separated by spaces, with `*` for any ending (`slow*`) or any beginning
(`*support`, for German compounds such as Kundensupport); substrings in Japanese, Thai and
Chinese, which are written without spaces."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tenure.errors import TenureError

UNSPACED = {"ja", "th", "zh"}
WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


@dataclass(frozen=True)
class Terms:
    """Compiled terms of one list in one language."""

    language: str
    words: tuple[str, ...]

    @property
    def pattern(self) -> re.Pattern[str]:
        return compile_terms(self.language, self.words)

    def count(self, text: str) -> int:
        return len(self.pattern.findall(text.lower()))

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self.pattern.finditer(text.lower())]


@lru_cache(maxsize=1024)
def compile_terms(language: str, words: tuple[str, ...]) -> re.Pattern[str]:
    if not words:
        return re.compile(r"(?!x)x")  # matches nothing
    parts = []
    for word in sorted(words, key=len, reverse=True):
        stem = re.escape(word.lower().strip("*"))
        if language in UNSPACED:
            parts.append(stem)
        else:
            ending = r"[^\W_]*" if word.endswith("*") else ""
            beginning = r"[^\W_]*" if word.startswith("*") else ""
            parts.append(rf"(?<![^\W_]){beginning}{stem}{ending}(?![^\W_])")
    return re.compile("|".join(parts), re.UNICODE)


def read_yaml(path: Path | None, default: str) -> dict[str, Any]:
    """A word-list file: the user's, or the one shipped with Tenure."""
    try:
        if path is None:
            text = resources.files("tenure.text").joinpath(default).read_text(encoding="utf-8")
        else:
            text = Path(path).read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise TenureError(f"cannot read the word list {path or default}: {exc}") from None
    if not isinstance(data, dict):
        raise TenureError(f"{path or default}: expected a mapping at the top level")
    return data


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())
