"""Load one file or frame into a canonical table: validate, report rejects, merge by key.

The merge is idempotent: rows whose key is new are inserted, rows whose content changed are
updated, identical rows are left alone, and the whole load is one transaction, so a retry after a
failure neither loses nor double-counts anything.

A large file is typed, validated and merged in chunks of rows (row ranges of a Parquet file,
batches of records of a CSV or JSON Lines file), still in that one transaction: memory follows
the chunk, not the file, and the result (rows, rejects with their lines, rollups) is the one
loading it whole gives (see `_Run`).

A load never destroys data: a bad value rejects its row, never the file (a value longer than
`max_field_length`, a NUL character, a timestamp beyond the `horizon` are rejected with their
line), and the rejects file is only written where no file is, or over a rejects file (recognised
by its header); nothing is deleted.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import duckdb
import pyarrow as pa

from tenure.data import csv_safe, history, validate
from tenure.data.contract import (
    ACCOUNT_HISTORY,
    ACCOUNTS,
    CONTRACTS,
    TableContract,
    contract_for,
)
from tenure.data.mapping import Mapping, resolve_columns
from tenure.data.readers import (
    STAGING,
    Reject,
    Staged,
    drop_relation,
    quote,
    stage_file,
    stage_frame,
)
from tenure.data.validate import TYPED, literal
from tenure.errors import ContractError, MappingError, SourceError, TenureError

LOADS_TABLE = "_tenure_loads"
SETTINGS_TABLE = "_tenure_settings"
REJECTS = "_tenure_rejects"
GOOD = "_tenure_good"
REPEATED = "_tenure_repeated_keys"
TOUCHED = "_tenure_touched"  # rows a load inserted or updated, updated ones also as they were
TOUCHED_ROWS = "_tenure_touched_rows"  # the same rows, gathered chunk by chunk
DELTA = "_tenure_delta"  # a chunk's rows within the stored key range, new or changed
NEW = "_tenure_new"  # those of them whose key is new
CHANGED = "_tenure_changed"  # those whose content differs from the stored row
CANDIDATES = "_tenure_repeat_candidates"  # keys that repeat in the file, valid or not
DEFERRED = "_tenure_deferred"  # valid rows of those keys, settled after the last chunk
CHUNK_ENV = "TENURE_LOAD_CHUNK_ROWS"
DEFAULT_CHUNK_ROWS = 2_000_000  # rows typed and merged at a time; bounds a load's memory
KEPT_REJECTS = 1000  # rejects held in memory for display; the file has them all
SHOWN_VALUE_CHARS = 1000  # a rejected value longer than this is shown cut, ending in "…"
MAX_FIELD_LENGTH = 1_000_000  # bytes of one value; a longer one rejects its row
TIMESTAMP_HORIZON = dt.timedelta(days=365)  # a timestamp later than load time + this is rejected
REJECTS_COLUMNS = ("column", "value", "reason")  # after "file" and "line" (or "row")
SHOWN_ACCOUNT_IDS = 5  # unknown account ids named in the load report's warning
OnChange = Callable[[duckdb.DuckDBPyConnection, str], None]
Progress = Callable[[int, int], None]  # (chunks done, chunks), after each chunk is merged


@dataclass
class LoadReport:
    table: str
    source: str
    line_label: str
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    duplicates: int = 0  # identical repeats of a key inside the same file, loaded once
    rejected: int = 0  # rows (not problems): a row with two problems counts once
    problems: int = 0
    rejects: list[Reject] = field(default_factory=list)  # the first KEPT_REJECTS problems
    rejects_path: Path | None = None
    ignored_columns: list[str] = field(default_factory=list)
    new_attributes: list[str] = field(default_factory=list)
    unknown_accounts: int = 0  # loaded rows whose account_id is not in accounts (not --strict)
    unknown_account_ids: list[str] = field(default_factory=list)  # the first few, sorted
    more_unknown_accounts: bool = False  # other ids than those listed

    @property
    def warnings(self) -> list[str]:
        """What loaded but deserves a look, one sentence each."""
        if not self.unknown_accounts:
            return []
        rows = (
            "1 row names an account"
            if self.unknown_accounts == 1
            else f"{self.unknown_accounts} rows name accounts"
        )
        ids = ", ".join(self.unknown_account_ids) + (", ..." if self.more_unknown_accounts else "")
        return [f"{rows} not in the accounts table: {ids}"]

    @property
    def loaded(self) -> int:
        return self.inserted + self.updated

    @property
    def nothing_loaded(self) -> bool:
        """True when the file had rows and every one of them was rejected."""
        return self.rejected > 0 and self.loaded == 0 and self.unchanged == 0

    def summary(self) -> str:
        text = (
            f"{self.table} from {self.source}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.rejected} rejected"
        )
        if self.duplicates:
            text += f", {self.duplicates} identical duplicate(s) merged"
        return text


def ensure_table(
    con: duckdb.DuckDBPyConnection, contract: TableContract, *, temporary: bool = False
) -> None:
    """Create the table empty if missing; `temporary` (for a read-only store) lasts as long as
    the connection."""
    columns = ", ".join(f"{quote(c.name)} {c.kind.sql}" for c in contract.columns)
    kind = "TEMP TABLE" if temporary else "TABLE"
    con.execute(f"CREATE {kind} IF NOT EXISTS {quote(contract.name)} ({columns})")
    if not temporary:  # a store made before a column joined the contract gains it (empty)
        have = table_columns(con, contract.name)
        for c in contract.columns:
            if c.name not in have:
                con.execute(
                    f"ALTER TABLE {quote(contract.name)} ADD COLUMN {quote(c.name)} {c.kind.sql}"
                )


def ensure_bookkeeping(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {SETTINGS_TABLE} (key VARCHAR PRIMARY KEY, value VARCHAR)"
    )
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {LOADS_TABLE} (loaded_at TIMESTAMP, table_name VARCHAR, "
        "source VARCHAR, rows_read BIGINT, inserted BIGINT, updated BIGINT, unchanged BIGINT, "
        "duplicates BIGINT, rejected BIGINT)"
    )


def read_settings(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every stored setting (none before the first write; works on a read-only store)."""
    if table_columns(con, SETTINGS_TABLE) == {}:
        return {}
    rows = con.execute(f"SELECT key, value FROM {SETTINGS_TABLE}").fetchall()
    return {str(key): str(value) for key, value in rows}


