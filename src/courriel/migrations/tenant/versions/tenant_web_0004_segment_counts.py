"""segments keep their last count, so a page need not count a million contacts

Revision ID: tenant_web_0004
Revises: tenant_web_0003
Create Date: 2026-12-03 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "tenant_web_0004"
down_revision: str | None = "tenant_web_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.add_column(sa.Column("last_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("counted_at", courriel.core.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("counted_at")
        batch.drop_column("last_count")
