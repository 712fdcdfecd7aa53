"""blocklist listings and the lease of periodic runs (the blocklist watch)

Revision ID: control_watch_0001
Revises: control_policy_0002
Create Date: 2026-12-03 20:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import courriel.core.db

revision: str = "control_watch_0001"
down_revision: str | None = "control_policy_0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "blocklist_listings",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("ip", "domain", name="listingkind", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("zone", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=45), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("listed_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("checked_at", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("cleared_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_blocklist_listings")),
        sa.UniqueConstraint(
            "kind", "subject", "zone", name=op.f("uq_blocklist_listings_kind_subject_zone")
        ),
    )
    with op.batch_alter_table("blocklist_listings") as batch:
        batch.create_index(
            batch.f("ix_blocklist_listings_subject"), ["subject"], unique=False
        )
    op.create_table(
        "periodic_runs",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("run_after", courriel.core.db.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", courriel.core.db.UTCDateTime(), nullable=True),
        sa.Column("last_run_at", courriel.core.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_periodic_runs")),
    )


def downgrade() -> None:
    op.drop_table("periodic_runs")
    with op.batch_alter_table("blocklist_listings") as batch:
        batch.drop_index(batch.f("ix_blocklist_listings_subject"))
    op.drop_table("blocklist_listings")
