"""a per-tenant cache of link checks, and the tenant's link-check preference

Revision ID: tenant_links_0001
Revises: tenant_web_0005
Create Date: 2026-12-03 20:00:00

Checking a link costs a DNS lookup and an HTTP round trip or more; a
campaign checked twice, or a Send API message with the same links as the
previous one, reuses the answer until it expires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from courriel.core.db import UTCDateTime

revision: str = "tenant_links_0001"
down_revision: str | None = "tenant_web_0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "link_checks",
        sa.Column("url_hash", sa.String(64), primary_key=True),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("final_url", sa.Text(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("problems", sa.Text(), nullable=False),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_link_checks_expires_at", "link_checks", ["expires_at"])
    op.create_table(
        "link_check_preferences",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("campaigns", sa.Boolean(), nullable=False),
        sa.Column("messages", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("link_check_preferences")
    op.drop_index("ix_link_checks_expires_at", table_name="link_checks")
    op.drop_table("link_checks")
