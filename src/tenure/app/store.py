"""The application store: tables, a session factory and migrations."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    pass


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class SessionRecord(Base):
    """A dashboard session: the cookie carries a random token, signed; the table keeps its hash."""

    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 of the token
    key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_seen_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Goal(Base):
    __tablename__ = "goals"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # metric, number, boolean, tasks
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    metric: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segment_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    segment_value: Mapped[str | None] = mapped_column(String(200), nullable=True)
    unit: Mapped[str] = mapped_column(String(20), default="number")  # number, currency, percent
    start_value: Mapped[float] = mapped_column(Float, default=0.0)
    target_value: Mapped[float] = mapped_column(Float, default=1.0)
    current_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    tasks: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    start_date: Mapped[dt.date] = mapped_column(Date)
    due_date: Mapped[dt.date] = mapped_column(Date)
    display: Mapped[str] = mapped_column(String(20), default="bar")  # bar, pie, thermometer
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class GoalHistory(Base):
    __tablename__ = "goal_history"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("goals.id", ondelete="CASCADE"))
    recorded_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    progress: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))


class Survey(Base):
    __tablename__ = "surveys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # nps, csat, ces, custom
    question: Mapped[str] = mapped_column(Text)
    comment_prompt: Mapped[str] = mapped_column(Text, default="Anything you would like to add?")
    scale_min: Mapped[int] = mapped_column(Integer)
    scale_max: Mapped[int] = mapped_column(Integer)
    touchpoint: Mapped[str | None] = mapped_column(String(100), nullable=True)
    language: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Invitation(Base):
    __tablename__ = "invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"))
    account_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    user_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    channel: Mapped[str] = mapped_column(String(50), default="email")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")


class AppSetting(Base):
    __tablename__ = "app_settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


def default_url() -> str:
    return os.environ.get("TENURE_APP_DB", "sqlite:///tenure-app.db")


T = TypeVar("T")
# What is read from the app store (an API key's record; the goals and response rates in the
# API's cache, through `state`) is reused while this process has written nothing to any store,
# and for at most this many seconds: what another process writes (a key it revoked) shows
# within them.
STORE_READ_SECONDS = 5.0
_writes = [0]  # commits that wrote, by any Store of this process
_writes_lock = threading.Lock()


def _mark_write(session: Session, *_: Any) -> None:
    session.info["wrote"] = True


def _mark_dml(state: Any) -> None:
    if not state.is_select:
        state.session.info["wrote"] = True


class Store:
    """An engine and sessions on the application database, migrated to the latest schema, and
    the secrets kept beside it (`tenure.app.secret_store`). A new SQLite file is created 0600."""

    def __init__(self, url: str | None = None) -> None:
        from tenure.app.secret_store import Secrets

        self.url = url or default_url()
        _create_private(self.url)
        self.engine: Engine = create_engine(self.url, future=True)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "after_flush", _mark_write)
        event.listen(self._sessions, "do_orm_execute", _mark_dml)
        self.secrets = Secrets.for_store(self.url)
        self._move_secrets_out()
        self._reads: dict[Hashable, Any] = {}
        self._read_lock = threading.Lock()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            with session.begin():
                yield session
            if session.info.pop("wrote", False):  # committed
                with _writes_lock:
                    _writes[0] += 1

    def state(self) -> tuple[int, int]:
        """What a cached answer read from the app store is keyed by: the writes this process
        committed, and the STORE_READ_SECONDS interval (other processes' writes)."""
        return _writes[0], int(time.monotonic() // STORE_READ_SECONDS)

    def cached(self, key: Hashable, read: Callable[[], T]) -> T:
        """`read()`, reused while the store's state is unchanged: for what every request reads
        of the app store (its API key). The value is shared: callers only read it."""
        state = (key, self.state())  # taken before reading: a write meanwhile makes it stale
        known, value = self._held(state)
        if known:
            return value  # type: ignore[no-any-return]
        value = read()
        with self._read_lock:
            if len(self._reads) > 1_000:  # older states
                self._reads.clear()
            self._reads[state] = value
        return value

    def recall(self, key: Hashable) -> tuple[bool, Any]:
        """(True, value) when `cached` holds `key`'s value for the store's current state, without
        reading the store; else (False, None)."""
        return self._held((key, self.state()))

    def _held(self, state: Hashable) -> tuple[bool, Any]:
        with self._read_lock:
            if state in self._reads:
                return True, self._reads[state]
        return False, None

    def dispose(self) -> None:
        self.engine.dispose()

    def _move_secrets_out(self) -> None:
        """Secrets an older version kept in app_settings move to the secrets file (so survey
        links and webhook signatures stay valid) and leave the database."""
        with self.session() as session:
            rows = session.scalars(select(AppSetting).where(AppSetting.key.in_(LEGACY_SECRETS)))
            found = {row.key: row.value for row in rows}
            if found:
                self.secrets.adopt(found)
                session.execute(delete(AppSetting).where(AppSetting.key.in_(list(found))))


LEGACY_SECRETS = ("session_secret", "survey_secret", "webhook_secret")


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or None for another database or an in-memory one."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    if str(parsed.database).startswith("file:"):
        return None
    return Path(str(parsed.database))


def _create_private(url: str) -> None:
    """Create a new SQLite file readable by its owner only (SQLite gives its journal and WAL
    files the same mode)."""
    path = sqlite_path(url)
    if path is None or path.exists():
        return
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def migrate(engine: Engine) -> None:
    """Bring the database to the latest Alembic revision."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("tenure.app").joinpath("migrations"))
    )
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


class AutomationRule(Base):
    __tablename__ = "automation_rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    trigger: Mapped[dict[str, Any]] = mapped_column(JSON)
    conditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    # The last time evaluating the rule raised, and how many runs in a row have failed.
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_error_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)


class Firing(Base):
    __tablename__ = "firings"
    __table_args__ = (
        UniqueConstraint("rule_id", "subject", "window", name="one_firing_per_window"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("automation_rules.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(300))
    window: Mapped[str] = mapped_column(String(100))
    fired_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Delivery(Base):
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("firing_id", "action_index", name="one_delivery_per_action"),
        Index("deliveries_by_status", "status", "next_attempt_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    firing_id: Mapped[int] = mapped_column(ForeignKey("firings.id", ondelete="CASCADE"))
    action_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(50))
    # pending, sending (held by a sender until lease_until), sent, dead
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Task(Base):
    __tablename__ = "tasks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    account_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assignee: Mapped[str | None] = mapped_column(String(200), nullable=True)
    due_date: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class AccountTag(Base):
    __tablename__ = "account_tags"
    account_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class Dashboard(Base):
    __tablename__ = "dashboards"
    key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    widgets: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


class SavedView(Base):
    """A named combination of search, filters and sort on one page, saved by one API key."""

    __tablename__ = "saved_views"
    __table_args__ = (UniqueConstraint("key_id", "page", "name", name="one_view_per_name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
    )
    page: Mapped[str] = mapped_column(String(50), nullable=False)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    params: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)


def secret(store: Store, name: str) -> bytes:
    """The 32-byte secret `name` (signing survey links, webhooks and session cookies), from the
    store's secrets file or TENURE_SECRET_KEY; never from the database."""
    return store.secrets.get(name)


class Source(Base):
    """A data source to sync (`tenure.app.sources`). The credential is never kept here: only the
    name of the environment variable holding it (`secret_env`) or the key it is kept under in
    the secrets file (`secret_key`, see `tenure.app.secret_store`)."""

    __tablename__ = "sources"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    secret_env: Mapped[str | None] = mapped_column(String(200), nullable=True)
    secret_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    every_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: manual
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    # The last sync: running, ok or failed, with what it pulled, loaded and rejected.
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    records: Mapped[int | None] = mapped_column(Integer, nullable=True)
    loaded: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rejected: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    next_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
