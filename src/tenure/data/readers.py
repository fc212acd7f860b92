"""Turn a file or DataFrame into a DuckDB staging relation with a `_line` column.

CSV and JSON Lines pass through Python's readers in chunks so that every record keeps the exact
line it started on (quoted newlines included) and a malformed record is reported, not skipped.
Parquet and DataFrames are scanned by DuckDB directly; their `_line` is the 1-based row number.
"""

from __future__ import annotations

import contextlib
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tenure.errors import SourceError

STAGING = "_tenure_staging"
CHUNK_ROWS = 100_000
# Python's csv module refuses a field over 128 KiB and fails the whole file; the loader instead
# rejects a row whose value is over its max_field_length, so the reader itself allows far more.
READER_FIELD_LIMIT = 1 << 30
FORMATS = ("csv", "jsonl", "parquet")


@dataclass(frozen=True)
class Reject:
    line: int
    column: str
    value: str | None
    reason: str


@dataclass
class Staged:
    """What a reader leaves behind: a relation named STAGING plus what it learnt on the way."""

    source: str  # file path or "<DataFrame>", for messages
    line_label: str  # "line" for text files, "row" for Parquet and frames
    columns: list[str]  # source column names, in order
    types: dict[str, str]  # DuckDB type of each source column
    rows: int
    rejects: list[Reject] = field(default_factory=list)
    # The first `_line` of each chunk of `chunk_rows` staged rows (lines are not contiguous in a
    # text file: quoted newlines, blank and malformed lines).
    starts: list[int] = field(default_factory=lambda: [1])

    def chunks(self) -> list[tuple[int, int | None]]:
        """[first, next first) `_line` bounds of each chunk, the last one open."""
        starts = self.starts or [1]
        return [(a, b) for a, b in zip(starts, [*starts[1:], None], strict=True)]


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("csv", "txt"):
        return "csv"
    if suffix in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if suffix in ("parquet", "pq"):
        return "parquet"
    raise SourceError(
        f"{path}: cannot tell the format from the extension {path.suffix!r}; "
        f"use .csv, .jsonl or .parquet, or pass --format ({', '.join(FORMATS)})"
    )