def write_setting(con: duckdb.DuckDBPyConnection, key: str, value: str) -> None:
    ensure_bookkeeping(con)
    con.execute(f"INSERT OR REPLACE INTO {SETTINGS_TABLE} VALUES (?, ?)", [key, value])


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    rows = con.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return {str(n): str(t) for n, t in rows}


def check_timezone(timezone: str) -> str:
    if timezone != "UTC" and timezone not in available_timezones():
        raise ContractError(
            f"unknown timezone {timezone!r}; use an IANA zone name such as Europe/Rome or Asia/Tokyo"
        )
    return timezone


def load(
    con: duckdb.DuckDBPyConnection,
    table: str,
    source: Path | Any,
    *,
    reporting_currency: str,
    mapping: Mapping | None = None,
    fmt: str | None = None,
    timezone: str | None = None,
    rejects_path: Path | None = None,
    on_change: OnChange | None = None,
    max_field_length: int = MAX_FIELD_LENGTH,
    horizon: dt.timedelta | None = TIMESTAMP_HORIZON,
    reporting_timezone: str = "UTC",
    strict: bool = False,
    chunk_rows: int | None = None,
    progress: Progress | None = None,
) -> LoadReport:
    """Load `source` (a path or a DataFrame) into `table`; see the module docstring.
    `on_change(con, touched)` runs inside the load's transaction when rows were inserted or
    updated; `touched` names a temporary view of those rows, updated ones also as they were.
    `horizon` None accepts timestamps however far ahead. A money row dated (in
    `reporting_timezone`) before the first rate of its currency is rejected. A row naming an
    account not in accounts loads with a warning in the report, or is rejected when `strict`.
    The file is typed, validated and merged `chunk_rows` rows at a time (default
    $TENURE_LOAD_CHUNK_ROWS or DEFAULT_CHUNK_ROWS), all in the one transaction, with the same
    result as in one chunk; `progress(done, chunks)` runs after each chunk."""
    contract = contract_for(table)
    mapping = mapping or Mapping()
    tz = check_timezone(timezone or mapping.timezone or "UTC")
    if rejects_path is None and isinstance(source, (str, Path)):
        rejects_path = _default_rejects_path(Path(source))
    rejects = _RejectsFile.check(rejects_path) if rejects_path is not None else None
    limits = _Limits(
        max_field_length,
        None if horizon is None else dt.datetime.now(dt.UTC).replace(tzinfo=None) + horizon,
        check_timezone(reporting_timezone),
        strict,
    )
    ensure_bookkeeping(con)
    ensure_table(con, contract)
    rows = chunk_rows if chunk_rows is not None else load_chunk_rows()
    staged = (
        stage_file(con, Path(source), fmt, rows)
        if isinstance(source, (str, Path))
        else stage_frame(con, source, rows)
    )
    try:
        return _load_staged(
            con,
            contract,
            staged,
            mapping,
            tz,
            reporting_currency,
            rejects,
            limits,
            on_change,
            progress,
        )
    finally:
        _drop_temporaries(con)


