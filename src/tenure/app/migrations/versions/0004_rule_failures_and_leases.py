"""A rule's last failure (error, time, failures in a row) and leases on deliveries being sent."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.add_column("automation_rules", sa.Column("last_error", sa.Text))
    op.add_column("automation_rules", sa.Column("last_error_at", sa.DateTime))
    op.add_column(
        "automation_rules",
        sa.Column("failures", sa.Integer, nullable=False, server_default=sa.text("0")),
    )
    op.add_column("deliveries", sa.Column("lease_until", sa.DateTime))
    op.create_index("deliveries_by_status", "deliveries", ["status", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("deliveries_by_status", "deliveries")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("lease_until")
    with op.batch_alter_table("automation_rules") as batch:
        batch.drop_column("failures")
        batch.drop_column("last_error_at")
        batch.drop_column("last_error")
