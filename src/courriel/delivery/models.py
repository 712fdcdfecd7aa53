"""The spool: the delivery queue shared by all tenants (spool database)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import BigInteger, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import SpoolBase, UTCDateTime, str_enum


class SpoolState(enum.StrEnum):
    """A spooled message waits, is held by a worker, or has met its fate."""

    QUEUED = "queued"
    LEASED = "leased"
    # Final outcome known and stored below, not yet reported to the tenant
    # database; the row is deleted once it has been.
    FINISHED = "finished"


class SpoolMessage(SpoolBase):
    """A rendered message to one recipient, in flight."""

    __tablename__ = "spool_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_spool_messages_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[str] = mapped_column(String(40))
    message_id: Mapped[str] = mapped_column(String(40))
    campaign_id: Mapped[str | None] = mapped_column(String(40), default=None)
    contact_id: Mapped[str | None] = mapped_column(String(40), default=None)
    mail_from: Mapped[str] = mapped_column(String(320))
    rcpt_to: Mapped[str] = mapped_column(String(320))
    domain: Mapped[str] = mapped_column(String(255))
    lane: Mapped[str | None] = mapped_column(String(500), default=None)
    state: Mapped[SpoolState] = mapped_column(str_enum(SpoolState))
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    deadline_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(80), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_code: Mapped[int | None] = mapped_column(default=None)
    last_reply: Mapped[str] = mapped_column(Text, default="")
    # zlib-compressed, signed message bytes.
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
