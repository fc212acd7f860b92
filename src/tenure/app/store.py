"""The application store: tables, a session factory and migrations."""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import Any

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
)
from sqlalchemy.engine import Engine
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


class Store:
    """An engine and sessions on the application database, migrated to the latest schema."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_url()
        self.engine: Engine = create_engine(self.url, future=True)
        migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


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


def secret(store: Store, name: str) -> bytes:
    """A 32-byte secret kept in app_settings under `name`, created on first use and cached by
    the Store (signing survey links, webhooks and browser sessions)."""
    cache: dict[str, bytes] = store.__dict__.setdefault("_secrets", {})
    if name not in cache:
        with store.session() as session:
            row = session.get(AppSetting, name)
            if row is None:
                row = AppSetting(key=name, value=secrets.token_hex(32))
                session.add(row)
            cache[name] = bytes.fromhex(row.value)
    return cache[name]