def load_chunk_rows() -> int:
    """Rows per chunk: $TENURE_LOAD_CHUNK_ROWS, default DEFAULT_CHUNK_ROWS."""
    raw = os.environ.get(CHUNK_ENV, "").strip()
    if not raw:
        return DEFAULT_CHUNK_ROWS
    if not raw.isdigit() or int(raw) < 1:
        raise TenureError(f"{CHUNK_ENV}={raw!r} is not a whole number of rows; write e.g. 1000000")
    return int(raw)


def _drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    for view in (TOUCHED, GOOD, NEW, CHANGED):
        con.execute(f"DROP VIEW IF EXISTS {view}")
    temporaries = (TYPED, REJECTS, REPEATED, validate.KNOWN_CURRENCIES, DELTA)
    for name in (*temporaries, TOUCHED_ROWS, CANDIDATES, DEFERRED):
        con.execute(f"DROP TABLE IF EXISTS {name}")
    drop_relation(con, STAGING)  # a temporary table, a view or a frame, as the reader left it


def _value_maps(contract: TableContract, mapping: Mapping) -> dict[str, dict[str, str]]:
    unknown = sorted(set(mapping.values) - set(contract.column_names))
    if unknown:
        raise MappingError(
            f"mapping 'values' names {', '.join(unknown)}, not columns of {contract.name}; "
            f"valid: {', '.join(contract.column_names)}"
        )
    return mapping.values


@dataclass(frozen=True)
class _Limits:
    max_field_length: int  # bytes
    latest: dt.datetime | None  # the latest timestamp accepted (naive UTC)
    reporting_timezone: str  # the calendar on which money rows are converted
    strict: bool  # reject rows naming an unknown account instead of warning


