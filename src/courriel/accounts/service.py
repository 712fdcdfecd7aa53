"""API keys: created with chosen capabilities, shown once, stored hashed, revocable.

A key made by a user belongs to that user and never exceeds them: its
capabilities, lists and personal-field rights are checked against the user
when it is made, and narrowed to the user's current ones at every use, so a
disabled user's keys (or one whose rights shrank) follow at once. Keys that
belong to no user (made by the operator, or before users existed) act as the
tenant's owner with their own capabilities, as they always did.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from courriel.accounts.models import ApiKey
from courriel.accounts.roles import RoleService, checked_access, checked_fields, require_within
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import AuthenticationError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.models import Tenant, TenantStatus
from courriel.core.principal import Capability, FieldAccess, FieldRights, Principal
from courriel.core.storage import Storage

KEY_PREFIX = "ck_"


@dataclass(frozen=True)
class CreatedKey:
    """A new key; `secret` exists only here and is never stored."""

    id: str
    name: str
    secret: str
    capabilities: list[str]


class ApiKeyService:
    """Issues, checks and revokes API keys (control database)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        secret_key: bytes,
        audit: AuditTrail,
        roles: RoleService | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._secret_key = secret_key
        self._audit = audit
        self._roles = roles or RoleService(storage, clock, audit)

    def _hash(self, secret: str) -> str:
        # The keys are 256-bit random, so a keyed hash is enough: a slow
        # password hash would only slow every API call down.
        return hmac.new(self._secret_key, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    def create(  # noqa: PLR0917 (the key's parts, each optional)
        self,
        principal: Principal,
        name: str,
        capabilities: list[str] | None = None,
        lists: list[str] | None = None,
        field_default: str | None = None,
        fields: dict[str, str] | None = None,
    ) -> CreatedKey:
        """Create a key for the principal's tenant (and user) within the principal's rights.

        Capabilities default to all the principal holds; lists and field
        rights to the principal's own (followed as they change).
        """
        principal.require(Capability.KEYS_MANAGE)
        wanted = (
            capabilities
            if capabilities is not None
            else [c.value for c in Capability if c in principal.capabilities]
        )
        own_fields: FieldRights | None = None
        if field_default is not None or fields:
            own_fields = FieldRights.of(
                checked_access(field_default) if field_default else FieldAccess.EDITABLE,
                checked_fields(fields or {}),
            )
            require_within(principal, own_fields, principal.lists)
        if lists is not None:
            require_within(principal, FieldRights(FieldAccess.HIDDEN), lists)
        caps: list[str] = []
        for index, value in enumerate(wanted):
            try:
                cap = Capability(value)
            except ValueError:
                raise InvalidInputError(
                    f"capabilities.{index}", f"unknown capability {value!r}"
                ) from None
            # A key can never hold more than the principal that made it.
            principal.require(cap)
            caps.append(cap.value)
        if not name.strip():
            raise InvalidInputError("name", "must not be empty")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        key = ApiKey(
            id=new_id("key"),
            tenant_id=principal.tenant_id,
            name=name.strip(),
            prefix=secret[:10],
            secret_hash=self._hash(secret),
            capabilities=sorted(set(caps)),
            created_at=self._clock.now(),
            user_id=principal.user_id,
            lists=sorted(set(lists)) if lists is not None else None,
            field_default=own_fields.default.value if own_fields else None,
            field_rights=own_fields.as_dict() if own_fields else None,
        )
        with transaction(self._storage.control) as session:
            session.add(key)
        # Keys live in the control database; the tenant's own trail says who
        # made one and with which capabilities (never the secret or its hash).
        self._audit.record(
            principal.tenant_id,
            principal,
            "api_key.created",
            f"key:{key.id}",
            {"name": key.name, "capabilities": key.capabilities}
            | ({"lists": key.lists} if key.lists is not None else {})
            | (
                {"field_default": key.field_default, "fields": key.field_rights}
                if key.field_default is not None
                else {}
            ),
        )
        return CreatedKey(id=key.id, name=key.name, secret=secret, capabilities=key.capabilities)

    def authenticate(self, secret: str) -> Principal:
        """The principal of a presented key; any problem is the same AuthenticationError."""
        if not secret.startswith(KEY_PREFIX):
            raise AuthenticationError("invalid API key")
        with self._storage.control() as session:
            row = session.execute(
                select(ApiKey, Tenant.status)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.secret_hash == self._hash(secret))
            ).first()
            if row is None or row[0].revoked_at is not None or row[1] != TenantStatus.ACTIVE:
                raise AuthenticationError("invalid API key")
            key = row[0]
            if key.user_id is None:
                owner = Principal.operator(key.tenant_id)
            else:
                # The user as they are now: disabled → no principal at all.
                try:
                    owner = self._roles.principal_in(session, key.tenant_id, key.user_id)
                except AuthenticationError:
                    raise AuthenticationError("invalid API key") from None
        return key_principal(key, owner)

    def authenticate_pair(self, key_id: str, secret: str) -> Principal:
        """The principal of a key given as its id and secret (HTTP Basic, SMTP AUTH).

        Mailjet's clients send ``(api_key, api_secret)``: here the key's id
        and its secret. Both must belong to the same key; any problem is the
        same AuthenticationError, so a caller learns nothing about which half
        was wrong.
        """
        principal = self.authenticate(secret)
        if principal.actor != f"key:{key_id}":
            raise AuthenticationError("invalid API key")
        return principal

    def list(self, principal: Principal) -> list[ApiKey]:
        """Keys of the principal's tenant (hashes are never exposed by the edges)."""
        principal.require(Capability.KEYS_MANAGE)
        statement = select(ApiKey).where(ApiKey.tenant_id == principal.tenant_id)
        if _own_keys_only(principal):
            statement = statement.where(ApiKey.user_id == principal.user_id)
        with self._storage.control() as session:
            return list(session.scalars(statement.order_by(ApiKey.created_at)))

    def revoke(self, principal: Principal, key_id: str) -> None:
        """Revoke a key of the principal's tenant; it stops working at once."""
        principal.require(Capability.KEYS_MANAGE)
        with transaction(self._storage.control) as session:
            key = session.get(ApiKey, key_id)
            if key is None or key.tenant_id != principal.tenant_id:
                raise NotFoundError(f"no API key {key_id!r}")
            if _own_keys_only(principal) and key.user_id != principal.user_id:
                raise NotFoundError(f"no API key {key_id!r}")
            if key.revoked_at is not None:
                return
            key.revoked_at = self._clock.now()
        self._audit.record(principal.tenant_id, principal, "api_key.revoked", f"key:{key_id}", {})


def _own_keys_only(principal: Principal) -> bool:
    """A user who does not manage the team manages only their own keys."""
    return principal.user_id is not None and Capability.USERS_MANAGE not in principal.capabilities


def key_principal(key: ApiKey, owner: Principal) -> Principal:
    """The principal of `key`: its own capabilities, lists and field rights,
    never more than those of `owner` (its user now, or the tenant's owner)."""
    fields = owner.fields
    if key.field_default is not None:
        own = FieldRights.of(
            FieldAccess(key.field_default),
            {k: FieldAccess(v) for k, v in (key.field_rights or {}).items()},
        )
        fields = own.narrowed(owner.fields)
    lists = owner.lists
    if key.lists is not None:
        lists = frozenset(key.lists) if lists is None else lists & frozenset(key.lists)
    return Principal(
        tenant_id=key.tenant_id,
        capabilities=frozenset(Capability(c) for c in key.capabilities) & owner.capabilities,
        actor=f"key:{key.id}",
        lists=lists,
        fields=fields,
        user_id=key.user_id,
    )
