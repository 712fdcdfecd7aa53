"""storage limitation: per-list pending_days and ended_months, tenant defaults

Revision ID: tenant_gdpr_a_0002
Revises: tenant_gdpr_a_0001
Create Date: 2026-12-03 15:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_gdpr_a_0002"
down_revision: str | None = "tenant_gdpr_a_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("list_governance", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("ended_months", sa.Integer(), nullable=True))
    op.create_table(
        "retention_defaults",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pending_days", sa.Integer(), nullable=True),
        sa.Column("ended_months", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_defaults")),
    )


def downgrade() -> None:
    op.drop_table("retention_defaults")
    with op.batch_alter_table("list_governance", schema=None) as batch_op:
        batch_op.drop_column("ended_months")
        batch_op.drop_column("pending_days")