def _load_staged(
    con: duckdb.DuckDBPyConnection,
    contract: TableContract,
    staged: Staged,
    mapping: Mapping,
    timezone: str,
    reporting_currency: str,
    rejects_file: _RejectsFile | None,
    limits: _Limits,
    on_change: OnChange | None,
    progress: Progress | None = None,
) -> LoadReport:
    resolved = resolve_columns(contract, staged.source, staged.columns, mapping)
    report = LoadReport(contract.name, staged.source, staged.line_label, rows_read=staged.rows)
    report.ignored_columns = resolved.ignored
    existing = table_columns(con, contract.name)
    attribute_types = {
        name: existing.get(name) or _infer_attribute_type(con, col, staged.types[col])
        for name, col in resolved.attributes.items()
    }
    report.new_attributes = [a for a in resolved.attributes if a not in existing]

    _known_currencies(con, reporting_currency)
    used = [*resolved.canonical.values(), *resolved.attributes.values()]
    sql = validate.build(
        contract,
        resolved,
        staged.types,
        attribute_types,
        timezone,
        None if contract.name == "fx_rates" else reporting_currency,
        _value_maps(contract, mapping),
        latest=limits.latest,
        reporting_timezone=limits.reporting_timezone,
        text_columns=[c for c in dict.fromkeys(used) if staged.types[c] == "VARCHAR"],
        max_field_length=limits.max_field_length,
        shown_chars=SHOWN_VALUE_CHARS,
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {REJECTS} "
        "(_line BIGINT, column_name VARCHAR, value VARCHAR, reason VARCHAR)"
    )
    if staged.rejects:
        con.register("_tenure_reader_rejects", _rejects_arrow(staged.rejects))
        con.execute(f"INSERT INTO {REJECTS} SELECT * FROM _tenure_reader_rejects")
        con.unregister("_tenure_reader_rejects")
        report.rows_read += len({r.line for r in staged.rejects})
    names_accounts = "account_id" in contract.column_names and contract.name != "accounts"
    if names_accounts:
        ensure_table(con, CONTRACTS["accounts"])
    run = _Run(
        con,
        contract,
        sql,
        report,
        strict=names_accounts and limits.strict,
        counts_accounts=names_accounts and not limits.strict,
        keep_touched=on_change is not None,
    )
    chunks = staged.chunks()
    wheres = [
        "TRUE"
        if len(chunks) == 1
        else f"_line >= {first:d}" + ("" if after is None else f" AND _line < {after:d}")
        for first, after in chunks
    ]
    # The first chunk is validated before the transaction starts (see `_Run.validate`).
    run.validate(wheres[0])
    con.execute("BEGIN TRANSACTION")
    try:
        for name in report.new_attributes:
            con.execute(
                f"ALTER TABLE {quote(contract.name)} ADD COLUMN {quote(name)} {attribute_types[name]}"
            )
        run.start(several=len(chunks) > 1)
        for done, where in enumerate(wheres, start=1):
            if done > 1:
                run.validate(where)
            run.merge()
            if progress is not None:
                progress(done, len(chunks))
        run.finish()
        if contract.name == "accounts" and report.inserted + report.updated:
            ensure_table(con, ACCOUNT_HISTORY)
            attributes = [
                c for c in table_columns(con, "accounts") if c not in ACCOUNTS.column_names
            ]
            history.record(con, attributes)
        con.execute(
            f"INSERT INTO {LOADS_TABLE} VALUES (now()::TIMESTAMP, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                contract.name,
                report.source,
                report.rows_read,
                report.inserted,
                report.updated,
                report.unchanged,
                report.duplicates,
                report.rejected,
            ],
        )
        if on_change is not None and report.inserted + report.updated:
            run.touched_view()
            on_change(con, TOUCHED)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    if rejects_file is not None:
        report.rejects_path = rejects_file.write(con, report)
    return report


