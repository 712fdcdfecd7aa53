"""Tenant-database tables of the audience."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from courriel.audience import values
from courriel.core.addresses import address_key
from courriel.core.db import TenantBase, UTCDateTime, str_enum


class SubscriptionStatus(enum.StrEnum):
    """Where a contact stands on one list; changed only through `TRANSITIONS`."""

    PENDING = "pending"
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"
    SUPPRESSED = "suppressed"


class ConsentAction(enum.StrEnum):
    """What happened to a person's consent."""

    GIVEN = "given"
    CONFIRMED = "confirmed"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    RECONFIRMED = "reconfirmed"


class ConsentSource(enum.StrEnum):
    """Through which door the consent came in."""

    FORM = "form"
    IMPORT = "import"
    API = "api"
    ADMIN = "admin"


class RoleAddresses(enum.StrEnum):
    """What a list does with role addresses (`postmaster@`, `noreply@`…)."""

    # Taken, and shown as a role address wherever the contact appears.
    FLAG = "flag"
    # Refused at import (a rejection line) and at sign-up.
    REFUSE = "refuse"


class SuppressionReason(enum.StrEnum):
    """Why an address must not be mailed."""

    HARD_BOUNCE = "hard-bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"
    ERASURE = "erasure"
    MANUAL = "manual"
    # The person objected to direct marketing (GDPR Art. 21(3)): no marketing
    # from any list, while the mail they ask for (receipts) still reaches them.
    OBJECTION = "objection"


def _email_key(context: Any) -> str:
    # Rows inserted without the ORM (bulk inserts) get their key from their address.
    return address_key(context.get_current_parameters()["email"])


class Contact(TenantBase):
    """A person, known by one normalized address per tenant."""

    __tablename__ = "contacts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # The address as first given, used for sending.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # Its identity (`core.addresses.address_key`): one contact per case-folded address.
    email_key: Mapped[str] = mapped_column(String(320), unique=True, default=_email_key)
    email_domain: Mapped[str] = mapped_column(String(255), index=True)
    first_name: Mapped[str | None] = mapped_column(String(200), default=None)
    last_name: Mapped[str | None] = mapped_column(String(200), default=None)
    language: Mapped[str | None] = mapped_column(String(35), default=None)
    timezone: Mapped[str | None] = mapped_column(String(64), default=None)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The person objected to tracking (GDPR Art. 21): no pixel, no rewritten links.
    no_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    # Processing is restricted (GDPR Art. 18): the contact is kept, but is in no
    # send, no segment and no profiling until the restriction is lifted.
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    @validates("email")
    def _keyed(self, _name: str, value: str) -> str:
        # Whoever changes the address (rectification, anonymization) changes its key.
        self.email_key = address_key(value)
        return value


