"""Write a tracking `Batch` to the store: accounts, users and events through the validated loader
(so a message sent twice loads once), each user's traits and account kept in `_tracking_users`
until the account is known, and every rejected message in `_tracking_rejects` with its reason.

Events that name no account take their user's account from the users table, including links
made by the same batch's group calls."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from tenure.data import loader
from tenure.data.contract import CONTRACTS
from tenure.data.loader import LoadReport
from tenure.sources.sync import Store
from tenure.sources.tracking import EVENT_COLUMNS, Batch, Rejected, Row, UserFacts

REJECTS_TABLE = "_tracking_rejects"  # written out in the SQL below
USERS_TABLE = "_tracking_users"
SHOWN_REASONS = 10


@dataclass
class Applied:
    """What became of a request's messages."""

    received: int
    accepted: int
    rejected: int
    oversized: int
    reasons: list[str] = field(default_factory=list)  # the first few, "id: reason"


def ensure(con: Any) -> None:
    con.execute(
        "CREATE TABLE IF NOT EXISTS _tracking_rejects (received_at TIMESTAMP, protocol VARCHAR, "
        "message_id VARCHAR, reason VARCHAR, payload VARCHAR)"
    )
    con.execute(
        "CREATE TABLE IF NOT EXISTS _tracking_users (user_id VARCHAR PRIMARY KEY, "
        "account_id VARCHAR, created_at VARCHAR, traits VARCHAR, updated_at TIMESTAMP)"
    )
    for table in ("accounts", "users", "events"):
        loader.ensure_table(con, CONTRACTS[table])


def apply(store: Store, batch: Batch, received_at: dt.datetime) -> Applied:
    """Load `batch`; every load commits before this returns."""
    con = store.duckdb
    ensure(con)
    rejects = list(batch.rejects)
    _accounts(store, batch, rejects)
    linked = _users(store, batch, rejects, received_at)
    _events(store, batch, rejects)
    _backfill(store, batch, linked, rejects)
    record(con, rejects, received_at)
    refused = {r.message_id for r in rejects if r.message_id is not None}
    unnamed = sum(1 for r in rejects if r.message_id is None)
    return Applied(
        received=batch.received,
        accepted=len(set(batch.payloads) - refused),
        rejected=len(refused) + unnamed,
        oversized=batch.oversized,
        reasons=[f"{r.message_id or '(no id)'}: {r.reason}" for r in rejects[:SHOWN_REASONS]],
    )


def record(con: Any, rejects: Sequence[Rejected], received_at: dt.datetime) -> None:
    """Keep rejected messages with their reason."""
    if not rejects:
        return
    ensure(con)
    moment = received_at.astimezone(dt.UTC).replace(tzinfo=None)
    con.executemany(
        "INSERT INTO _tracking_rejects VALUES (?, ?, ?, ?, ?)",
        [
            (moment, r.protocol, _safe(r.message_id), _safe(r.reason), _safe(r.payload))
            for r in rejects
        ],
    )


def _safe(text: str | None) -> str | None:
    return None if text is None else text.replace("\x00", "\\u0000")


def _table(rows: Sequence[Row], columns: Sequence[str]) -> pa.Table:
    return pa.table({c: pa.array([row.get(c) for row in rows], pa.string()) for c in columns})


