"""What a connector is: named streams of records, pulled in pages, and a transform to the contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pandas as pd

Record = dict[str, Any]


@dataclass(frozen=True)
class Page:
    """One page of a stream. `cursor` is where the next pull resumes once this page is staged
    (opaque to the runner); None means the stream has nothing newer to resume from."""

    stream: str
    records: Sequence[Record]
    cursor: str | None


class Connector(ABC):
    """A source. `streams` are pulled in order; records are keyed by `record_id`."""

    kind: ClassVar[str]
    streams: ClassVar[tuple[str, ...]]

    @abstractmethod
    def pull(self, stream: str, cursor: str | None) -> Iterator[Page]:
        """Pages of `stream` changed after `cursor` (everything when None), oldest first."""

    def record_id(self, stream: str, record: Record) -> str:
        return str(record["id"])

    @abstractmethod
    def transform(self, staged: Mapping[str, Sequence[Record]]) -> dict[str, pd.DataFrame]:
        """Canonical tables (contract column names) from every record staged so far, by stream.
        It sees the whole staged state, not just the latest pages, so its result does not depend
        on how the records arrived."""
