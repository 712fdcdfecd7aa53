"""Control-database tables of accounts: API keys, custom roles, users' rights.

Roles and rights live next to the keys (and the users) in the control
database, so authenticating a request resolves its whole principal there.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, UTCDateTime


class ApiKey(ControlBase):
    """A credential bound to one tenant and a set of capabilities.

    Only an HMAC of the secret is stored: the key is shown once, when created.
    """

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # The first characters of the key, so a user can tell keys apart in a list.
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The user the key acts for (None: a key made before users existed, or by
    # the operator; it acts as the tenant's owner). Never more than that user.
    user_id: Mapped[str | None] = mapped_column(String(40), default=None, index=True)
    # Narrower than the user's, if set: the lists and personal-field rights
    # of this key (None: the user's).
    lists: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    field_default: Mapped[str | None] = mapped_column(String(10), default=None)
    field_rights: Mapped[dict[str, str] | None] = mapped_column(JSON, default=None)


class CustomRole(ControlBase):
    """A tenant's own role: a named set of capabilities and personal-field rights."""

    __tablename__ = "custom_roles"
    __table_args__ = (Index("ix_custom_roles_tenant_name", "tenant_id", "name", unique=True),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(60))
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    field_default: Mapped[str] = mapped_column(String(10))
    field_rights: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class UserRights(ControlBase):
    """What one user may reach beyond their role: lists and per-field overrides."""

    __tablename__ = "user_rights"

    user_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The lists assigned to the user (None: every list).
    lists: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Per-field overrides of the role's rights.
    field_rights: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
