"""data-subject requests; restricted processing flag on contacts

Revision ID: tenant_privacy_rights_0004
Revises: tenant_audience_0003
Create Date: 2026-11-23 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "tenant_privacy_rights_0004"
down_revision: str | None = "tenant_audience_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "data_subject_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column(
            "type",
            sa.Enum(
                "access",
                "rectification",
                "erasure",
                "restriction",
                "portability",
                "objection",
                name="requesttype",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "open", "fulfilled", "rejected", name="requeststatus", native_enum=False, length=20
            ),
            nullable=False,
        ),
        sa.Column("contact_id", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("principal", sa.String(length=80), nullable=False),
        sa.Column("fulfilled_by", sa.String(length=80), nullable=True),
        sa.Column("received_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("deadline_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("closed_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("certificate", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_subject_requests")),
    )
    op.create_index(
        "ix_data_subject_requests_contact", "data_subject_requests", ["contact_id"], unique=False
    )
    op.create_index(
        "ix_data_subject_requests_status_deadline",
        "data_subject_requests",
        ["status", "deadline_at"],
        unique=False,
    )
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("restricted")
    op.drop_index("ix_data_subject_requests_status_deadline", table_name="data_subject_requests")
    op.drop_index("ix_data_subject_requests_contact", table_name="data_subject_requests")
    op.drop_table("data_subject_requests")
