"""tenants on their way out, and their deletion certificates

Revision ID: control_operations_0002
Revises: control_0001
Create Date: 2026-12-03 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "control_operations_0002"
down_revision: str | None = "control_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tenant_offboarding",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("requested_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("delete_after", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("deleted_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("certificate", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_tenant_offboarding")),
    )


def downgrade() -> None:
    op.drop_table("tenant_offboarding")
