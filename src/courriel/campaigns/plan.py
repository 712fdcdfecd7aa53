"""How and when a campaign goes out: its segment, schedule, local-time delivery and rate cap.

Kept in a table of its own beside `campaigns` so the campaign row stays the
snapshot that is sent, and the plan the fan-out reads batch by batch.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime


class CampaignPlan(TenantBase):
    """The sending plan of one campaign (absent: everyone on its lists, now, no cap)."""

    __tablename__ = "campaign_plans"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    # Only contacts matching this saved segment (besides being on a list).
    segment_id: Mapped[str | None] = mapped_column(String(40), default=None)
    # Start at this instant (UTC).
    scheduled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Or deliver at this wall-clock time ("YYYY-MM-DDTHH:MM") in each contact's
    # own timezone; contacts without one use `default_timezone`.
    local_time: Mapped[str | None] = mapped_column(String(16), default=None)
    default_timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # At most this many messages of the campaign enter the spool per hour.
    rate_per_hour: Mapped[int | None] = mapped_column(Integer, default=None)
    # Send to the lists' sunset contacts too (audience/sunset.py): the
    # override a re-engagement campaign uses.
    include_sunset: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    # A/B/n tests (campaigns/abtest.py): a variant takes only contacts whose id
    # starts with one of these two-character buckets; the rest excludes them all.
    id_buckets: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    exclude_buckets: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Keyset cursor of audience resolution: contacts up to this id are resolved.
    # Committed with the recipients it covers, so a restart resumes after it.
    resolved_through: Mapped[str | None] = mapped_column(String(40), default=None)
