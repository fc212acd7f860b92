"""What metrics, models and text read from a workspace: its tables, engine and settings.

A `tenure.workspace.Workspace` satisfies `Tables` structurally; the lower layers are typed
against this protocol so that they never import the workspace that sits above them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import duckdb
import ibis.expr.types as ir

from tenure.metrics.definitions import Definitions
from tenure.metrics.policy import RevenuePolicy

if TYPE_CHECKING:
    from tenure.metrics.compiled import CompiledQueries


class Tables(Protocol):
    """One company's tables on one engine, with the settings that say how to count them."""

    def table(self, name: str) -> ir.Table:
        """The Ibis table of a canonical table (or of a stored rollup)."""
        ...

    @property
    def backend(self) -> Any:
        """The Ibis backend the tables live on (DuckDB, Spark, ...)."""
        ...

    @property
    def is_embedded(self) -> bool:
        """True for the embedded DuckDB store, the one that can be written to."""
        ...

    @property
    def duckdb(self) -> duckdb.DuckDBPyConnection:
        """The raw connection of the embedded store (rollups are written through it)."""
        ...

    def note_read(self, name: str) -> None:
        """Record that the computation being watched reads `name` (a live server's cache)."""
        ...

    @property
    def read_only(self) -> bool: ...

    @property
    def reporting_currency(self) -> str: ...

    @property
    def timezone(self) -> str: ...

    @property
    def policy(self) -> RevenuePolicy: ...

    @property
    def definitions(self) -> Definitions: ...

    @property
    def data_version(self) -> int:
        """Moves with every load: results derived from the data are valid while it holds."""
        ...

    @property
    def memo(self) -> dict[Any, Any]:
        """Results derived from one data version (a fitted comment model, ...)."""
        ...

    @property
    def compiled(self) -> CompiledQueries:
        """The SQL of recent requests, kept across data versions (see `compiled.py`)."""
        ...
