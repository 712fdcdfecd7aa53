"""The tenant's cache of link checks: what a URL led to, kept until `expires_at`.

In the tenant database, so one tenant's checks (which URLs it links to) are
never seen by, nor served to, another.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime


class LinkCheck(TenantBase):
    """The outcome of checking one URL (problems as JSON: ``[[kind, detail], …]``)."""

    __tablename__ = "link_checks"
    __table_args__ = (Index("ix_link_checks_expires_at", "expires_at"),)

    # SHA-256 of the URL: URLs run to 2,048 characters, too long for a key.
    url_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    final_url: Mapped[str] = mapped_column(Text, default="")
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    problems: Mapped[str] = mapped_column(Text, default="[]")
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class LinkCheckPreference(TenantBase):
    """The tenant's own choice of what is link-checked (one row, id 1).

    Either switch adds to the installation's settings (`link_check_campaigns`,
    `link_check_messages`): a tenant can ask for checks the operator left
    off, not turn off checks the operator requires.
    """

    __tablename__ = "link_check_preferences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    campaigns: Mapped[bool] = mapped_column(Boolean, default=False)
    messages: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
