"""the priority lane: spool_messages.priority and its claim index

Revision ID: spool_send_api_0004
Revises: spool_delivery_0003
Create Date: 2026-12-03 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "spool_send_api_0004"
down_revision: str | None = "spool_delivery_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows already queued are campaign or system mail: priority 0.
    with op.batch_alter_table("spool_messages") as batch:
        batch.add_column(
            sa.Column("priority", sa.SmallInteger(), server_default="0", nullable=False)
        )
    op.create_index(
        "ix_spool_messages_priority",
        "spool_messages",
        ["priority", "state", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_spool_messages_priority", table_name="spool_messages")
    with op.batch_alter_table("spool_messages") as batch:
        batch.drop_column("priority")
