"""Tables of the operations package (control database)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, UTCDateTime


class TenantOffboarding(ControlBase):
    """A tenant on its way out: suspended now, deleted after the grace period.

    No foreign key to `tenants`: the row outlives the tenant, holding the
    deletion certificate (what went, when; never any personal data).
    """

    __tablename__ = "tenant_offboarding"

    tenant_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    requested_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    requested_by: Mapped[str] = mapped_column(String(200))
    delete_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    deleted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    certificate: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
