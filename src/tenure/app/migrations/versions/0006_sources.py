"""Data sources to sync: their kind, options, where their credential is (an environment
variable's name or a key of the secrets file, never the credential), schedule and last sync."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("options", sa.JSON, nullable=False),
        sa.Column("secret_env", sa.String(200)),
        sa.Column("secret_key", sa.String(200)),
        sa.Column("every_minutes", sa.Integer),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("status", sa.String(20)),
        sa.Column("started_at", sa.DateTime),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("records", sa.Integer),
        sa.Column("loaded", sa.Integer),
        sa.Column("rejected", sa.Integer),
        sa.Column("message", sa.Text),
        sa.Column("next_run_at", sa.DateTime),
    )


def downgrade() -> None:
    op.drop_table("sources")
