"""IP pools, their source addresses and EHLO names, and their assignments to tenants

Revision ID: control_pools_0001
Revises: control_0001
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "control_pools_0001"
down_revision: str | None = "control_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ip_pools",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_ip_pools")),
    )
    op.create_table(
        "ip_pool_addresses",
        sa.Column("address", sa.String(length=45), nullable=False),
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("helo_name", sa.String(length=255), nullable=False),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool"],
            ["ip_pools.name"],
            name=op.f("fk_ip_pool_addresses_pool_ip_pools"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("address", name=op.f("pk_ip_pool_addresses")),
    )
    op.create_table(
        "ip_pool_assignments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("pool", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool"],
            ["ip_pools.name"],
            name=op.f("fk_ip_pool_assignments_pool_ip_pools"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_ip_pool_assignments_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ip_pool_assignments")),
        sa.UniqueConstraint(
            "tenant_id", "scope", name=op.f("uq_ip_pool_assignments_tenant_id_scope")
        ),
    )


def downgrade() -> None:
    op.drop_table("ip_pool_assignments")
    op.drop_table("ip_pool_addresses")
    op.drop_table("ip_pools")
