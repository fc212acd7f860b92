"""Chunked loading: a file loaded a few rows at a time gives the same rows, rejects (with their
original lines) and rollups as in one chunk, re-loads change nothing, and a load interrupted
between chunks (an error, or the process killed) leaves the store as it was."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tenure
from tenure.data import loader
from tenure.workspace import Workspace

COLUMNS = ["event_id", "occurred_at", "name", "account_id", "user_id", "session_id", "page"]
ONE_CHUNK = "1000000"


def _base_rows() -> list[list[str]]:
    """Events of six users over a fortnight."""
    rows = []
    for i in range(1, 61):
        day = 1 + i % 14
        rows.append(
            [
                f"E{i:03d}",
                f"2026-03-{day:02d}T{8 + i % 10:02d}:{i % 60:02d}:00Z",
                "page_view" if i % 3 else "feature_used",
                f"A{i % 3}",
                f"U{i % 6}",
                f"S{i % 6}-{day}",
                f"/p{i % 4}",
            ]
        )
    return rows


def _increment_rows() -> list[list[str]]:
    """New events and changed ones, with every kind of problem spread over the file."""
    rows: list[list[str]] = []
    for i in range(61, 73):
        day = 1 + i % 14
        rows.append([f"E{i:03d}", f"2026-03-{day:02d}T10:00:00Z", "page_view", "A1", f"U{i % 6}"])
        rows[-1] += [f"S{i % 6}-{day}", "/new"]
    rows[2] = ["E005", "2026-03-06T09:05:00Z", "page_view", "A2", "U5", "S5-6", "/changed"]
    rows[4] = ["E090", "not a time", "page_view", "A1", "U1", "S1", "/x"]
    rows[6] = ["E091", "2026-03-02T10:00:00Z", "page_view", "A1", "", "S1", "/x"]  # no user
    rows.insert(1, ["E080", "2026-03-03T10:00:00Z", "page_view", "A1", "U1", "S1-3", "/dup"])
    rows.append(["E080", "2026-03-03T10:00:00Z", "page_view", "A1", "U1", "S1-3", "/dup"])
    rows.insert(3, ["E081", "2026-03-04T10:00:00Z", "page_view", "A1", "U2", "S2-4", "/a"])
    rows.append(["E081", "2026-03-04T10:00:00Z", "page_view", "A1", "U2", "S2-4", "/b"])
    rows.append(["", "2026-03-05T10:00:00Z", "page_view", "A1", "U2", "S2-5", "/nokey"])
    rows.append(["E082", "2026-03-05T10:00:00Z", "signup", "A9", "U9", "S9-5", "/unknown"])
    return rows


def _csv(rows: list[list[str]], *, extras: bool = True) -> str:
    lines = [",".join(COLUMNS)]
    for n, row in enumerate(rows):
        lines.append(",".join(row))
        if extras and n == 5:
            lines.append("")  # a blank line
            lines.append("E099,2026-03-05T10:00:00Z,too,many,fields,here,and,more")
        if extras and n == 8:  # a record over two lines
            lines.append('E098,2026-03-05T10:00:00Z,"page_view",A1,U1,S1-5,"/two\nlines"')
    return "\n".join(lines) + "\n"


def _write(folder: Path, name: str, rows: list[list[str]], fmt: str) -> Path | pa.Table:
    table = pa.table({c: [r[i] or None for r in rows] for i, c in enumerate(COLUMNS)})
    path = folder / f"{name}.{fmt}"
    if fmt == "csv":
        path.write_text(_csv(rows), encoding="utf-8")
    elif fmt == "jsonl":
        text = "\n".join(json.dumps(dict(zip(COLUMNS, r, strict=True))) for r in rows)
        path.write_text(text + "\n{not json}\n", encoding="utf-8")
    elif fmt == "parquet":
        pq.write_table(table, path, row_group_size=7)
    else:
        return table
    return path


def _state(ws: Workspace) -> dict[str, Any]:
    """Everything a load may change: the events, the accounts, the loads log (without its
    times) and every rollup table."""
    con = ws.duckdb
    tables = [
        name
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'main' AND starts_with(table_name, '_tenure_rollup_') ORDER BY 1"
        ).fetchall()
    ]
    state: dict[str, Any] = {
        t: sorted(con.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr) for t in tables
    }
    state["events"] = sorted(con.execute("SELECT * FROM events").fetchall(), key=repr)
    state["loads"] = con.execute(
        "SELECT * EXCLUDE (loaded_at) FROM _tenure_loads ORDER BY loaded_at, table_name"
    ).fetchall()
    return state


def _report(report: loader.LoadReport) -> tuple[Any, ...]:
    return (
        report.rows_read,
        report.inserted,
        report.updated,
        report.unchanged,
        report.duplicates,
        report.rejected,
        report.problems,
        [(r.line, r.column, r.value, r.reason) for r in report.rejects],
        report.unknown_accounts,
        report.unknown_account_ids,
    )


def _load_both(
    folder: Path, fmt: str, monkeypatch: pytest.MonkeyPatch, chunk: str
) -> tuple[list[tuple[Any, ...]], dict[str, Any], str]:
    """Load accounts, the base events and the increment twice (the second time unchanged)."""
    monkeypatch.setenv(loader.CHUNK_ENV, chunk)
    store = folder / f"store-{chunk}.duckdb"
    reports = []
    with tenure.connect(f"duckdb:///{store}") as ws:
        ws.load(
            "accounts",
            pa.table({"account_id": ["A0", "A1", "A2"], "created_at": ["2026-01-01"] * 3}),
        )
        for name, rows in (("base", _base_rows()), ("increment", _increment_rows())):
            source = _write(folder, name, rows, fmt)
            rejects = folder / f"{name}-{chunk}.{fmt}.rejects.csv"
            reports.append(_report(ws.load("events", source, rejects_path=rejects)))
        again = ws.load("events", _write(folder, "increment", _increment_rows(), fmt))
        assert again.inserted == again.updated == 0
        reports.append(_report(again))
        state = _state(ws)
        ws.duckdb.execute("DELETE FROM _tenure_rollups")  # the rollups as a rebuild makes them
        assert ws.refresh_rollups() and _state(ws) == state
    written = (folder / f"increment-{chunk}.{fmt}.rejects.csv").read_text(encoding="utf-8")
    return reports, state, written


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "frame"])
def test_many_chunks_give_what_one_chunk_gives(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = _load_both(tmp_path, fmt, monkeypatch, ONE_CHUNK)
    many = _load_both(tmp_path, fmt, monkeypatch, "3")
    assert many == one
    reports, state, _ = one
    base, increment, again = reports
    assert base[1] >= 60 and increment[2] == 1  # E005 changed
    lines = {reason for _, _, _, reason in increment[7]}
    assert any("duplicate key with different content" in r for r in lines)
    assert any("cannot read as a timestamp" in r for r in lines)
    assert increment[4] == 1  # E080 twice, identical: loaded once
    assert increment[8] == 1 and increment[9] == ["A9"]
    assert again[3] == increment[1] + increment[2] + increment[3]  # all unchanged
    assert {"_tenure_rollup_sessions", "_tenure_rollup_user_days"} <= set(state)


def test_rejects_keep_their_original_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(loader.CHUNK_ENV, "2")
    path = tmp_path / "e.csv"
    path.write_text(_csv(_increment_rows()), encoding="utf-8")
    with tenure.connect("duckdb://") as ws:
        report = ws.load("events", path)
    found = {(r.line, r.column) for r in report.rejects}
    text = path.read_text(encoding="utf-8").splitlines()
    bad_time = next(n for n, line in enumerate(text, 1) if "not a time" in line)
    fields = next(n for n, line in enumerate(text, 1) if "too,many" in line)
    conflicting = [n for n, line in enumerate(text, 1) if line.startswith("E081")]
    assert (bad_time, "occurred_at") in found and (fields, "") in found
    assert {(n, "event_id") for n in conflicting} <= found


def test_a_load_interrupted_between_chunks_leaves_the_store_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(loader.CHUNK_ENV, "4")
    with tenure.connect(f"duckdb:///{tmp_path / 's.duckdb'}") as ws:
        ws.load("events", _write(tmp_path, "base", _base_rows(), "csv"))
        before = _state(ws)
        merge = loader._Run.merge
        calls: list[int] = []

        def merge_then_fail(run: loader._Run) -> None:
            merge(run)
            calls.append(run.report.inserted)
            if len(calls) == 3:
                raise RuntimeError("power cut")

        monkeypatch.setattr(loader._Run, "merge", merge_then_fail)
        with pytest.raises(RuntimeError, match="power cut"):
            ws.load("events", _write(tmp_path, "increment", _increment_rows(), "csv"))
        assert len(calls) == 3 and calls[-1] > 0  # rows were merged before the failure
        assert _state(ws) == before
        monkeypatch.undo()
        monkeypatch.setenv(loader.CHUNK_ENV, "4")
        report = ws.load("events", tmp_path / "increment.csv")
        assert report.inserted > 0 and report.updated == 1


def test_a_load_killed_between_chunks_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    store = tmp_path / "s.duckdb"
    with tenure.connect(f"duckdb:///{store}") as ws:
        ws.load("events", _write(tmp_path, "base", _base_rows(), "csv"))
        before = _state(ws)
    increment = _write(tmp_path, "increment", _increment_rows(), "csv")
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        import tenure
        from tenure.data import loader

        def die(done: int, chunks: int) -> None:
            if done == 3:
                os.kill(os.getpid(), signal.SIGKILL)

        with tenure.connect({f"duckdb:///{store}"!r}) as ws:
            loader.load(ws.duckdb, "events", Path({str(increment)!r}),
                        reporting_currency=ws.reporting_currency, chunk_rows=3, progress=die)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert done.returncode == -9, done.stderr.decode()
    with tenure.connect(f"duckdb:///{store}") as ws:
        assert _state(ws) == before
