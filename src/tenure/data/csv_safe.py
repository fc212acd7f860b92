"""The one CSV writer for files people open in a spreadsheet: text cannot become a formula.

A spreadsheet runs a cell that begins with `=`, `+`, `-` or `@` (and, in some, a tab or carriage
return before one) as a formula: `=HYPERLINK(...)` leaks data, `+cmd|...` runs a program. As
OWASP recommends, such a text cell is written with a leading single quote (`'=HYPERLINK(...)`),
which spreadsheets show as text. The rule:

- only text is touched; numbers, dates and missing values are written as they are;
- a text cell that is entirely a plain decimal number (`-12.5`, `+3`, `-1e5`) is left alone:
  a spreadsheet can only read it as that number, and a rejects file must show the `-100` it got;
- every other text cell whose first character is one of `= + - @ TAB CR` gets the quote.

The same rule is in the dashboard's CSV button (`csvText` in web/static/app.js). Parquet and JSON
are written raw: they are data formats, not documents a spreadsheet evaluates.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def neutralise(value: Any) -> Any:
    """`value` as a spreadsheet shows it without evaluating it; non-text is returned unchanged."""
    if isinstance(value, str) and value.startswith(TRIGGERS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells are neutralised; numeric columns are not touched."""
    import pandas as pd

    text_columns = [
        c
        for c in frame.columns
        if pd.api.types.is_object_dtype(frame[c]) or pd.api.types.is_string_dtype(frame[c])
    ]
    if not text_columns:
        return frame
    safe = frame.copy()
    for column in text_columns:
        safe[column] = safe[column].map(neutralise, na_action="ignore")
    return safe


def frame_to_csv(frame: pd.DataFrame) -> str:
    """`frame` as CSV text (header, no index) with text cells neutralised."""
    text: str = safe_frame(frame).to_csv(index=False)
    return text


def write_rows(handle: IO[str], header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Write a header and rows to an open text file (opened with newline="")."""
    writer = csv.writer(handle, lineterminator="\n")  # as pandas and DuckDB write
    writer.writerow(header)
    for row in rows:
        writer.writerow([neutralise(v) for v in row])
