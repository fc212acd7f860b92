"""Server-side dashboard sessions (the cookie carries a random token; the table its hash), and
no session secret in the database any more (secrets live in `tenure.app.secret_store`)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "key_id", sa.Integer, sa.ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime),
        sa.Column("last_seen_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_sessions_key_id", "sessions", ["key_id"])
    # Cookies signed with it only named a key id; they stop working with server-side sessions.
    op.execute(sa.text("DELETE FROM app_settings WHERE key = 'session_secret'"))


def downgrade() -> None:
    op.drop_index("ix_sessions_key_id", "sessions")
    op.drop_table("sessions")
