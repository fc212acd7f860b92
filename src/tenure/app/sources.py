"""Data sources to sync: their configuration in the app store, and one sync of a source.

A source is a name, a kind (`tenure.sources.registry`), the kind's options, where its credential
is and a schedule (every N minutes, or manual). The credential is never stored in the app
database: a source names the environment variable that holds it, or the credential is kept in
the store's secrets file (0600, `tenure.app.secret_store`). It appears in no answer, page, log
or error: a failed sync's message has it blanked out.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import threading
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from tenure.app.store import Source, Store, now
from tenure.errors import TenureError
from tenure.sources import registry, staging
from tenure.sources import sync as runner

DEFAULT_EVERY_MINUTES = 60
MAX_EVERY_MINUTES = 7 * 24 * 60
MESSAGE_CHARS = 1000
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_locks: dict[str, threading.RLock] = {}
_locks_guard = threading.Lock()


class UnknownSource(TenureError):
    status = 404


class SourceExists(TenureError):
    status = 409


class SyncFailed(TenureError):
    """A sync that raised, as one line without the credential."""


def secret_key(name: str) -> str:
    """Where a source's credential is kept in the secrets file."""
    return f"source:{name}"


def add(
    store: Store,
    name: str,
    kind: str,
    options: Mapping[str, str] | None = None,
    *,
    secret: str | None = None,
    secret_env: str | None = None,
    every_minutes: int | None = DEFAULT_EVERY_MINUTES,
) -> dict[str, Any]:
    """Add a source. Its credential is `secret` (kept in the secrets file), or read at each sync
    from the environment variable `secret_env`, by default the kind's own (e.g.
    STRIPE_API_KEY). `every_minutes` None: synced only when asked. A scheduled source is due
    at once."""
    if not NAME.fullmatch(name):
        raise TenureError(
            f"source name {name!r}: use up to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    found = registry.resolve(kind)
    checked = found.check_options(options or {})
    if every_minutes is not None and not 1 <= every_minutes <= MAX_EVERY_MINUTES:
        raise TenureError(f"every {every_minutes} minutes: give 1 to {MAX_EVERY_MINUTES}")
    if secret is not None and secret_env is not None:
        raise TenureError("give the credential either in an environment variable or kept, not both")
    if secret is not None and not secret.strip():
        raise TenureError("the credential given is empty")
    if secret_env is not None and not ENV_NAME.fullmatch(secret_env):
        raise TenureError(f"{secret_env!r} is not an environment variable name")
    with store.session() as session:
        if session.scalar(select(Source.id).where(Source.name == name)) is not None:
            raise SourceExists(f"a source named {name!r} exists; remove it first")
    if secret is not None:
        store.secrets.keep(secret_key(name), secret.strip())
    created = now()
    with store.session() as session:
        session.add(
            Source(
                name=name,
                kind=kind,
                options=checked,
                secret_env=None if secret is not None else (secret_env or found.secret_env or None),
                secret_key=secret_key(name) if secret is not None else None,
                every_minutes=every_minutes,
                created_at=created,
                next_run_at=created if every_minutes is not None else None,
            )
        )
    return get(store, name)


def _view(source: Source) -> dict[str, Any]:
    credential = (
        "kept in the secrets file"
        if source.secret_key
        else f"${source.secret_env}"
        if source.secret_env
        else "none"
    )
    return {
        "name": source.name,
        "kind": source.kind,
        "options": dict(source.options or {}),
        "credential": credential,
        "every_minutes": source.every_minutes,
        "schedule": "manual"
        if source.every_minutes is None
        else f"every {source.every_minutes} min",
        "created_at": source.created_at,
        "status": source.status,
        "started_at": source.started_at,
        "finished_at": source.finished_at,
        "records": source.records,
        "loaded": source.loaded,
        "rejected": source.rejected,
        "message": source.message,
        "next_run_at": source.next_run_at,
    }


def _find(session: Any, name: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        names = ", ".join(session.scalars(select(Source.name).order_by(Source.name))) or "none"
        raise UnknownSource(f"no source named {name!r}; sources: {names}")
    return source  # type: ignore[no-any-return]


def get(store: Store, name: str) -> dict[str, Any]:
    with store.session() as session:
        return _view(_find(session, name))


def all_sources(store: Store) -> list[dict[str, Any]]:
    """Every source, by name."""
    with store.session() as session:
        return [_view(s) for s in session.scalars(select(Source).order_by(Source.name))]


def due(store: Store, at: dt.datetime | None = None) -> list[str]:
    """The scheduled sources whose next run has come."""
    moment = at or now()
    with store.session() as session:
        return list(
            session.scalars(
                select(Source.name)
                .where(Source.every_minutes.is_not(None), Source.next_run_at <= moment)
                .order_by(Source.next_run_at)
            )
        )


def remove(store: Store, name: str) -> None:
    """Forget the source's configuration and its kept credential (its staged records stay until
    `forget_staged`; the rows it loaded stay in the workspace)."""
    with store.session() as session:
        source = _find(session, name)
        kept = source.secret_key
        session.delete(source)
    if kept:
        store.secrets.discard(kept)


def forget_staged(name: str, writer: runner.Writer) -> None:
    """Drop the source's staged records and cursors: the next sync pulls everything again.
    Waits for a sync of the source in progress in this process."""
    with _lock(name), writer() as ws:
        staging.ensure(ws.duckdb)
        staging.forget(ws.duckdb, name)


# -- syncing ----------------------------------------------------------------------------------
def _lock(name: str) -> threading.RLock:
    with _locks_guard:
        return _locks.setdefault(name, threading.RLock())


def _credential(store: Store, source: Source, kind: registry.Kind) -> str | None:
    if source.secret_key:
        value = store.secrets.kept(source.secret_key)
        if value is None:
            raise TenureError(
                f"source {source.name!r}: its credential is not in the secrets file any more; "
                "remove the source and add it again"
            )
        return value
    if source.secret_env:
        value = os.environ.get(source.secret_env)
        if not value:
            raise TenureError(
                f"source {source.name!r}: set the environment variable {source.secret_env} "
                f"to {kind.secret}"
            )
        return value
    return None


def one_line(exc: BaseException, secret: str | None) -> str:
    """An error as one line of at most MESSAGE_CHARS, with the credential blanked out."""
    text = " ".join(str(exc).split())
    if not isinstance(exc, TenureError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    if secret:
        text = text.replace(secret, "***")
    return text[:MESSAGE_CHARS]


def _record(store: Store, name: str, **values: Any) -> None:
    with store.session() as session:
        source = session.scalar(select(Source).where(Source.name == name))
        if source is None:  # removed while it synced
            return
        for key, value in values.items():
            setattr(source, key, value)


def _next(every_minutes: int | None, after: dt.datetime) -> dt.datetime | None:
    return None if every_minutes is None else after + dt.timedelta(minutes=every_minutes)


def sync(
    store: Store, name: str, writer: runner.Writer, *, full: bool = False
) -> runner.SyncReport:
    """Sync the source `name` into the workspace `writer` hands out, and record how it went.
    `full` forgets its cursors and staged records first, so everything is pulled again. A
    failure is recorded and raised as `SyncFailed`, one line without the credential. Syncs of
    one source run one at a time in this process."""
    with _lock(name):
        with store.session() as session:
            source = _find(session, name)
            every = source.every_minutes
        started = now()
        # Not due again while it runs; if the process dies meanwhile, due again after a period.
        _record(
            store, name, status="running", started_at=started, next_run_at=_next(every, started)
        )
        secret: str | None = None
        try:
            kind = registry.resolve(source.kind)
            secret = _credential(store, source, kind)
            connector = kind.build(kind.check_options(source.options or {}), secret)
            if full:
                forget_staged(name, writer)
            report = runner.run(connector, name, writer)
        except Exception as exc:
            finished = now()
            message = one_line(exc, secret)
            _record(
                store,
                name,
                status="failed",
                finished_at=finished,
                records=None,
                loaded=None,
                rejected=None,
                message=message,
                next_run_at=_next(every, finished),
            )
            raise SyncFailed(f"source {name!r}: {message}") from None
        finished = now()
        summary = " ".join(report.summary().split())
        _record(
            store,
            name,
            status="ok",
            finished_at=finished,
            records=report.records,
            loaded=sum(load.loaded for load in report.loads.values()),
            rejected=report.rejected,
            message=(summary.replace(secret, "***") if secret else summary)[:MESSAGE_CHARS],
            next_run_at=_next(every, finished),
        )
        return report
