"""The embedded store works within a memory budget: $TENURE_MEMORY_LIMIT (default half the
machine's memory) and $TENURE_TEMP_DIR (default `<store>.tmp`), set on every DuckDB connection
`open_backend` makes; what does not fit spills to the temp folder instead of failing."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tenure.engine.connection import machine_memory, open_backend
from tenure.errors import TenureError


def settings(backend: object) -> tuple[str, str]:
    row = backend.con.execute(  # type: ignore[attr-defined]
        "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
    ).fetchone()
    return str(row[0]), str(row[1])


def test_the_default_budget_is_half_the_machine_and_spills_beside_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TENURE_MEMORY_LIMIT", raising=False)
    monkeypatch.delenv("TENURE_TEMP_DIR", raising=False)
    store = tmp_path / "s.duckdb"
    backend = open_backend(f"duckdb:///{store}")
    try:
        limit, temp = settings(backend)
    finally:
        backend.disconnect()
    total = machine_memory()
    assert total is not None
    gib = float(limit.split()[0]) * {"GiB": 2**30, "MiB": 2**20}[limit.split()[1]]
    assert abs(gib - total / 2) < 0.02 * total
    assert temp == f"{store}.tmp"


def test_the_budget_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENURE_MEMORY_LIMIT", "256MiB")
    monkeypatch.setenv("TENURE_TEMP_DIR", str(tmp_path / "spill here"))
    store = tmp_path / "s.duckdb"
    open_backend(f"duckdb:///{store}").disconnect()  # create it, then read it read-only
    backend = open_backend(f"duckdb:///{store}", read_only=True)
    try:
        assert settings(backend) == ("256.0 MiB", str(tmp_path / "spill here"))
    finally:
        backend.disconnect()


def test_a_share_of_the_machine_is_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENURE_MEMORY_LIMIT", "25%")
    backend = open_backend("duckdb://")
    try:
        limit, _ = settings(backend)
    finally:
        backend.disconnect()
    total = machine_memory()
    assert total is not None
    value = float(limit.split()[0]) * {"GiB": 2**30, "MiB": 2**20}[limit.split()[1]]
    assert abs(value - total / 4) < 0.02 * total


@pytest.mark.parametrize(
    "value", ["lots", "12", "-1GB", "0GB", "12 GB; DROP TABLE x", "150%", "1e3MB"]
)
def test_a_bad_budget_is_one_line(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TENURE_MEMORY_LIMIT", value)
    with pytest.raises(TenureError) as raised:
        open_backend("duckdb://")
    assert "TENURE_MEMORY_LIMIT" in str(raised.value) and "\n" not in str(raised.value)


def test_a_sort_larger_than_the_budget_spills_instead_of_failing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TENURE_MEMORY_LIMIT", "64MB")
    monkeypatch.delenv("TENURE_TEMP_DIR", raising=False)
    store = tmp_path / "s.duckdb"
    spill = Path(f"{store}.tmp")
    backend = open_backend(f"duckdb:///{store}")
    seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:  # the spill files exist only while the sort runs
        while not done.is_set():
            if spill.is_dir():
                seen.update(os.listdir(spill))
            time.sleep(0.005)

    try:
        backend.con.execute("SET threads = 2")
        backend.con.execute(
            "CREATE TABLE t AS SELECT i, random() AS r, md5(i::VARCHAR) AS h "
            "FROM range(3000000) AS s(i)"
        )
        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            backend.con.execute("CREATE TABLE sorted AS SELECT * FROM t ORDER BY h")
        finally:
            done.set()
            watcher.join()
        count = backend.con.execute("SELECT count(*) FROM sorted").fetchone()
    finally:
        backend.disconnect()
    assert count == (3_000_000,)
    assert seen, "the sort did not spill to the temp folder"
