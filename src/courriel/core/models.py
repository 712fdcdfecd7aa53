"""Tables owned by the core: the tenants (control database) and the audit trail (tenant)."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, TenantBase, UTCDateTime, str_enum


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


class AuditEntry(TenantBase):
    """One entry of the append-only audit trail; never updated, never deleted.

    `seq` runs 1, 2, 3, … without gaps, and `hash` is the SHA-256 of the
    entry's canonical content including `prev_hash`, so an edited entry breaks
    its own hash and a deleted one leaves a gap in `seq` and a dangling
    `prev_hash` in its successor.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_occurred_at", "occurred_at"),
        Index("ix_audit_entries_actor", "actor"),
        Index("ix_audit_entries_action", "action"),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str | None] = mapped_column(String(200), default=None)
    # Canonical JSON text (sorted keys), exactly the bytes the hash covers.
    detail: Mapped[str] = mapped_column(Text, default="{}")
    source_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(TenantBase):
    """The one row naming the chain's last entry.

    Writers lock it (SELECT … FOR UPDATE on PostgreSQL; SQLite's BEGIN
    IMMEDIATE already serializes writers), so two writers can never append
    after the same entry and fork the chain. Verification also compares it
    with the last entry, which detects a deleted tail.
    """

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))


class AuditAnchor(ControlBase):
    """Where a tenant's audit chain stood when last anchored, outside its database.

    The tenant database holds the chain; whoever can write to it could rewrite
    entries and recompute every hash. Entries are HMACs under a key the tenant
    database never holds, and this row (in the control database) pins the
    chain's head at an anchored moment and the entry from which the chain is
    keyed (older entries, written before the chain was keyed, stay SHA-256).
    """

    __tablename__ = "audit_anchors"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    # The first entry whose hash is an HMAC (1 for a tenant created keyed).
    keyed_from: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC of (tenant, keyed_from, seq, hash), so this row cannot be forged either.
    mac: Mapped[str] = mapped_column(String(64))
    anchored_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
