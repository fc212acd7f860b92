"""The live workspace: concurrent reads on cursors, one writer, reads never wait for a write."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd

from tenure.live import LiveWorkspace

ACCOUNTS = pd.DataFrame(
    {"account_id": ["a1", "a2"], "name": ["Acme", "Birch"], "created_at": ["2025-01-01"] * 2}
)


def test_reads_run_while_a_write_is_in_progress(tmp_path: Path) -> None:
    live = LiveWorkspace.open(f"duckdb:///{tmp_path / 'live.duckdb'}")
    with live.writer() as ws:
        ws.load("accounts", ACCOUNTS)
    seen: list[int] = []
    done = threading.Event()

    def read() -> None:
        with live.reader() as reader:
            seen.append(int(reader.table("accounts").count().execute()))
        done.set()

    with live.writer() as ws:
        con = ws.duckdb
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO accounts (account_id, name) VALUES ('a3', 'Cedar')")
        thread = threading.Thread(target=read)
        thread.start()
        # With one engine lock for everything the reader would wait for this write: it must not.
        assert done.wait(30), "a read waited for the writer"
        con.execute("COMMIT")
    thread.join()
    assert seen == [2]  # the last committed state, not the write in progress
    with live.reader() as reader:
        assert reader.table("accounts").count().execute() == 3
    live.close()


def test_each_thread_reads_on_its_own_cursor_and_the_version_moves_with_writes(
    tmp_path: Path,
) -> None:
    live = LiveWorkspace.open(f"duckdb:///{tmp_path / 'live.duckdb'}")
    with live.writer() as ws:
        ws.load("accounts", ACCOUNTS)
    version = live.version
    readers: list[object] = []
    barrier = threading.Barrier(4)
    counts: list[int] = []

    def read() -> None:
        with live.reader() as reader:
            barrier.wait(30)  # four reads in flight at once
            readers.append(reader.backend.con)
            counts.append(int(reader.table("accounts").count().execute()))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counts == [2, 2, 2, 2]
    assert len({id(c) for c in readers}) == 4
    with live.writer() as ws:
        ws.set_setting("reporting_currency", "EUR")
    assert live.version > version
    with live.reader() as reader:
        assert reader.reporting_currency == "EUR"
    live.close()


def test_survey_response_rates_run_on_the_readers_own_connection(tmp_path: Path) -> None:
    """Without a segment the rates hold only in-memory counts; they must still run on the
    reader's connection (conftest makes Ibis's shared default connection fail any query)."""
    from tenure.app.store import Store
    from tenure.app.surveys import response_rates

    live = LiveWorkspace.open(f"duckdb:///{tmp_path / 'live.duckdb'}")
    with live.writer() as ws:
        ws.load("accounts", ACCOUNTS)
    store = Store(f"sqlite:///{tmp_path / 'app.db'}")
    with live.reader() as reader:
        rates = response_rates(store, reader)  # no segment: only in-memory counts
    assert rates.empty
    store.dispose()
    live.close()
