"""sunset policy: lists.sunset_months and campaign_plans.include_sunset

Existing lists get NULL (the policy off): they keep the behaviour they had,
and only lists created from now on start with the 12-month default.

Revision ID: tenant_watch_0001
Revises: tenant_campaigns_0003
Create Date: 2026-12-03 20:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_watch_0001"
down_revision: str | None = "tenant_campaigns_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.add_column(sa.Column("sunset_months", sa.Integer(), nullable=True))
    with op.batch_alter_table("campaign_plans") as batch:
        batch.add_column(
            sa.Column("include_sunset", sa.Boolean(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("campaign_plans") as batch:
        batch.drop_column("include_sunset")
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("sunset_months")
