"""list hygiene: a list's role-address rule, an import's flagged and unchecked counts

Revision ID: tenant_hygiene_0001
Revises: tenant_audience_0003
Create Date: 2026-12-03 19:50:00

Role addresses (postmaster@, noreply@…) are imported with a flag or refused,
as each list says; an import counts the role addresses it took and the
domains whose mail servers could not be checked (DNS unreachable).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_hygiene_0001"
down_revision: str | None = "tenant_audience_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("lists") as batch:
        batch.add_column(
            sa.Column("role_addresses", sa.String(20), nullable=False, server_default="flag")
        )
    with op.batch_alter_table("contact_imports") as batch:
        batch.add_column(sa.Column("flagged", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(
            sa.Column("unchecked_domains", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("contact_imports") as batch:
        batch.drop_column("unchecked_domains")
        batch.drop_column("flagged")
    with op.batch_alter_table("lists") as batch:
        batch.drop_column("role_addresses")
