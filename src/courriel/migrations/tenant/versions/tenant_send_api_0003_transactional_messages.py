"""transactional message records, idempotency keys, webhook endpoint format

Revision ID: tenant_send_api_0003
Revises: tenant_tracking_0003
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "tenant_send_api_0003"
down_revision: str | None = "tenant_tracking_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "transactional_messages",
        sa.Column(
            "number",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "queued",
                "blocked",
                "deduplicated",
                name="messagestatus",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("from_email", sa.String(length=320), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=3), nullable=False),
        sa.Column("subject", sa.String(length=998), nullable=False),
        sa.Column("custom_id", sa.String(length=255), nullable=False),
        sa.Column("event_payload", sa.Text(), nullable=False),
        sa.Column("campaign", sa.String(length=255), nullable=False),
        sa.Column("template_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_transactional_messages")),
        sa.UniqueConstraint("id", name=op.f("uq_transactional_messages_id")),
        sa.UniqueConstraint("uuid", name=op.f("uq_transactional_messages_uuid")),
    )
    op.create_index(
        "ix_transactional_messages_custom_id", "transactional_messages", ["custom_id"]
    )
    op.create_index(
        "ix_transactional_messages_campaign", "transactional_messages", ["campaign", "recipient"]
    )
    op.create_index(
        "ix_transactional_messages_created_at", "transactional_messages", ["created_at"]
    )
    op.create_table(
        "send_requests",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_send_requests")),
    )
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(
            sa.Column("format", sa.String(length=20), server_default="courriel", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.drop_column("format")
    op.drop_table("send_requests")
    op.drop_index("ix_transactional_messages_created_at", table_name="transactional_messages")
    op.drop_index("ix_transactional_messages_campaign", table_name="transactional_messages")
    op.drop_index("ix_transactional_messages_custom_id", table_name="transactional_messages")
    op.drop_table("transactional_messages")
