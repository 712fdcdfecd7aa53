"""indexes the application's pages read by: day counters of every campaign

Revision ID: tenant_web_0001
Revises: tenant_tracking_0003
Create Date: 2026-12-03 17:15:00

The sending-policy status (on the dashboard) sums the window's day counters
of every campaign; the counters' key starts with the campaign, so without
this index that read is a scan of every counter of every campaign
(bench/web.py).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "tenant_web_0001"
down_revision: str | None = "tenant_tracking_0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_stat_counters_dimension_key", "stat_counters", ["dimension", "key"])


def downgrade() -> None:
    op.drop_index("ix_stat_counters_dimension_key", table_name="stat_counters")
