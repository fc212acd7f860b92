"""A live workspace: one process owns the embedded store while it serves.

Reads run concurrently, each thread on its own DuckDB cursor of the one connection (DuckDB runs
them in parallel over the last committed state); writes (loads, settings, model training,
snapshot refreshes) go through one writer at a time and never hold up a read for longer than
their commit. `version` moves with every write; a load also records the table it changed, so a
cache can keep a result whose tables did not change (`stamp`, `holds`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tenure.workspace import EVERYTHING, Workspace, connect


@dataclass(frozen=True)
class Stamp:
    version: int  # every write
    epoch: int  # writes that may change anything
    tables: dict[str, int]  # per table, the version of its last change


class LiveWorkspace:
    """Hands each thread a read-only workspace on its own cursor, and the writer to one caller
    at a time."""

    def __init__(self, workspace: Workspace) -> None:
        self._writer = workspace
        self._write_lock = threading.Lock()
        # A non-embedded engine (Spark) has no cursors: its reads share the writer's lock.
        self._engine_lock = threading.Lock()
        self._local = threading.local()
        self._version = 0
        self._derived = 0
        # Per table, the version of the last write that changed it; a write that may change
        # anything (not a load) moves `_epoch` instead. See `stamp` and `holds`.
        self._table_versions: dict[str, int] = {}
        self._epoch = 0
        # Per-version results shared by every reader (a fitted comment model, ...).
        self.memo: dict[Any, Any] = {}
        # Called after each write that changed the data (the server refreshes its snapshot).
        self.after_write: list[Callable[[], None]] = []
        # Every reader's cursor, closed with the store: a cursor left open in an idle thread
        # keeps the database alive past the interpreter's shutdown.
        self._cursors: list[Workspace] = []
        self._cursors_lock = threading.Lock()
        workspace.on_close.append(self._close_readers)

    @classmethod
    def open(cls, url: str | None = None) -> LiveWorkspace:
        return cls(connect(url))

    @property
    def url(self) -> str:
        return self._writer.url

    @property
    def is_embedded(self) -> bool:
        return self._writer.is_embedded

    @property
    def version(self) -> int:
        """Moves after every write; a result computed at version v is valid while it holds."""
        return self._version

    def stamp(self) -> Stamp:
        """The versions now, taken before a computation starts: its result is valid while the
        tables it read are unchanged since (`holds`)."""
        return Stamp(self._version, self._epoch, dict(self._table_versions))

    def holds(self, stamp: Stamp, reads: frozenset[str]) -> bool:
        """Whether a result computed at `stamp` from `reads` is still current."""
        if EVERYTHING in reads:
            return stamp.version == self._version
        if stamp.epoch != self._epoch:
            return False
        current = self._table_versions
        return all(stamp.tables.get(t, 0) == current.get(t, 0) for t in reads)

    @property
    def derived_version(self) -> int:
        """Moves after every write that only derived tables from the data (the account
        snapshot); results read from those tables are valid while both versions hold."""
        return self._derived

    @contextlib.contextmanager
    def reader(self) -> Iterator[Workspace]:
        """A workspace for reading on this thread's cursor, current as of the last commit."""
        if not self.is_embedded:
            with self._engine_lock:
                yield self._writer
            return
        current: Workspace | None = getattr(self._local, "workspace", None)
        if current is None or current.data_version != self._version:
            if current is not None:
                self._retire(current)  # a new cursor: temporary stand-ins must not shadow data
            current = self._cursor_workspace()
            self._local.workspace = current
        yield current

    def _retire(self, reader: Workspace) -> None:
        with self._cursors_lock:
            if reader in self._cursors:
                self._cursors.remove(reader)
        reader.close()

    def _close_readers(self) -> None:
        with self._cursors_lock:
            readers, self._cursors = self._cursors, []
        for reader in readers:
            reader.close()

    def _cursor_workspace(self) -> Workspace:
        import ibis

        cursor = self._writer.duckdb.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        workspace = Workspace(ibis.duckdb.from_connection(cursor), self.url, read_only=True)
        workspace.data_version = self._version
        workspace.memo = self.memo
        with self._cursors_lock:
            self._cursors.append(workspace)
        return workspace

    @contextlib.contextmanager
    def writer(self, *, changes_data: bool = True) -> Iterator[Workspace]:
        """The one writer; callers queue here. The version moves when the write is done, unless
        the write only derives tables from the data (`changes_data=False`: a snapshot)."""
        with self._write_lock, self._engine_lock:
            self._writer.touched = set()
            try:
                yield self._writer
            finally:
                if changes_data:
                    self._version += 1
                    self._writer.data_version = self._version
                    self.memo.clear()
                    touched = self._writer.touched
                    if not touched or EVERYTHING in touched:
                        self._epoch += 1
                    for table in touched:
                        self._table_versions[table] = self._version
                else:
                    self._derived += 1
        if changes_data:
            for callback in self.after_write:
                callback()

    def close(self) -> None:
        self._writer.close()
