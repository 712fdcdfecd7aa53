"""Control-database tables owned by the core: the tenants."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, UTCDateTime, str_enum


class TenantStatus(enum.StrEnum):
    """Whether a tenant may use the platform."""

    ACTIVE = "active"
    DISABLED = "disabled"


class Tenant(ControlBase):
    """A customer account, with the location of its own database."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[TenantStatus] = mapped_column(
        str_enum(TenantStatus), default=TenantStatus.ACTIVE
    )
    # NULL means the embedded default (<data_dir>/tenants/<id>.db); otherwise
    # the URL of the tenant's own database, on whichever cluster holds it.
    database_url: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
