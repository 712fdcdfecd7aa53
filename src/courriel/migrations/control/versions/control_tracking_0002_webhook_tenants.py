"""tenants with webhook endpoints (where a deliverer looks for work)

Revision ID: control_tracking_0002
Revises: control_0001
Create Date: 2026-11-23 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "control_tracking_0002"
down_revision: str | None = "control_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "webhook_tenants",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("registered_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_webhook_tenants_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_webhook_tenants")),
    )


def downgrade() -> None:
    op.drop_table("webhook_tenants")