def _rows_by_id(con: Any, query: str, ids: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """Rows of `query` (which selects the id first, from a list parameter), by id."""
    if not ids:
        return {}
    return {str(row[0]): tuple(row) for row in con.execute(query, [list(ids)]).fetchall()}


def _rejected_by_loader(
    batch: Batch,
    report: LoadReport,
    owners: Sequence[str],
    rejects: list[Rejected],
) -> dict[int, set[str]]:
    """Record the loader's rejects against the messages behind the rows (`owners[line - 1]`);
    returns the rejected lines with their columns."""
    lines: dict[int, set[str]] = {}
    for problem in report.rejects:
        lines.setdefault(problem.line, set()).add(problem.column)
        owner = owners[problem.line - 1]
        value = "" if problem.value is None else f" {problem.value[:80]!r}"
        rejects.append(
            Rejected(
                batch.protocol,
                owner,
                f"{report.table}.{problem.column}{value}: {problem.reason}",
                batch.payloads.get(owner, ""),
            )
        )
    return lines


def _accounts(store: Store, batch: Batch, rejects: list[Rejected]) -> None:
    """Name or create the accounts that group calls describe; an account is created only when
    the call gives its created_at."""
    if not batch.accounts:
        return
    latest: dict[str, tuple[str | None, str | None, str]] = {}
    for facts in batch.accounts:
        name, created, _ = latest.get(facts.account_id, (None, None, ""))
        latest[facts.account_id] = (
            facts.name or name,
            facts.created_at or created,
            facts.message_id,
        )
    existing = _rows_by_id(
        store.duckdb,
        "SELECT account_id, name, CAST(created_at AS VARCHAR) FROM accounts "
        "WHERE account_id IN (SELECT unnest(?::VARCHAR[]))",
        list(latest),
    )
    rows: list[Row] = []
    owners: list[str] = []
    for account_id, (name, created, message_id) in latest.items():
        _, old_name, old_created = existing.get(account_id, (None, None, None))
        created_at = old_created or created
        if created_at is None:
            continue
        rows.append({"account_id": account_id, "name": name or old_name, "created_at": created_at})
        owners.append(message_id)
    if rows:
        report = store.load("accounts", _table(rows, ("account_id", "name", "created_at")))
        _rejected_by_loader(batch, report, owners, rejects)


def _users(
    store: Store, batch: Batch, rejects: list[Rejected], received_at: dt.datetime
) -> dict[str, str]:
    """Merge what the batch says of each user into `_tracking_users`, then load into users those
    whose account is known (with their traits as attributes). Returns the users whose account
    this batch gave, with the message that gave it."""
    if not batch.users:
        return {}
    con = store.duckdb
    merged: dict[str, UserFacts] = {}
    for facts in batch.users:
        seen = merged.setdefault(facts.user_id, UserFacts(facts.user_id, facts.message_id))
        seen.message_id = facts.message_id
        seen.account_id = facts.account_id or seen.account_id
        seen.created_at = seen.created_at or facts.created_at
        seen.traits.update(facts.traits)
    ids = list(merged)
    tracked = _rows_by_id(
        con,
        "SELECT user_id, account_id, created_at, traits FROM _tracking_users "
        "WHERE user_id IN (SELECT unnest(?::VARCHAR[]))",
        ids,
    )
    loaded = _rows_by_id(
        con,
        "SELECT user_id, account_id, CAST(created_at AS VARCHAR) FROM users "
        "WHERE user_id IN (SELECT unnest(?::VARCHAR[]))",
        ids,
    )
    moment = received_at.astimezone(dt.UTC).replace(tzinfo=None)
    state: list[tuple[str, str | None, str | None, dict[str, str]]] = []
    for user_id, facts in merged.items():
        _, kept_account, kept_created, kept_traits = tracked.get(user_id, (None, None, None, "{}"))
        _, user_account, user_created = loaded.get(user_id, (None, None, None))
        traits = {**json.loads(kept_traits or "{}"), **facts.traits}
        state.append(
            (
                user_id,
                facts.account_id or kept_account or user_account,
                user_created or kept_created or facts.created_at,
                traits,
            )
        )
    con.executemany(
        "INSERT OR REPLACE INTO _tracking_users VALUES (?, ?, ?, ?, ?)",
        [(u, a, c, json.dumps(t), moment) for u, a, c, t in state],
    )
    # One load per set of trait names, so a user's missing trait never blanks another's.
    groups: dict[tuple[str, ...], list[tuple[Row, str]]] = {}
    for user_id, account_id, created_at, traits in state:
        if account_id is None:
            continue  # kept until a group call names the account
        row: Row = {"user_id": user_id, "account_id": account_id, "created_at": created_at}
        row.update(traits)
        groups.setdefault(tuple(sorted(traits)), []).append((row, merged[user_id].message_id))
    base = ("user_id", "account_id", "created_at")
    for names, members in groups.items():
        rows = [row for row, _ in members]
        owners = [owner for _, owner in members]
        report = store.load("users", _table(rows, (*base, *names)))
        # A trait whose value does not fit its attribute's type must not cost the account link.
        bad = _rejected_by_loader(batch, report, owners, rejects)
        lines = sorted(line for line, columns in bad.items() if columns <= set(names))
        if lines:
            bare = store.load("users", _table([rows[i - 1] for i in lines], base))
            _rejected_by_loader(batch, bare, [owners[i - 1] for i in lines], rejects)
    return {user_id: facts.message_id for user_id, facts in merged.items() if facts.account_id}


def _events(store: Store, batch: Batch, rejects: list[Rejected]) -> None:
    if not batch.events:
        return
    without = sorted({e["user_id"] for e in batch.events if e["user_id"] and not e["account_id"]})
    accounts = _rows_by_id(
        store.duckdb,
        "SELECT user_id, account_id FROM users WHERE user_id IN (SELECT unnest(?::VARCHAR[]))",
        without,
    )
    events = [
        {**e, "account_id": accounts[e["user_id"]][1]}
        if not e["account_id"] and e["user_id"] in accounts
        else e
        for e in batch.events
    ]
    report = store.load("events", _table(events, EVENT_COLUMNS))
    _rejected_by_loader(batch, report, [str(e["event_id"]) for e in events], rejects)


def _backfill(store: Store, batch: Batch, linked: dict[str, str], rejects: list[Rejected]) -> None:
    """Give the account a group call just named to the user's earlier events that had none."""
    if not linked:
        return
    found = store.duckdb.execute(
        "SELECT e.event_id, CAST(e.occurred_at AS VARCHAR), e.name, u.account_id, e.user_id, "
        "e.anonymous_id, e.session_id, e.feature, e.page, CAST(e.duration_s AS VARCHAR), "
        "e.properties FROM events e JOIN users u ON e.user_id = u.user_id "
        "WHERE e.account_id IS NULL AND e.user_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(linked)],
    ).fetchall()
    if not found:
        return
    events: list[Row] = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in found]
    report = store.load("events", _table(events, EVENT_COLUMNS))
    _rejected_by_loader(batch, report, [linked[str(e["user_id"])] for e in events], rejects)
