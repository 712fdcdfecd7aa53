"""each tenant names its own controller, DPO and complaint route

Revision ID: tenant_web_0005
Revises: tenant_branding_0001
Create Date: 2026-12-03 18:55:00

A tenant is the controller of its contacts' data: the privacy center, the
access export and the Art. 30 register name its own contacts, the
installation's settings only where the tenant gave none.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "tenant_web_0005"
down_revision: str | None = "tenant_branding_0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = ("controller", "dpo", "complaint")


def upgrade() -> None:
    with op.batch_alter_table("branding") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("branding") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
