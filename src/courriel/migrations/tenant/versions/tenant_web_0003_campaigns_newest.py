"""campaigns listed newest first: an index on (created_at, id)

Revision ID: tenant_web_0003
Revises: tenant_web_0002
Create Date: 2026-12-03 18:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "tenant_web_0003"
down_revision: str | None = "tenant_web_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_campaigns_created_at_id", "campaigns", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_campaigns_created_at_id", table_name="campaigns")
