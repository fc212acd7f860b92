"""API keys, goals and their history, surveys and invitations, audit log, app settings."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
    )
    op.create_table(
        "goals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("owner", sa.String(200)),
        sa.Column("metric", sa.String(100)),
        sa.Column("segment_by", sa.String(100)),
        sa.Column("segment_value", sa.String(200)),
        sa.Column("unit", sa.String(20), nullable=False),
        sa.Column("start_value", sa.Float, nullable=False),
        sa.Column("target_value", sa.Float, nullable=False),
        sa.Column("current_value", sa.Float),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("tasks", sa.JSON, nullable=False),
        sa.Column("start_date", sa.Date, nullable=False),
        sa.Column("due_date", sa.Date, nullable=False),
        sa.Column("display", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "goal_history",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "goal_id", sa.Integer, sa.ForeignKey("goals.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("value", sa.Float),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_table(
        "surveys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("question", sa.Text, nullable=False),
        sa.Column("comment_prompt", sa.Text, nullable=False),
        sa.Column("scale_min", sa.Integer, nullable=False),
        sa.Column("scale_max", sa.Integer, nullable=False),
        sa.Column("touchpoint", sa.String(100)),
        sa.Column("language", sa.String(20)),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "invitations",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "survey_id", sa.Integer, sa.ForeignKey("surveys.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("account_id", sa.String(200)),
        sa.Column("user_id", sa.String(200)),
        sa.Column("channel", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("used_at", sa.DateTime),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "app_settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "app_settings",
        "audit_log",
        "invitations",
        "surveys",
        "goal_history",
        "goals",
        "api_keys",
    ):
        op.drop_table(table)
