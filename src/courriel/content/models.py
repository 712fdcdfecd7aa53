"""Tables of content: templates, their frozen versions and stored links (tenant
database), and the DKIM keys of sender domains (control database)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, TenantBase, UTCDateTime, str_enum


class SourceFormat(enum.StrEnum):
    """What the author wrote: MJML (compiled to HTML once per version) or HTML."""

    HTML = "html"
    MJML = "mjml"


class Template(TenantBase):
    """A named template; its content lives in numbered versions."""

    __tablename__ = "templates"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    current_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class TemplateVersion(TenantBase):
    """One frozen version of a template: what a campaign actually sends.

    `html` is the sendable HTML (for MJML, compiled and CSS-inlined at save
    time, once); `source` is what the author wrote.
    """

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("template_id", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    template_id: Mapped[str] = mapped_column(ForeignKey("templates.id", ondelete="CASCADE"))
    version: Mapped[int]
    subject: Mapped[str] = mapped_column(String(998))
    html: Mapped[str] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    source_format: Mapped[SourceFormat] = mapped_column(
        str_enum(SourceFormat), default=SourceFormat.HTML
    )
    source: Mapped[str | None] = mapped_column(Text, default=None)
    preheader: Mapped[str] = mapped_column(String(500), default="")
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str] = mapped_column(String(320), default="")
    # Custom headers, validated at save time (no CR/LF/NUL, none protected).
    headers: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    # Declared defaults of template variables ("contact.city" → "your city").
    defaults: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class TemplateLink(TenantBase):
    """A trackable link of a template version: where click number `position` leads.

    Only static http(s) URLs are stored; a click token names a position, so
    the redirect target always comes from here, never from the URL.
    """

    __tablename__ = "template_links"

    template_version_id: Mapped[str] = mapped_column(
        ForeignKey("template_versions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(Text)


class DkimAlgorithm(enum.StrEnum):
    """Signing algorithms: RSA (RFC 6376) and Ed25519 (RFC 8463)."""

    RSA_SHA256 = "rsa-sha256"
    ED25519_SHA256 = "ed25519-sha256"


class DkimKeyStatus(enum.StrEnum):
    """Active keys sign; retired keys stay published until their mail has aged out."""

    ACTIVE = "active"
    RETIRED = "retired"


class DkimKey(ControlBase):
    """One DKIM key of a tenant's sender domain; the private key is stored encrypted."""

    __tablename__ = "dkim_keys"
    __table_args__ = (
        UniqueConstraint("domain", "selector"),
        Index("ix_dkim_keys_tenant_domain", "tenant_id", "domain"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    domain: Mapped[str] = mapped_column(String(255))
    selector: Mapped[str] = mapped_column(String(63))
    algorithm: Mapped[DkimAlgorithm] = mapped_column(str_enum(DkimAlgorithm))
    status: Mapped[DkimKeyStatus] = mapped_column(str_enum(DkimKeyStatus))
    # Base64 of the public key as published in the p= tag.
    public_key: Mapped[str] = mapped_column(Text)
    # AES-256-GCM (nonce || ciphertext) of the PKCS#8 DER private key.
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
