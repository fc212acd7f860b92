"""What the application (goals, surveys, automations) asks of a workspace: the tables that
metrics read, plus the workspace's own operations it runs (metrics, health, loading answers).

A `tenure.workspace.Workspace` satisfies `AppTables` structurally; the app is typed against
this protocol because the workspace sits above it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from tenure.data.loader import LoadReport
from tenure.metrics.tables import Tables


class AppTables(Tables, Protocol):
    """A workspace as the application uses it."""

    def metrics(
        self,
        names: Sequence[str],
        *,
        grain: str = "month",
        start: dt.date | None = None,
        end: dt.date | None = None,
        by: Sequence[str] = (),
    ) -> pd.DataFrame:
        """Metrics per period and segment (see `tenure.metrics.compute.compute`)."""
        ...

    def health(self, *, as_of: dt.date | None = None) -> pd.DataFrame:
        """Health score and band of the accounts paying on `as_of` (see `tenure.models.health`)."""
        ...

    def load(self, table: str, source: Any) -> LoadReport:
        """Load a frame (or file) into a canonical table through the ordinary loader."""
        ...