@dataclass
class _Run:
    """One load, chunk by chunk, inside the caller's transaction.

    A chunk is typed and validated in one pass (TYPED, each row with its `_errors`), its
    problems go to REJECTS with their original lines, and its good rows are merged at once.
    Rows cannot collide with rows of other chunks of the same load, except where a key repeats
    in the file: with several chunks, a first pass over the keys finds those that repeat, and
    their rows wait (DEFERRED) to be settled together after the last chunk, exactly as one
    chunk would settle them. A row whose key lies outside the key range the table held before
    the load cannot match a stored row, so it is appended without a join."""

    con: duckdb.DuckDBPyConnection
    contract: TableContract
    sql: validate.ValidationSql
    report: LoadReport
    strict: bool  # reject rows naming an account not in accounts
    counts_accounts: bool  # count (and warn about) rows naming an unknown account
    keep_touched: bool  # keep the inserted and updated rows (old versions too) in TOUCHED_ROWS
    key_range: tuple[Any, Any] | None = None  # of the first key column, before the load
    defers: bool = False  # some key repeats in the file and there are several chunks
    unique_keys: bool = False  # a pass over the whole file found no key repeating in it
    good_rows: int = 0
    unknown_ids: set[str] = field(default_factory=set)

    def start(self, *, several: bool) -> None:
        con, target = self.con, quote(self.contract.name)
        first = self.sql.key[0]
        low, high = con.execute(f"SELECT min({first}), max({first}) FROM {target}").fetchall()[0]
        self.key_range = None if low is None else (low, high)
        if self.keep_touched:
            names = ", ".join(quote(c) for c in self.sql.output_columns)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {TOUCHED_ROWS} AS SELECT {names} FROM {target} "
                "LIMIT 0"
            )
        if several:
            key = ", ".join(self.sql.key)
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {CANDIDATES} AS SELECT {key} FROM "
                f"({self.sql.keys()}) GROUP BY ALL HAVING count(*) > 1"
            )
            self.defers = _scalar(con, f"SELECT count(*) FROM {CANDIDATES}") > 0
            self.unique_keys = not self.defers

    def touched_view(self) -> None:
        """TOUCHED: the rows the load inserted or updated, updated ones also as they were,
        gathered from the staged rows; into an empty table, that is the whole table."""
        names = ", ".join(quote(c) for c in self.sql.output_columns)
        rows = f"SELECT {names} FROM {TOUCHED_ROWS}"
        if self.key_range is None:
            rows += f" UNION ALL SELECT {names} FROM {quote(self.contract.name)}"
        self.con.execute(f"CREATE OR REPLACE TEMP VIEW {TOUCHED} AS {rows}")

    @property
    def _valid(self) -> str:
        """The condition of the typed rows that load (or are settled as duplicates)."""
        valid = f"len({validate.ERRORS}) = 0"
        if self.strict:
            valid += " AND (account_id IS NULL OR account_id IN (SELECT account_id FROM accounts))"
        return valid

    def validate(self, where: str) -> None:
        """Type and validate the staged rows matching `where` (a chunk) into TYPED, a temporary
        table; add their problems to REJECTS.

        DuckDB appends a table created in the running transaction to another about twice as
        slowly as a committed one (2M events: about 3 s against 1.5 s), so the first chunk is
        typed before the load's transaction begins. The later ones cannot be: typing them into
        Arrow in this process instead was as fast as the first, but DuckDB keeps every frame
        registered in a transaction until it ends, so memory grew with the file (100M events:
        15.5 GB against 7.1 GB)."""
        con = self.con
        con.execute(f"CREATE OR REPLACE TEMP TABLE {TYPED} AS {self.sql.select(where)}")
        con.execute(
            f"INSERT INTO {REJECTS} SELECT _line, e['column'], e['value'], e['reason'] FROM "
            f"(SELECT _line, unnest({validate.ERRORS}) AS e FROM {TYPED} "
            f"WHERE len({validate.ERRORS}) > 0)"
        )
        if self.strict:
            con.execute(
                f"INSERT INTO {REJECTS} SELECT t._line, 'account_id', t.account_id, "
                "'account ' || t.account_id || ' is not in the accounts table; load accounts "
                f"first' FROM {TYPED} t ANTI JOIN accounts a ON t.account_id = a.account_id "
                "WHERE t.account_id IS NOT NULL"
            )

    def merge(self) -> None:
        """Merge the valid rows of TYPED (those whose key repeats in the file wait)."""
        con = self.con
        if self.unique_keys:  # nothing to settle
            self._merge(TYPED, self._valid, dedupe=False)
            return
        if not self.defers:
            self._settle(TYPED, self._valid)
            return
        repeats = " AND ".join(f"t.{k} IS NOT DISTINCT FROM c.{k}" for k in self.sql.key)
        repeated = f"EXISTS (SELECT 1 FROM {CANDIDATES} c WHERE {repeats})"
        con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {DEFERRED} AS FROM {TYPED} LIMIT 0")
        con.execute(
            f"INSERT INTO {DEFERRED} SELECT * FROM {TYPED} t WHERE {self._valid} AND {repeated}"
        )
        self._merge(f"{TYPED} t", f"{self._valid} AND NOT {repeated}", dedupe=False)

    def finish(self) -> None:
        con, report = self.con, self.report
        con.execute(f"DROP TABLE IF EXISTS {TYPED}")  # the last chunk; the rollups update next
        if self.defers:
            self._settle(DEFERRED, "TRUE")
        report.rejected = _scalar(con, f"SELECT count(DISTINCT _line) FROM {REJECTS}")
        report.problems = _scalar(con, f"SELECT count(*) FROM {REJECTS}")
        report.duplicates = report.rows_read - report.rejected - self.good_rows
        report.rejects = [
            Reject(int(line), str(column), None if value is None else str(value), str(reason))
            for line, column, value, reason in con.execute(
                f"SELECT * FROM {REJECTS} ORDER BY _line, column_name LIMIT {KEPT_REJECTS}"
            ).fetchall()
        ]
        if self.unknown_ids:
            ids = sorted(self.unknown_ids)
            report.unknown_account_ids = ids[:SHOWN_ACCOUNT_IDS]
            report.more_unknown_accounts = len(ids) > SHOWN_ACCOUNT_IDS

    def _settle(self, source: str, valid: str) -> None:
        """Merge the valid rows of `source`: a key that repeats with different content rejects
        all its rows (it is ambiguous), identical repeats load once. The usual case (no key
        repeats) costs one aggregation over the key."""
        con, contract = self.con, self.contract
        key = ", ".join(self.sql.key)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {REPEATED} AS SELECT {key} FROM {source} "
            f"WHERE {valid} GROUP BY {key} HAVING count(*) > 1"
        )
        if not _scalar(con, f"SELECT count(*) FROM {REPEATED}"):
            self._merge(source, valid, dedupe=False)
            return
        content = ", ".join(quote(c) for c in self.sql.output_columns)
        key_text = " || '/' || ".join(f"CAST({quote(k)} AS VARCHAR)" for k in contract.key)
        con.execute(
            f"INSERT INTO {REJECTS} "
            f"WITH valid AS (SELECT _line, {key}, hash({content}) AS h FROM {source} "
            f"  SEMI JOIN {REPEATED} USING ({key}) WHERE {valid}), "
            f"conflicts AS (SELECT {key}, string_agg(CAST(_line AS VARCHAR), ', ' ORDER BY _line) "
            f"  AS lines FROM valid GROUP BY {key} HAVING count(DISTINCT h) > 1) "
            f"SELECT v._line, {literal(contract.key[0])}, {key_text}, "
            f"'duplicate key with different content ({self.report.line_label}s ' || c.lines || ')' "
            f"FROM valid v JOIN conflicts c USING ({key})"
        )
        self._merge(source, f"{valid} AND _line NOT IN (SELECT _line FROM {REJECTS})", dedupe=True)

    def _merge(self, source: str, valid: str, *, dedupe: bool) -> None:
        """Insert the valid rows of `source` whose key is new, update those whose content
        changed, leave identical ones alone."""
        con, report = self.con, self.report
        key = ", ".join(self.sql.key)
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {GOOD} AS SELECT {self.sql.final_select} "
            f"FROM {source} WHERE {valid} "
            + (
                f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _line) = 1"
                if dedupe
                else ""
            )
        )
        good = _scalar(con, f"SELECT count(*) FROM {GOOD}")
        self.good_rows += good
        if self.counts_accounts:
            self._count_unknown_accounts()
        if not good:
            return
        target = quote(self.contract.name)
        names = ", ".join(quote(c) for c in self.sql.output_columns)
        inserted = updated = 0
        inside = "TRUE"
        params: list[Any] = []
        if self.key_range is not None:
            inside = f"coalesce({self.sql.key[0]} BETWEEN ? AND ?, TRUE)"
            params = list(self.key_range)
        # Rows whose key lies outside what the table held: nothing to match, append them.
        appended = f"SELECT {names} FROM {GOOD} WHERE NOT {inside}"
        if self.key_range is None:
            appended = f"SELECT {names} FROM {GOOD}"
        inserted += _scalar(con, f"INSERT INTO {target} ({names}) {appended}", params)
        if self.keep_touched and self.key_range is not None:
            con.execute(f"INSERT INTO {TOUCHED_ROWS} {appended}", params)
        if self.key_range is not None:
            inserted_, updated = self._join_merge(inside, params)
            inserted += inserted_
        report.inserted += inserted
        report.updated += updated
        report.unchanged += good - inserted - updated

    def _join_merge(self, inside: str, params: list[Any]) -> tuple[int, int]:
        """Merge the good rows within the stored key range by joining them on the key."""
        con, contract = self.con, self.contract
        target = quote(contract.name)
        columns = self.sql.output_columns
        names = ", ".join(quote(c) for c in columns)
        on = " AND ".join(f"t.{quote(k)} = g.{quote(k)}" for k in contract.key)
        differs = " OR ".join(f"t.{quote(c)} IS DISTINCT FROM g.{quote(c)}" for c in columns)
        within = f"(SELECT * FROM {GOOD} WHERE {inside})"
        missing = f"t.{quote(contract.key[0])} IS NULL"  # no stored row has the key
        # One join finds both the new rows and the changed ones; unchanged rows are not copied.
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {DELTA} AS SELECT g.*, {missing} AS _is_new "
            f"FROM {within} g LEFT JOIN {target} t ON {on} WHERE {missing} OR {differs}",
            params,
        )
        for name, which in ((NEW, "_is_new"), (CHANGED, "NOT _is_new")):
            con.execute(
                f"CREATE OR REPLACE TEMP VIEW {name} AS "
                f"SELECT * EXCLUDE (_is_new) FROM {DELTA} WHERE {which}"
            )
        inserted = _scalar(con, f"SELECT count(*) FROM {NEW}")
        updated = _scalar(con, f"SELECT count(*) FROM {CHANGED}")
        if self.keep_touched:  # the new and changed rows, and the changed ones as they were
            was = ", ".join(f"t.{quote(c)}" for c in columns)
            con.execute(
                f"INSERT INTO {TOUCHED_ROWS} SELECT {names} FROM {NEW} UNION ALL "
                f"SELECT {names} FROM {CHANGED} UNION ALL "
                f"SELECT {was} FROM {target} t SEMI JOIN {CHANGED} g ON {on}"
            )
        if updated:
            assignments = ", ".join(
                f"{quote(c)} = g.{quote(c)}" for c in columns if c not in contract.key
            )
            on_target = " AND ".join(f"{target}.{quote(k)} = g.{quote(k)}" for k in contract.key)
            con.execute(f"UPDATE {target} SET {assignments} FROM {CHANGED} g WHERE {on_target}")
        if inserted:
            con.execute(f"INSERT INTO {target} ({names}) SELECT {names} FROM {NEW}")
        return inserted, updated

    def _count_unknown_accounts(self) -> None:
        """The good rows whose account_id is not in accounts: how many, the first ids."""
        unknown = (
            f"FROM {GOOD} g ANTI JOIN accounts a ON g.account_id = a.account_id "
            "WHERE g.account_id IS NOT NULL"
        )
        count = _scalar(self.con, f"SELECT count(*) {unknown}")
        if not count:
            return
        self.report.unknown_accounts += count
        ids = self.con.execute(
            f"SELECT DISTINCT g.account_id {unknown} ORDER BY 1 LIMIT {SHOWN_ACCOUNT_IDS + 1}"
        ).fetchall()
        self.unknown_ids.update(str(i) for (i,) in ids)


