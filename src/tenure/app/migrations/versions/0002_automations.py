"""Automation rules, their firings and deliveries (with retries and dead letters), tasks and
account tags created by actions."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_table(
        "automation_rules",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("trigger", sa.JSON, nullable=False),
        sa.Column("conditions", sa.JSON, nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("last_run_at", sa.DateTime),
    )
    op.create_table(
        "firings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "rule_id",
            sa.Integer,
            sa.ForeignKey("automation_rules.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("window", sa.String(100), nullable=False),
        sa.Column("fired_at", sa.DateTime, nullable=False),
        sa.Column("variables", sa.JSON, nullable=False),
        sa.UniqueConstraint("rule_id", "subject", "window", name="one_firing_per_window"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "firing_id", sa.Integer, sa.ForeignKey("firings.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("action_index", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.DateTime, nullable=False),
        sa.Column("delivered_at", sa.DateTime),
        sa.Column("last_error", sa.Text),
        sa.UniqueConstraint("firing_id", "action_index", name="one_delivery_per_action"),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("account_id", sa.String(200)),
        sa.Column("assignee", sa.String(200)),
        sa.Column("due_date", sa.Date),
        sa.Column("done", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "account_tags",
        sa.Column("account_id", sa.String(200), primary_key=True),
        sa.Column("tag", sa.String(100), primary_key=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    for table in ("account_tags", "tasks", "deliveries", "firings", "automation_rules"):
        op.drop_table(table)
