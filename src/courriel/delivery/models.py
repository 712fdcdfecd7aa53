"""The spool: the delivery queue shared by all tenants (spool database)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import SpoolBase, UTCDateTime, str_enum
from courriel.core.states import Transitions


class SpoolState(enum.StrEnum):
    """A spooled message waits, is held by a worker, or has met its fate."""

    QUEUED = "queued"
    LEASED = "leased"
    # Final outcome known and stored below, not yet reported to the tenant
    # database; the row is deleted once it has been.
    FINISHED = "finished"


# The spool's statements (claim, settle, release in spool.py) move rows only
# along this table; a finished row leaves the spool once reported. A leased
# row whose lease ran out is claimed again (leased to leased) by any worker.
SPOOL_TRANSITIONS = Transitions(
    "spooled message",
    {
        SpoolState.QUEUED: {SpoolState.LEASED},
        SpoolState.LEASED: {SpoolState.LEASED, SpoolState.QUEUED, SpoolState.FINISHED},
        SpoolState.FINISHED: set(),
    },
)


class SpoolMessage(SpoolBase):
    """A rendered message to one recipient, in flight."""

    __tablename__ = "spool_messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "message_id"),
        Index("ix_spool_messages_due", "state", "next_attempt_at"),
        # Withdrawing a cancelled campaign's messages (Spool.withdraw).
        Index("ix_spool_messages_campaign", "tenant_id", "campaign_id"),
        # The priority lane's claim (`Spool.claim`): due transactional messages first.
        # On PostgreSQL it holds the priority lane's rows alone: campaign rows
        # (nearly all) then cost no entry in it on each claim and settle.
        Index(
            "ix_spool_messages_priority",
            "priority",
            "state",
            "next_attempt_at",
            postgresql_where=text("priority > 0"),
        ),
        # Expired leases, found without reading every leased row (PostgreSQL's claim).
        Index(
            "ix_spool_messages_lease",
            "lease_until",
            postgresql_where=text("state = 'leased'"),
            sqlite_where=text("state = 'leased'"),
        ),
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
    # The signed message in its DATA transfer form, compressed; how is said
    # by body_format (`delivery.transfer.BodyFormat`).
    body: Mapped[bytes] = mapped_column(LargeBinary)
    body_format: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    # 0: campaign and system mail; above 0: the priority lane (transactional
    # messages), claimed before everything else that is due.
    priority: Mapped[int] = mapped_column(SmallInteger, server_default="0", default=0)
    # The IP pool it leaves from, chosen when it was queued (`delivery.sources`);
    # None: the installation's own address.
    pool: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # When the receiving server gave the final answer (or the message expired):
    # the moment its delivery event is dated, however late it is reported.
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class SpoolLane(SpoolBase):
    """The shared throttle state of one lane (an MX host set), for every worker.

    ``next_slot_at`` is the theoretical time of the lane's next message
    (GCRA): workers reserve sending slots by moving it forward, so slots are
    evenly spaced whichever process sends. ``factor`` (<= 1) scales the
    profile's rate after throttling replies; it recovers linearly from
    ``factor_at``. Nothing is sent before ``paused_until``.
    """

    __tablename__ = "spool_lanes"

    lane: Mapped[str] = mapped_column(String(500), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40))
    next_slot_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    factor: Mapped[float] = mapped_column(Float, default=1.0)
    factor_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    paused_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    throttled_count: Mapped[int] = mapped_column(default=0)


class SpoolLaneConnection(SpoolBase):
    """One of a lane's connection slots, held by a worker under a lease.

    A lane may have at most its profile's ``max_connections`` open, across
    all processes; a dead worker's slot frees itself when the lease ends.
    """

    __tablename__ = "spool_lane_connections"

    lane: Mapped[str] = mapped_column(String(500), primary_key=True)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner: Mapped[str | None] = mapped_column(String(80), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class WarmupPlan(SpoolBase):
    """The warm-up of one pool towards one provider: a daily cap growing day by day.

    ``schedule[n - 1]`` is the cap of day ``n``; past its end the plan is
    complete and nothing is capped. ``day`` is the plan's day on the date
    ``day_date`` (in the warm-up time zone); it moves on with the calendar
    while the plan runs and stands still while it is paused, so a pool that
    a provider pushed back repeats its current cap until an operator
    resumes it. The plans live beside the lane throttles because every
    worker reads and counts them in the same short transactions.
    """

    __tablename__ = "spool_warmup_plans"

    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    # A throttle profile's name (google, yahoo, microsoft, ...); "default"
    # covers every provider without a plan of its own, together.
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    schedule: Mapped[list[int]] = mapped_column(JSON)
    day: Mapped[int] = mapped_column(default=1)
    day_date: Mapped[str] = mapped_column(String(10))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_reason: Mapped[str] = mapped_column(Text, default="")
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class WarmupDay(SpoolBase):
    """Messages a pool sent (or is sending) to one plan's provider(s) on one day."""

    __tablename__ = "spool_warmup_days"

    pool: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40), primary_key=True)
    day_date: Mapped[str] = mapped_column(String(10), primary_key=True)
    sent: Mapped[int] = mapped_column(default=0)
