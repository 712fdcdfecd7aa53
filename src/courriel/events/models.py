"""Tenant-database tables of tracking: the event log, campaign counters and statistics."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime, str_enum


class EventType(enum.StrEnum):
    """What can happen to a message or a contact."""

    QUEUED = "queued"
    SENT = "sent"
    SKIPPED = "skipped"
    DELIVERED = "delivered"
    DEFERRED = "deferred"
    BOUNCED = "bounced"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    FAILED = "failed"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"
    SPAM_TRAP_HIT = "spam-trap-hit"
    # The tenant's sending-policy state changed (policy/); no message.
    POLICY_CHANGED = "policy-changed"
    # A sending IP or sender domain of the tenant appeared on, or left, a DNS
    # blocklist (policy/blocklists.py); no message.
    BLOCKLIST_LISTED = "blocklist-listed"
    BLOCKLIST_CLEARED = "blocklist-cleared"


class Event(TenantBase):
    """One entry of the append-only event log of a tenant."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_campaign_type", "campaign_id", "type"),
        Index("ix_events_message", "message_id"),
        # A contact's events, and whether one of a type exists since a time
        # (segments: `opened within 90 days`), answered from the index alone.
        Index("ix_events_contact_type_time", "contact_id", "type", "occurred_at"),
        Index("ix_events_occurred_at", "occurred_at"),
    )

    # A growing integer keeps the log in insertion order and makes a cheap cursor.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[EventType] = mapped_column(str_enum(EventType))
    campaign_id: Mapped[str | None] = mapped_column(String(40), default=None)
    message_id: Mapped[str | None] = mapped_column(String(40), default=None)
    contact_id: Mapped[str | None] = mapped_column(String(40), default=None)
    lane: Mapped[str | None] = mapped_column(String(200), default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Makes recording idempotent: the same outcome reported twice (after a
    # crash between the spool and the tenant database) is stored once.
    dedupe_key: Mapped[str | None] = mapped_column(String(120), unique=True, default=None)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class CampaignCounter(TenantBase):
    """How many events of one type a campaign has, kept as events are recorded."""

    __tablename__ = "campaign_counters"

    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[EventType] = mapped_column(str_enum(EventType), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


class StatCounter(TenantBase):
    """One figure of the statistics, kept in the transaction that records its events.

    `campaign_id` is "" for the tenant as a whole; `dimension` is "all" (key ""),
    "provider" (key: google, yahoo, microsoft, …), "day" (key: YYYY-MM-DD, UTC) or
    "link" (key: the link's position in the template).
    """

    __tablename__ = "stat_counters"
    # The day counters of every campaign over a window (the policy's explanation).
    __table_args__ = (Index("ix_stat_counters_dimension_key", "dimension", "key"),)

    campaign_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    metric: Mapped[str] = mapped_column(String(40), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


class EngagementFirst(TenantBase):
    """The first time something happened to a message (an open, a click on link 3…).

    Unique opens and clicks are counted when such a row is created, so they
    never need a scan of the event log.
    """

    __tablename__ = "engagement_firsts"

    message_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
