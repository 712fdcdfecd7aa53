"""Tenant-database table of data-subject requests (GDPR Arts. 15–21)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import TenantBase, UTCDateTime, str_enum


class RequestType(enum.StrEnum):
    """Which right the person exercises."""

    ACCESS = "access"  # Art. 15
    RECTIFICATION = "rectification"  # Art. 16
    ERASURE = "erasure"  # Art. 17
    RESTRICTION = "restriction"  # Art. 18
    PORTABILITY = "portability"  # Art. 20
    OBJECTION = "objection"  # Art. 21: to profiling, i.e. no tracking


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
