"""users, password history, sign-in policies

Revision ID: control_people_auth_0001
Revises: control_0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "control_people_auth_0001"
down_revision: str | None = "control_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("email_key", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=60), nullable=False),
        sa.Column(
            "status",
            sa.Enum("invited", "active", "disabled", name="userstatus", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("password_changed_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("must_change_password", sa.Boolean(), nullable=False),
        sa.Column("password_max_age_days", sa.Integer(), nullable=True),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enabled_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_sign_in_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("tenant_id", "email_key", name=op.f("uq_users_tenant_id_email_key")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_users_tenant_id"), ["tenant_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_users_email_key"), ["email_key"], unique=False)
    op.create_table(
        "password_history",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.String(length=40), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_password_history_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_password_history")),
    )
    with op.batch_alter_table("password_history", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_password_history_user_id"), ["user_id"], unique=False)
    op.create_table(
        "auth_policies",
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("min_password_length", sa.Integer(), nullable=False),
        sa.Column("password_history", sa.Integer(), nullable=False),
        sa.Column("require_composition", sa.Boolean(), nullable=False),
        sa.Column("require_second_factor", sa.Boolean(), nullable=False),
        sa.Column("updated_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_auth_policies_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_auth_policies")),
    )


def downgrade() -> None:
    op.drop_table("auth_policies")
    op.drop_table("password_history")
    op.drop_table("users")
