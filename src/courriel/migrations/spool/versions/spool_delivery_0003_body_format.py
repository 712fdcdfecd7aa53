"""spool bodies in their transfer form, zstd-compressed (body_format)

Revision ID: spool_delivery_0003
Revises: spool_delivery_0002
Create Date: 2026-12-02 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "spool_delivery_0003"
down_revision: str | None = "spool_delivery_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows already queued keep format 0: the composed message, zlib-compressed.
    with op.batch_alter_table("spool_messages") as batch:
        batch.add_column(
            sa.Column("body_format", sa.SmallInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("spool_messages") as batch:
        batch.drop_column("body_format")
