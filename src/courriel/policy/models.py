"""Control-database tables of the sending policy and of sender domains.

They live in the control database because the platform, not the tenant,
enforces them: a scheduler reads a tenant's policy state without opening the
tenant's database, and a domain proven by one tenant cannot be claimed by another.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, UTCDateTime, str_enum


class PolicyState(enum.StrEnum):
    """Where a tenant stands with the sending policy; changed through `TRANSITIONS`."""

    OK = "ok"
    WARNING = "warning"
    LIMITED = "limited"
    SUSPENDED = "suspended"


class TenantPolicy(ControlBase):
    """A tenant's current policy state (no row: ok)."""

    __tablename__ = "tenant_policies"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[PolicyState] = mapped_column(str_enum(PolicyState))
    since: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # While limited: at most `hourly_cap` messages an hour, until `limited_until`.
    hourly_cap: Mapped[int | None] = mapped_column(Integer, default=None)
    limited_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Where policy notices go (a transactional message); empty: none sent.
    notify_email: Mapped[str] = mapped_column(String(320), default="")
    # Figures are counted from here (or the window's start, if later): an
    # operator's lift starts a clean slate instead of re-judging old numbers.
    counted_from: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The newest event seen by the last evaluation, to skip tenants with nothing new.
    last_event_seq: Mapped[int] = mapped_column(Integer, default=0)
    evaluated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The latest explanation, as stored in the change that set this state.
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PolicyChange(ControlBase):
    """One change of a tenant's policy state, with the numbers behind it (append-only)."""

    __tablename__ = "policy_changes"
    __table_args__ = (Index("ix_policy_changes_tenant", "tenant_id", "occurred_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    from_state: Mapped[PolicyState] = mapped_column(str_enum(PolicyState))
    to_state: Mapped[PolicyState] = mapped_column(str_enum(PolicyState))
    # "evaluation" for automatic changes, else who decided (an operator).
    actor: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class DomainStatus(enum.StrEnum):
    """Whether a sender domain may be used in From."""

    PENDING = "pending"
    VERIFIED = "verified"


class SenderDomain(ControlBase):
    """A domain a tenant sends from; verified by a DNS TXT token, checked for SPF/DKIM/DMARC."""

    __tablename__ = "sender_domains"
    __table_args__ = (UniqueConstraint("tenant_id", "domain"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(255), index=True)
    token: Mapped[str] = mapped_column(String(80))
    status: Mapped[DomainStatus] = mapped_column(str_enum(DomainStatus))
    # The result of the latest check: {"ownership": {...}, "spf": {...}, ...}.
    checks: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Why it is verified (e.g. "ownership token found", "sandbox demo domain").
    reason: Mapped[str] = mapped_column(Text, default="")
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ListingKind(enum.StrEnum):
    """What a blocklist names: one of our sending IPs, or a tenant's sender domain."""

    IP = "ip"
    DOMAIN = "domain"


class BlocklistListing(ControlBase):
    """An IP or domain found on a DNS blocklist zone; `cleared_at` set once it is off.

    One row per (subject, zone): a delisting sets `cleared_at`, a relisting
    starts it again with a new `listed_at`. It is a fact about the world, not
    about one tenant: a sending IP concerns every tenant, a domain the tenants
    that send from it.
    """

    __tablename__ = "blocklist_listings"
    __table_args__ = (UniqueConstraint("kind", "subject", "zone"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[ListingKind] = mapped_column(str_enum(ListingKind))
    subject: Mapped[str] = mapped_column(String(255), index=True)
    zone: Mapped[str] = mapped_column(String(255))
    # The A answer (127.0.0.x, RFC 5782 §2.1): some lists say why by the code.
    code: Mapped[str] = mapped_column(String(45), default="")
    # The TXT answer, when the list publishes one (often a removal URL).
    reason: Mapped[str] = mapped_column(Text, default="")
    listed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    cleared_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class PeriodicRun(ControlBase):
    """A periodic job that runs once across all engines: whoever holds the lease runs it.

    The same lease as the scheduler's fan-out jobs: claimed when due and not
    leased (FOR UPDATE SKIP LOCKED on PostgreSQL), so of several engines one
    runs it, and a crashed engine's run is taken over when its lease ends.
    """

    __tablename__ = "periodic_runs"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_after: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(120), default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
