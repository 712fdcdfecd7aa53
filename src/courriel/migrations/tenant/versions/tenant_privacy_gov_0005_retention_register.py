"""retention rules and register entries of lists; re-permission requests

Revision ID: tenant_privacy_gov_0005
Revises: tenant_privacy_gov_0004
Create Date: 2026-11-23 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_privacy_gov_0005"
down_revision: str | None = "tenant_privacy_gov_0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "list_governance",
        sa.Column("list_id", sa.String(length=40), nullable=False),
        sa.Column("inactive_months", sa.Integer(), nullable=True),
        sa.Column("consent_months", sa.Integer(), nullable=True),
        sa.Column("confirm_days", sa.Integer(), nullable=False),
        sa.Column(
            "inactive_outcome",
            sa.Enum("remove", "anonymize", name="inactiveoutcome", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("legal_basis", sa.String(length=40), nullable=False),
        sa.Column("data_categories", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_list_governance_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", name=op.f("pk_list_governance")),
    )
    op.create_table(
        "repermissions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("list_id", sa.String(length=40), nullable=False),
        sa.Column("contact_id", sa.String(length=40), nullable=False),
        sa.Column(
            "reason",
            sa.Enum(
                "inactive",
                "consent-expired",
                name="repermissionreason",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "confirmed",
                "lapsed",
                name="repermissionstatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("open_slot", sa.String(length=4), nullable=True),
        sa.Column("message_id", sa.String(length=40), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("deadline", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_repermissions_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_repermissions_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repermissions")),
        sa.UniqueConstraint(
            "list_id",
            "contact_id",
            "open_slot",
            name=op.f("uq_repermissions_list_id_contact_id_open_slot"),
        ),
    )
    op.create_index("ix_repermissions_contact_id", "repermissions", ["contact_id"], unique=False)
    op.create_index(
        "ix_repermissions_status_deadline", "repermissions", ["status", "deadline"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_repermissions_status_deadline", table_name="repermissions")
    op.drop_index("ix_repermissions_contact_id", table_name="repermissions")
    op.drop_table("repermissions")
    op.drop_table("list_governance")
