"""lane throttles, connection slots, campaign index on the spool

Revision ID: spool_delivery_0002
Revises: spool_0001
Create Date: 2026-11-23 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "spool_delivery_0002"
down_revision: str | None = "spool_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_spool_messages_campaign", "spool_messages", ["tenant_id", "campaign_id"], unique=False
    )
    op.create_table(
        "spool_lanes",
        sa.Column("lane", sa.String(length=500), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("next_slot_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("factor", sa.Float(), nullable=False),
        sa.Column("factor_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("paused_until", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("throttled_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("lane", name=op.f("pk_spool_lanes")),
    )
    op.create_table(
        "spool_lane_connections",
        sa.Column("lane", sa.String(length=500), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", courriel.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("lane", "slot", name=op.f("pk_spool_lane_connections")),
    )


def downgrade() -> None:
    op.drop_index("ix_spool_messages_campaign", table_name="spool_messages")
    op.drop_table("spool_lane_connections")
    op.drop_table("spool_lanes")
