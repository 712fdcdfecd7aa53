"""Tenant-database tables of privacy: data-subject requests (GDPR Arts. 15–21),
lists' retention rules and re-permission campaigns."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime, str_enum


class RequestType(enum.StrEnum):
    """Which right the person exercises."""

    ACCESS = "access"  # Art. 15
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    RESTRICTION = "restriction"  # Art. 18
    PORTABILITY = "portability"  # Art. 20
    OBJECTION = "objection"  # Art. 21: to direct marketing or to profiling (its ground)


class ObjectionGround(enum.StrEnum):
    """What an objection (Art. 21) is to; the request says which."""

    # Art. 21(2)-(3): no more marketing at all, from any list of the tenant.
    DIRECT_MARKETING = "direct-marketing"
    # Profiling (Art. 21(1)-(2)): opens and clicks are no longer recorded.
    PROFILING = "profiling"


class RequestStatus(enum.StrEnum):
    """Where a request stands; changed only through `courriel.privacy.rights.TRANSITIONS`."""

    OPEN = "open"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"


class DataSubjectRequest(TenantBase):
    """One request of one person, with the deadline the controller must answer by.

    It names the contact by id only, never by address, so it can outlive an
    erasure (the proof that the request was answered) without holding the
    personal data it was about.
    """

    __tablename__ = "data_subject_requests"
    __table_args__ = (
        Index("ix_data_subject_requests_contact", "contact_id"),
        Index("ix_data_subject_requests_status_deadline", "status", "deadline_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    type: Mapped[RequestType] = mapped_column(str_enum(RequestType))
    status: Mapped[RequestStatus] = mapped_column(str_enum(RequestStatus))
    contact_id: Mapped[str] = mapped_column(String(40))
    # How the request reached us: "api", "cli", "privacy-center".
    channel: Mapped[str] = mapped_column(String(20))
    # Who recorded it and who answered it (principal actors, or "recipient").
    principal: Mapped[str] = mapped_column(String(80))
    fulfilled_by: Mapped[str | None] = mapped_column(String(80), default=None)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Art. 12(3): an answer within one month of receipt; we count 30 days.
    deadline_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Inputs (rectification changes, a lift flag) until fulfilled, then only
    # what was done (field names, counts): never an address.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The erasure certificate: what was deleted, and when; no address.
    certificate: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)


class InactiveOutcome(enum.StrEnum):
    """What happens to an inactive contact who did not confirm by the deadline."""

    REMOVE = "remove"
    ANONYMIZE = "anonymize"


class ListGovernance(TenantBase):
    """A list's retention rules and its entry in the processing register (GDPR Art. 30).

    The purpose itself is the list's own `purpose` text (what people agreed
    to); this row adds what the register needs besides it.
    """

    __tablename__ = "list_governance"

    list_id: Mapped[str] = mapped_column(
        ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True
    )
    # No open or click for this many months: ask again (None: never).
    inactive_months: Mapped[int | None] = mapped_column(Integer, default=None)
    # Consent older than this many months: ask again (None: never).
    consent_months: Mapped[int | None] = mapped_column(Integer, default=None)
    # Days a re-permission link stays valid; then the outcome applies.
    confirm_days: Mapped[int] = mapped_column(Integer, default=30)
    inactive_outcome: Mapped[InactiveOutcome] = mapped_column(
        str_enum(InactiveOutcome), default=InactiveOutcome.REMOVE
    )
    legal_basis: Mapped[str] = mapped_column(String(40), default="consent")
    data_categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Processors and other recipients of the data (Art. 30(1)(d)).
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Storage limitation (Art. 5(1)(e)); None: the tenant's default.
    # Unconfirmed sign-ups are forgotten this many days after signing up.
    pending_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # Unsubscribed, bounced, complained or expired people are reduced, this
    # many months after leaving, to the suppression hash and the consent ledger.
    ended_months: Mapped[int | None] = mapped_column(Integer, default=None)
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class RepermissionReason(enum.StrEnum):
    """Why a contact is asked to confirm again."""

    INACTIVE = "inactive"
    CONSENT_EXPIRED = "consent-expired"
    # Storage limitation (not stored on requests; named in the dry run).
    UNCONFIRMED = "unconfirmed"
    ENDED = "ended"


class RepermissionStatus(enum.StrEnum):
    """Where a re-permission request stands; changed only through `REPERMISSION_MOVES`."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    LAPSED = "lapsed"


REPERMISSION_MOVES: dict[RepermissionStatus, frozenset[RepermissionStatus]] = {
    RepermissionStatus.PENDING: frozenset(
        {RepermissionStatus.CONFIRMED, RepermissionStatus.LAPSED}
    ),
    RepermissionStatus.CONFIRMED: frozenset(),
    RepermissionStatus.LAPSED: frozenset(),
}


class Repermission(TenantBase):
    """One re-permission email to one contact of one list, and its outcome."""

    __tablename__ = "repermissions"
    __table_args__ = (
        # At most one open request per contact and list: `open_slot` is "open"
        # while pending and NULL afterwards (NULLs never clash), so two
        # retention runs racing on the same contact insert one row, not two.
        UniqueConstraint("list_id", "contact_id", "open_slot"),
        Index("ix_repermissions_status_deadline", "status", "deadline"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    list_id: Mapped[str] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    reason: Mapped[RepermissionReason] = mapped_column(str_enum(RepermissionReason))
    status: Mapped[RepermissionStatus] = mapped_column(str_enum(RepermissionStatus))
    open_slot: Mapped[str | None] = mapped_column(String(4), default="open")
    message_id: Mapped[str] = mapped_column(String(40))
    sent_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    deadline: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class RetentionDefaults(TenantBase):
    """The tenant's storage-limitation defaults, for lists that set none (one row)."""

    __tablename__ = "retention_defaults"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    pending_days: Mapped[int | None] = mapped_column(Integer, default=None)
    ended_months: Mapped[int | None] = mapped_column(Integer, default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