def _scalar(con: duckdb.DuckDBPyConnection, query: str, params: list[Any] | None = None) -> int:
    row = con.execute(query, params or []).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _known_currencies(con: duckdb.DuckDBPyConnection, reporting_currency: str) -> None:
    ensure_table(con, CONTRACTS["fx_rates"])
    # The reporting currency needs no rate (earliest NULL), whatever fx_rates holds for it.
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {validate.KNOWN_CURRENCIES} AS "
        "SELECT currency, CASE WHEN currency = $1 THEN NULL ELSE min(date) END AS earliest "
        "FROM (SELECT currency, date FROM fx_rates UNION ALL SELECT $1, NULL) GROUP BY currency",
        [reporting_currency],
    )


def _infer_attribute_type(con: duckdb.DuckDBPyConnection, column: str, source_type: str) -> str:
    """A new attribute is BIGINT or DOUBLE when every value reads as one, else VARCHAR."""
    if source_type in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "BOOLEAN", "DOUBLE", "DATE"):
        return source_type
    if source_type != "VARCHAR":
        return "VARCHAR"
    ref = quote(column)
    row = con.execute(
        "SELECT count(*), count_if(regexp_full_match(v, '[+-]?[0-9]{1,18}')), "
        f"count(TRY_CAST(v AS DOUBLE)) "
        f"FROM (SELECT NULLIF(trim({ref}), '') AS v FROM {quote(STAGING)}) WHERE v IS NOT NULL"
    ).fetchone()
    values, integers, numbers = row if row else (0, 0, 0)
    if values and integers == values:
        return "BIGINT"
    if values and numbers == values:
        return "DOUBLE"
    return "VARCHAR"