class MailingList(TenantBase):
    """A list people subscribe to, for a purpose shown to them."""

    __tablename__ = "lists"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(Text, default="")
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    # Opens and clicks are tracked for this list's mail unless switched off.
    tracking: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped whenever the purpose text changes, so the ledger says which
    # wording a person agreed to.
    purpose_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # Days a pending or unsubscribed contact's data is kept on this list (None: no limit).
    retention_days: Mapped[int | None] = mapped_column(Integer, default=None)
    role_addresses: Mapped[RoleAddresses] = mapped_column(
        str_enum(RoleAddresses), default=RoleAddresses.FLAG, server_default="flag"
    )
    # Sunset policy (audience/sunset.py): subscribers without an open or click
    # in this many months are left out of marketing (None: off). Lists created
    # through `create_list` start at 12; lists made before the policy keep None.
    sunset_months: Mapped[int | None] = mapped_column(Integer, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Subscription(TenantBase):
    """One contact on one list."""

    __tablename__ = "subscriptions"
    __table_args__ = (
        UniqueConstraint("list_id", "contact_id"),
        Index("ix_subscriptions_list_status", "list_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    list_id: Mapped[str] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[SubscriptionStatus] = mapped_column(str_enum(SubscriptionStatus))
    created_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ConsentRecord(TenantBase):
    """One entry of the append-only consent ledger; never edited in place."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    contact_id: Mapped[str] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    list_id: Mapped[str | None] = mapped_column(
        ForeignKey("lists.id", ondelete="SET NULL"), default=None
    )
    action: Mapped[ConsentAction] = mapped_column(str_enum(ConsentAction))
    source: Mapped[ConsentSource] = mapped_column(str_enum(ConsentSource))
    legal_basis: Mapped[str] = mapped_column(String(40))
    purpose_text: Mapped[str] = mapped_column(Text)
    purpose_version: Mapped[int | None] = mapped_column(Integer, default=None)
    form_id: Mapped[str | None] = mapped_column(String(80), default=None)
    ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str | None] = mapped_column(String(500), default=None)
    principal: Mapped[str] = mapped_column(String(80))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Suppression(TenantBase):
    """An address that must not receive mail, checked by its keyed hash.

    The hash (HMAC of the normalized address with the installation key) lets
    every import, sign-up and send check the address. The address itself is
    kept beside it so a sender can see who bounced or complained, except
    after an erasure (Art. 17), where only the hash remains.
    """

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    address_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(str_enum(SuppressionReason))
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # None for an erasure, and for rows suppressed before addresses were kept.
    address: Mapped[str | None] = mapped_column(String(320), default=None)


# Defined with the value checks, which must not load SQLAlchemy; known here too.
PropertyKind = values.PropertyKind


class PropertyDefinition(TenantBase):
    """A custom contact property a tenant declared, with its type."""

    __tablename__ = "property_definitions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[PropertyKind] = mapped_column(str_enum(PropertyKind))
    choices: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SignupForm(TenantBase):
    """A public sign-up form of one list; its consent text is shown next to the checkbox."""

    __tablename__ = "signup_forms"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    list_id: Mapped[str] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    consent_text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ImportStatus(enum.StrEnum):
    """Where an import job stands."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ContactImport(TenantBase):
    """One import of a file into a list, with its progress and outcome."""

    __tablename__ = "contact_imports"
    __table_args__ = (Index("ix_contact_imports_list_digest", "list_id", "file_sha256"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    list_id: Mapped[str] = mapped_column(ForeignKey("lists.id", ondelete="CASCADE"))
    file_name: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    legal_basis: Mapped[str] = mapped_column(String(40))
    source: Mapped[str] = mapped_column(String(40))
    status: Mapped[ImportStatus] = mapped_column(str_enum(ImportStatus))
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    # Role addresses taken with their flag (the list's rule is "flag").
    flagged: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Domains whose mail servers could not be checked: DNS was unreachable.
    unchecked_domains: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str] = mapped_column(Text, default="")
    principal: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class ImportRejection(TenantBase):
    """A row an import did not take, with its line number and why."""

    __tablename__ = "import_rejections"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(
        ForeignKey("contact_imports.id", ondelete="CASCADE"), index=True
    )
    line: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)


class Segment(TenantBase):
    """A saved filter over contacts, in the segment language."""

    __tablename__ = "segments"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    expression: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The count when last taken (saving counts it): a page shows this rather
    # than scanning a million contacts on every view.
    last_count: Mapped[int | None] = mapped_column(Integer, default=None)
    counted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class AudienceAudit(TenantBase):
    """Append-only record of sensitive audience actions (exports), beside the audit trail."""

    __tablename__ = "audience_audit"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    action: Mapped[str] = mapped_column(String(40))
    principal: Mapped[str] = mapped_column(String(80))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class Branding(TenantBase):
    """How the tenant's public pages and confirmation emails look and speak (one row).

    `confirmations` holds, per language, the editable texts of the double
    opt-in: {"fr": {"subject": …, "body": …, "thanks": …}}; a language not in
    it uses the built-in text of that language.
    """

    __tablename__ = "branding"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    organisation: Mapped[str] = mapped_column(String(200), default="")
    logo_url: Mapped[str | None] = mapped_column(String(500), default=None)
    colour: Mapped[str] = mapped_column(String(7))
    background: Mapped[str] = mapped_column(String(7))
    footer: Mapped[str] = mapped_column(Text, default="")
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A verified sender domain of the tenant the confirmations come from.
    sender_domain: Mapped[str | None] = mapped_column(String(255), default=None)
    confirmations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Who answers for the contacts' data (the tenant is their controller), its
    # data-protection officer and where to complain (GDPR Arts. 13, 15, 30, 77);
    # empty: the installation's defaults (settings privacy_*).
    controller: Mapped[str] = mapped_column(Text, default="", server_default="")
    dpo: Mapped[str] = mapped_column(Text, default="", server_default="")
    complaint: Mapped[str] = mapped_column(Text, default="", server_default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
