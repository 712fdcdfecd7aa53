"""the erasure log: keyed hashes of erased addresses, outside tenant databases

Revision ID: control_privacy_0002
Revises: control_0001
Create Date: 2026-12-03 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "control_privacy_0002"
down_revision: str | None = "control_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("erased_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erasure_log")),
    )
    op.create_index("ix_erasure_log_tenant", "erasure_log", ["tenant_id", "address_hash"])


def downgrade() -> None:
    op.drop_index("ix_erasure_log_tenant", table_name="erasure_log")
    op.drop_table("erasure_log")
