"""IP pools: the pool of each spooled message; warm-up plans and their daily counts

Revision ID: spool_pools_0001
Revises: spool_send_api_0004
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "spool_pools_0001"
down_revision: str | None = "spool_send_api_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows already queued leave from the installation's own address (NULL).
    with op.batch_alter_table("spool_messages") as batch:
        batch.add_column(sa.Column("pool", sa.String(length=64), nullable=True))
    op.create_table(
        "spool_warmup_plans",
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("schedule", sa.JSON(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("day_date", sa.String(length=10), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("paused_reason", sa.Text(), nullable=False),
        sa.Column("paused_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pool", "provider", name=op.f("pk_spool_warmup_plans")),
    )
    op.create_table(
        "spool_warmup_days",
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("day_date", sa.String(length=10), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("pool", "provider", "day_date", name=op.f("pk_spool_warmup_days")),
    )


def downgrade() -> None:
    op.drop_table("spool_warmup_days")
    op.drop_table("spool_warmup_plans")
    with op.batch_alter_table("spool_messages") as batch:
        batch.drop_column("pool")
