"""when the receiving server gave a message's final answer (finished_at)

Revision ID: spool_gdpr_b_0001
Revises: spool_delivery_0003
Create Date: 2026-12-03 14:35:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from courriel.core.db import UTCDateTime

revision: str = "spool_gdpr_b_0001"
down_revision: str | None = "spool_delivery_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows finished before this column existed are dated when reported, as before.
    with op.batch_alter_table("spool_messages") as batch:
        batch.add_column(sa.Column("finished_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("spool_messages") as batch:
        batch.drop_column("finished_at")
