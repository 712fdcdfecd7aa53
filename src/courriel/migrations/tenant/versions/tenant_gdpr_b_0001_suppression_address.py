"""the address of a suppression, shown to the sender (never for an erasure)

Revision ID: tenant_gdpr_b_0001
Revises: tenant_audience_0003
Create Date: 2026-12-03 14:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_gdpr_b_0001"
down_revision: str | None = "tenant_audience_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows from before keep no address: the hash cannot be turned back into one.
    with op.batch_alter_table("suppressions") as batch:
        batch.add_column(sa.Column("address", sa.String(320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("address")
