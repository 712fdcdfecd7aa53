"""expired leases through their own partial index; the priority index partial on PostgreSQL

Revision ID: spool_speed_0001
Revises: spool_send_api_0004
Create Date: 2026-12-03 20:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "spool_speed_0001"
down_revision: str | None = "spool_send_api_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Every claim and settle of a campaign message (priority 0) wrote an entry
    # into the priority lane's index; on PostgreSQL it now holds that lane's
    # rows only. (SQLite keeps the full index: its claim binds the 0 as a
    # parameter, which a partial index cannot be matched against.)
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_spool_messages_priority", table_name="spool_messages")
        op.create_index(
            "ix_spool_messages_priority",
            "spool_messages",
            ["priority", "state", "next_attempt_at"],
            unique=False,
            postgresql_where=sa.text("priority > 0"),
        )
    # Leased rows only: the claim looks for expired leases on every batch,
    # and scanning every leased row for them cost as much as the claim itself.
    op.create_index(
        "ix_spool_messages_lease",
        "spool_messages",
        ["lease_until"],
        unique=False,
        postgresql_where=sa.text("state = 'leased'"),
        sqlite_where=sa.text("state = 'leased'"),
    )


def downgrade() -> None:
    op.drop_index("ix_spool_messages_lease", table_name="spool_messages")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_spool_messages_priority", table_name="spool_messages")
        op.create_index(
            "ix_spool_messages_priority",
            "spool_messages",
            ["priority", "state", "next_attempt_at"],
            unique=False,
        )
