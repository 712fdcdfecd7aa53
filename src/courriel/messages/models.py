"""Tenant-database tables of transactional sending: one record per recipient, and
the answers kept for an ``Idempotency-Key``."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime, str_enum


class MessageStatus(enum.StrEnum):
    """What submission decided for one recipient; what followed is in the event log."""

    # Composed, signed and committed to the spool (the priority lane).
    QUEUED = "queued"
    # Not sent: the address is suppressed (hard bounce, complaint, erasure,
    # manual) or its contact is under restricted processing.
    BLOCKED = "blocked"
    # Not sent: this recipient already had a message of the same CustomCampaign.
    DEDUPLICATED = "deduplicated"


class TransactionalMessage(TenantBase):
    """One transactional message to one recipient, as its sender will ask about it."""

    __tablename__ = "transactional_messages"
    __table_args__ = (
        Index("ix_transactional_messages_custom_id", "custom_id"),
        Index("ix_transactional_messages_campaign", "campaign", "recipient"),
        Index("ix_transactional_messages_created_at", "created_at"),
    )

    # The number clients of the Send API know it by (its MessageID).
    number: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    # Courriel's id, also the spool's and the event log's message id.
    id: Mapped[str] = mapped_column(String(40), unique=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[MessageStatus] = mapped_column(str_enum(MessageStatus))
    reason: Mapped[str] = mapped_column(Text, default="")
    from_email: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    # "to", "cc" or "bcc".
    kind: Mapped[str] = mapped_column(String(3))
    subject: Mapped[str] = mapped_column(String(998), default="")
    custom_id: Mapped[str] = mapped_column(String(255), default="")
    event_payload: Mapped[str] = mapped_column(Text, default="")
    campaign: Mapped[str] = mapped_column(String(255), default="")
    template_id: Mapped[str | None] = mapped_column(String(40), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SendRequest(TenantBase):
    """A request made with an ``Idempotency-Key``: its answer, given again to a retry."""

    __tablename__ = "send_requests"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # SHA-256 of the request body: the same key with another body is a mistake.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # None while the first request is being handled.
    status_code: Mapped[int | None] = mapped_column(default=None)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
