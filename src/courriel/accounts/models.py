"""Control-database tables of accounts: API keys, users and their sign-in policy,
custom roles and users' rights.

Roles and rights live next to the keys and the users in the control
database, so authenticating a request resolves its whole principal there.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from courriel.core.db import ControlBase, UTCDateTime, str_enum


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


class UserStatus(enum.StrEnum):
    """Whether a user may sign in."""

    # Invited by email; becomes active when the invitation is accepted.
    INVITED = "invited"
    ACTIVE = "active"
    DISABLED = "disabled"


class User(ControlBase):
    """A member of a tenant's team who signs in with an email and a password.

    Identities live in the control database, so a sign-in by email finds the
    user before any tenant database is opened. `role` names a role (built-in
    such as ``owner`` or ``marketer``, or a tenant's custom role) as plain text.
    """

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email_key"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    # The address case-folded: what uniqueness and sign-in compare.
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # The web application's language for this user ("" : the browser's choice).
    language: Mapped[str] = mapped_column(String(10), default="", server_default="")
    role: Mapped[str] = mapped_column(String(60))
    status: Mapped[UserStatus] = mapped_column(str_enum(UserStatus), default=UserStatus.ACTIVE)
    password_hash: Mapped[str | None] = mapped_column(String(200), default=None)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set for a one-time password (operator-created users) and when the
    # password's maximum age has passed: the next sign-in must change it.
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set by an admin per user; NULL means passwords never expire (the default).
    password_max_age_days: Mapped[int | None] = mapped_column(Integer, default=None)
    # The TOTP secret, sealed (AES-GCM) under the installation key.
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    # The last TOTP time step accepted: a code is good once (RFC 6238 §5.2).
    totp_last_step: Mapped[int | None] = mapped_column(Integer, default=None)
    last_sign_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PasswordHistory(ControlBase):
    """A user's former password hashes, so the last N cannot be chosen again."""

    __tablename__ = "password_history"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class AuthPolicy(ControlBase):
    """A tenant's sign-in policy; a tenant without a row has the defaults."""

    __tablename__ = "auth_policies"

    tenant_id: Mapped[str] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    min_password_length: Mapped[int] = mapped_column(Integer, default=12)
    password_history: Mapped[int] = mapped_column(Integer, default=5)
    # Off by default (NIST SP 800-63B §5.1.1.2): composition rules only when an admin asks.
    require_composition: Mapped[bool] = mapped_column(Boolean, default=False)
    require_second_factor: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SessionStage(enum.StrEnum):
    """How far a signed-in session has come; only `full` acts as its user."""

    # The password was right; a second factor is still owed.
    SECOND_FACTOR = "second_factor"
    # The team requires a second factor and the user has none yet: enrol first.
    ENROL = "enrol"
    # A one-time or expired password: choose a new one first.
    PASSWORD_CHANGE = "password_change"  # noqa: S105 (a stage, not a password)
    FULL = "full"


class UserSession(ControlBase):
    """A server-side sign-in session. The cookie holds a random token; only its
    SHA-256 is stored, so a copy of the table signs nobody in."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    stage: Mapped[SessionStage] = mapped_column(str_enum(SessionStage))
    # The factors passed so far, e.g. "password+totp".
    factors: Mapped[str] = mapped_column(String(60))
    csrf_token: Mapped[str] = mapped_column(String(64))
    # A WebAuthn challenge awaiting its answer (base64url), if any.
    challenge: Mapped[str | None] = mapped_column(String(200), default=None)
    source_ip: Mapped[str | None] = mapped_column(String(45), default=None)
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # The absolute timeout, fixed at sign-in; rotation keeps it.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class RecoveryCode(ControlBase):
    """A single-use recovery code: a locator that finds the row, and the secret
    part's argon2id hash (salted), as for passwords."""

    __tablename__ = "recovery_codes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    locator: Mapped[str] = mapped_column(String(8))
    code_hash: Mapped[str] = mapped_column(String(200))
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Passkey(ControlBase):
    """A WebAuthn credential registered as a second factor."""

    __tablename__ = "passkeys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # base64url of the credential id the authenticator chose.
    credential_id: Mapped[str] = mapped_column(String(700), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    sign_count: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100), default="passkey")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


class Invitation(ControlBase):
    """One invitation link; `used_at` makes it single-use."""

    __tablename__ = "invitations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)


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

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    # The lists assigned to the user (None: every list).
    lists: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # Per-field overrides of the role's rights.
    field_rights: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
