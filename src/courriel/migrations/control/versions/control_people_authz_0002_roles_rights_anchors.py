"""custom roles, users' rights, API keys owned by users, audit anchors

Revision ID: control_people_authz_0002
Revises: control_people_auth_0001
Create Date: 2026-12-03 14:20:00

Existing keys keep `user_id` NULL: they act as the tenant's owner, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "control_people_authz_0002"
down_revision: str | None = "control_people_auth_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("user_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("lists", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("field_default", sa.String(length=10), nullable=True))
        batch.add_column(sa.Column("field_rights", sa.JSON(), nullable=True))
        batch.create_index(batch.f("ix_api_keys_user_id"), ["user_id"], unique=False)
    op.create_table(
        "custom_roles",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("field_default", sa.String(length=10), nullable=False),
        sa.Column("field_rights", sa.JSON(), nullable=False),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_custom_roles_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_custom_roles")),
    )
    op.create_index(
        "ix_custom_roles_tenant_name", "custom_roles", ["tenant_id", "name"], unique=True
    )
    op.create_table(
        "user_rights",
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("lists", sa.JSON(), nullable=True),
        sa.Column("field_rights", sa.JSON(), nullable=False),
        sa.Column("updated_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_user_rights_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_rights_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_rights")),
    )
    op.create_index(op.f("ix_user_rights_tenant_id"), "user_rights", ["tenant_id"])
    op.create_table(
        "audit_anchors",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("keyed_from", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.Column("mac", sa.String(length=64), nullable=False),
        sa.Column("anchored_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_audit_anchors_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_anchors")),
    )


def downgrade() -> None:
    op.drop_table("audit_anchors")
    op.drop_index(op.f("ix_user_rights_tenant_id"), table_name="user_rights")
    op.drop_table("user_rights")
    op.drop_index("ix_custom_roles_tenant_name", table_name="custom_roles")
    op.drop_table("custom_roles")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_index(batch.f("ix_api_keys_user_id"))
        batch.drop_column("field_rights")
        batch.drop_column("field_default")
        batch.drop_column("lists")
        batch.drop_column("user_id")