def _rejects_arrow(rejects: list[Reject]) -> pa.Table:
    return pa.table(
        {
            "_line": pa.array([r.line for r in rejects], pa.int64()),
            "column_name": pa.array([r.column for r in rejects], pa.string()),
            "value": pa.array([r.value for r in rejects], pa.string()),
            "reason": pa.array([r.reason for r in rejects], pa.string()),
        }
    )


@dataclass(frozen=True)
class _RejectsFile:
    """Where a load writes its rejects: a new file, or an earlier rejects file it replaces.

    Any other existing file is refused before the load starts, so a mistyped `--rejects` never
    overwrites a user's file; a clean load deletes nothing (an earlier rejects file at the path is
    left with its header only, so it cannot pass for this load's rejects)."""

    path: Path
    replace: bool  # the path holds an earlier rejects file

    @classmethod
    def check(cls, path: Path) -> _RejectsFile:
        if not path.exists() and not path.is_symlink():
            return cls(path, replace=False)
        if not path.is_file() or path.is_symlink() or not _is_rejects_file(path):
            raise SourceError(f"{path} exists and is not a rejects file; choose another --rejects")
        return cls(path, replace=True)

    def write(self, con: duckdb.DuckDBPyConnection, report: LoadReport) -> Path | None:
        """Every problem, ordered by line then column; the path, or None if there were none."""
        if report.problems == 0 and not self.replace:
            return None
        header = ["file", report.line_label, *REJECTS_COLUMNS]
        try:
            # "x" fails if a file appeared at the path since the check, instead of overwriting it.
            with self.path.open("w" if self.replace else "x", newline="", encoding="utf-8") as out:
                result = con.execute(
                    f"SELECT ?, _line, column_name, value, reason FROM {REJECTS} "
                    "ORDER BY _line, column_name",
                    [report.source],
                )
                csv_safe.write_rows(out, header, _batches(result))
        except FileExistsError:
            raise SourceError(
                f"{self.path} exists and is not a rejects file; choose another --rejects"
            ) from None
        except OSError as exc:
            raise SourceError(
                f"{self.path}: cannot write the rejects file ({exc.strerror})"
            ) from None
        return self.path if report.problems else None


def _is_rejects_file(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8-sig", errors="replace") as handle:
            first = handle.readline(200).rstrip("\r\n")
    except OSError:
        return False
    return first in {",".join(("file", label, *REJECTS_COLUMNS)) for label in ("line", "row")}


def _batches(result: duckdb.DuckDBPyConnection) -> Iterator[tuple[Any, ...]]:
    while rows := result.fetchmany(10_000):
        yield from rows


def _default_rejects_path(source: Path) -> Path:
    """Beside the input file, or in the working directory when that folder is read-only."""
    name = source.name + ".rejects.csv"
    return source.parent / name if os.access(source.parent, os.W_OK) else Path.cwd() / name
