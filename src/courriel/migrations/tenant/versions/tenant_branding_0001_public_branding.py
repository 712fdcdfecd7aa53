"""branding of public pages and editable double opt-in confirmations

Revision ID: tenant_branding_0001
Revises: tenant_audience_0003
Create Date: 2026-12-03 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "tenant_branding_0001"
down_revision: str | None = "tenant_audience_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "branding",
        sa.Column("id", sa.String(length=20), nullable=False),
        sa.Column("organisation", sa.String(length=200), nullable=False),
        sa.Column("logo_url", sa.String(length=500), nullable=True),
        sa.Column("colour", sa.String(length=7), nullable=False),
        sa.Column("background", sa.String(length=7), nullable=False),
        sa.Column("footer", sa.Text(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("sender_domain", sa.String(length=255), nullable=True),
        sa.Column("confirmations", sa.JSON(), nullable=False),
        sa.Column("updated_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branding")),
    )


def downgrade() -> None:
    op.drop_table("branding")