def stage_file(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str | None = None, chunk_rows: int = 0
) -> Staged:
    """Stage `path`; `chunk_rows` > 0 also marks where each chunk of that many rows starts."""
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if not path.is_file():
        raise SourceError(f"{path}: not a file")
    fmt = fmt or detect_format(path)
    if fmt == "csv":
        return _stage_chunks(con, str(path), _csv_chunks(path), chunk_rows)
    if fmt == "jsonl":
        return _stage_chunks(con, str(path), _jsonl_chunks(path), chunk_rows)
    if fmt == "parquet":
        return _by_row_groups(con, _stage_parquet(con, path), path, chunk_rows)
    raise SourceError(f"{path}: unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def _numbered(staged: Staged, chunk_rows: int) -> Staged:
    """Chunks of a relation whose `_line` is its row number."""
    if chunk_rows > 0:
        staged.starts = list(range(1, max(staged.rows, 1) + 1, chunk_rows))
    return staged


def _by_row_groups(
    con: duckdb.DuckDBPyConnection, staged: Staged, path: Path, chunk_rows: int
) -> Staged:
    """Chunks of whole row groups (at least `chunk_rows` rows each, but for the last), so that
    each chunk reads only its own row groups."""
    if chunk_rows <= 0:
        return staged
    sizes = con.execute(
        "SELECT row_group_num_rows FROM (SELECT DISTINCT row_group_id, row_group_num_rows "
        "FROM parquet_metadata(?)) ORDER BY row_group_id",
        [str(path)],
    ).fetchall()
    starts, rows, pending = [1], 0, 0
    for (size,) in sizes:
        if pending >= chunk_rows:
            starts.append(rows + 1)
            pending = 0
        rows += int(size)
        pending += int(size)
    staged.starts = starts
    return staged


def stage_frame(con: duckdb.DuckDBPyConnection, frame: Any, chunk_rows: int = 0) -> Staged:
    """Stage a pandas or Polars DataFrame, or a pyarrow Table."""
    table = _to_arrow(frame)
    if "_line" in table.column_names:
        raise SourceError("<DataFrame>: the column name '_line' is reserved")
    table = table.append_column("_line", pa.array(range(1, table.num_rows + 1), pa.int64()))
    con.register(STAGING, table)
    staged = Staged("<DataFrame>", "row", table.column_names[:-1], _types(con), table.num_rows)
    return _numbered(staged, chunk_rows)


def _to_arrow(frame: Any) -> pa.Table:
    if isinstance(frame, pa.Table):
        return frame
    if hasattr(frame, "to_arrow"):  # Polars
        return frame.to_arrow()
    try:
        import pandas as pd

        if isinstance(frame, pd.DataFrame):
            try:
                return pa.Table.from_pandas(frame, preserve_index=False)
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                # Mixed-type object columns: read everything as text, validation types it.
                as_text = frame.astype("string")
                return pa.Table.from_pandas(as_text, preserve_index=False)
    except ImportError:  # pragma: no cover - pandas is a dependency
        pass
    raise SourceError(
        f"cannot load a {type(frame).__name__}; pass a pandas or Polars DataFrame or a pyarrow Table"
    )


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Remove the relation `name` whatever made it: a temp table, a view, or a registered frame
    (the staging relation a reader left)."""
    kinds = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [name]
    ).fetchall()
    for (kind,) in kinds:
        con.execute(f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS {quote(name)}")
    with contextlib.suppress(duckdb.Error):
        con.unregister(name)


def _types(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    described = con.execute(f'DESCRIBE "{STAGING}"').fetchall()
    return {str(name): str(kind) for name, kind, *_ in described if name != "_line"}


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    try:
        rel = con.read_parquet(str(path), file_row_number=True)
        columns = [c for c in rel.columns if c != "file_row_number"]
        if "_line" in columns:
            raise SourceError(f"{path}: the column name '_line' is reserved")
        rel = rel.select(
            duckdb.SQLExpression("file_row_number + 1 AS _line"),
            *[duckdb.ColumnExpression(quote(c)) for c in columns],
        )
        rel.create_view(STAGING, replace=True)
        rows = con.execute(f'SELECT count(*) FROM "{STAGING}"').fetchone()
    except duckdb.Error as exc:
        raise SourceError(f"{path}: not a readable Parquet file ({_first_line(exc)})") from None
    return Staged(str(path), "row", columns, _types(con), int(rows[0]) if rows else 0)


def quote(name: str) -> str:
    """A SQL identifier, whatever characters a user's column name holds."""
    return '"' + name.replace('"', '""') + '"'


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


# A chunk: (column names, rows of text values with their line number first, rejects)
_Chunk = tuple[list[str], list[list[Any]], list[Reject]]


def _stage_chunks(
    con: duckdb.DuckDBPyConnection, source: str, chunks: Iterator[_Chunk], chunk_rows: int
) -> Staged:
    drop_relation(con, STAGING)
    starts: list[int] = []
    con.execute(f'CREATE TEMP TABLE "{STAGING}" (_line BIGINT)')
    columns: list[str] = []
    rejects: list[Reject] = []
    rows = 0
    for names, records, chunk_rejects in chunks:
        rejects.extend(chunk_rejects)
        for name in names:
            if name not in columns:
                columns.append(name)
                con.execute(f'ALTER TABLE "{STAGING}" ADD COLUMN {quote(name)} VARCHAR')
        if not records:
            continue
        if chunk_rows > 0:
            starts += [r[0] for r in records[(-rows) % chunk_rows :: chunk_rows]]
        arrays = [pa.array([r[0] for r in records], pa.int64())]
        arrays += [pa.array([r[i + 1] for r in records], pa.string()) for i in range(len(names))]
        chunk = pa.Table.from_arrays(arrays, names=["_line", *names])
        con.register("_tenure_chunk", chunk)
        con.execute(f'INSERT INTO "{STAGING}" BY NAME SELECT * FROM _tenure_chunk')
        con.unregister("_tenure_chunk")
        rows += len(records)
    types = {c: "VARCHAR" for c in columns}
    return Staged(source, "line", columns, types, rows, rejects, starts or [1])


def _csv_chunks(path: Path) -> Iterator[_Chunk]:
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror})") from None
    if csv.field_size_limit() < READER_FIELD_LIMIT:
        csv.field_size_limit(READER_FIELD_LIMIT)  # process-wide; only ever raised
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise SourceError(f"{path}: the file is empty; a header row is required")
            header = [h.strip() for h in header]
            _check_header(path, header)
            records: list[list[Any]] = []
            rejects: list[Reject] = []
            last_line = reader.line_num
            for fields in reader:
                start, last_line = last_line + 1, reader.line_num
                if not fields:  # blank line
                    continue
                if len(fields) != len(header):
                    rejects.append(
                        Reject(
                            start,
                            "",
                            ",".join(fields)[:200],
                            f"expected {len(header)} fields as in the header, found {len(fields)}",
                        )
                    )
                    continue
                records.append([start, *(f if f.strip() != "" else None for f in fields)])
                if len(records) >= CHUNK_ROWS:
                    yield header, records, rejects
                    records, rejects = [], []
            yield header, records, rejects
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{path}: not UTF-8 text near line {reader.line_num + 1} ({exc.reason}); "
                "save the file as UTF-8"
            ) from None
        except csv.Error as exc:
            raise SourceError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None


def _check_header(path: Path, header: list[str]) -> None:
    seen: set[str] = set()
    for name in header:
        if not name:
            raise SourceError(f"{path}: line 1: a column has an empty name")
        if name in seen:
            raise SourceError(f"{path}: line 1: the column {name!r} appears twice")
        if name == "_line":
            raise SourceError(f"{path}: line 1: the column name '_line' is reserved")
        seen.add(name)


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() != "" else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _jsonl_chunks(path: Path) -> Iterator[_Chunk]:
    try:
        handle = path.open(encoding="utf-8-sig")
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror})") from None
    names: list[str] = []
    records: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    line_no = 0
    with handle:
        try:
            for line_no, text in enumerate(handle, start=1):
                if not text.strip():
                    continue
                try:
                    obj = json.loads(text)
                except json.JSONDecodeError as exc:
                    rejects.append(
                        Reject(line_no, "", text.strip()[:200], f"malformed JSON: {exc.msg}")
                    )
                    continue
                if not isinstance(obj, dict):
                    rejects.append(
                        Reject(line_no, "", text.strip()[:200], "a line must be a JSON object")
                    )
                    continue
                for key in obj:
                    if key not in names:
                        if key == "_line":
                            raise SourceError(
                                f"{path}: line {line_no}: the key '_line' is reserved"
                            )
                        names.append(key)
                obj["_line"] = line_no
                records.append(obj)
                if len(records) >= CHUNK_ROWS:
                    yield names, _rows(names, records), rejects
                    records, rejects = [], []
        except UnicodeDecodeError as exc:
            raise SourceError(
                f"{path}: not UTF-8 text near line {line_no + 1} ({exc.reason}); save the file as UTF-8"
            ) from None
    yield names, _rows(names, records), rejects


def _rows(names: list[str], records: list[dict[str, Any]]) -> list[list[Any]]:
    return [[r["_line"], *(_json_text(r.get(n)) for n in names)] for r in records]
