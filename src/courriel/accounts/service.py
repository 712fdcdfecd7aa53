"""API keys: created with chosen capabilities, shown once, stored hashed, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from courriel.accounts.models import ApiKey
from courriel.core.audit import AuditTrail
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import AuthenticationError, InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.models import Tenant, TenantStatus
from courriel.core.principal import Capability, Principal
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
        self, storage: Storage, clock: Clock, secret_key: bytes, audit: AuditTrail
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._secret_key = secret_key
        self._audit = audit

    def _hash(self, secret: str) -> str:
        # The keys are 256-bit random, so a keyed hash is enough: a slow
        # password hash would only slow every API call down.
        return hmac.new(self._secret_key, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    def create(
        self, principal: Principal, name: str, capabilities: list[str] | None = None
    ) -> CreatedKey:
        """Create a key for the principal's tenant with at most the principal's capabilities."""
        principal.require(Capability.KEYS_MANAGE)
        wanted = capabilities if capabilities is not None else [c.value for c in Capability]
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
            {"name": key.name, "capabilities": key.capabilities},
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
        return Principal(
            tenant_id=key.tenant_id,
            capabilities=frozenset(Capability(c) for c in key.capabilities),
            actor=f"key:{key.id}",
        )

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
        with self._storage.control() as session:
            return list(
                session.scalars(
                    select(ApiKey)
                    .where(ApiKey.tenant_id == principal.tenant_id)
                    .order_by(ApiKey.created_at)
                )
            )

    def revoke(self, principal: Principal, key_id: str) -> None:
        """Revoke a key of the principal's tenant; it stops working at once."""
        principal.require(Capability.KEYS_MANAGE)
        with transaction(self._storage.control) as session:
            key = session.get(ApiKey, key_id)
            if key is None or key.tenant_id != principal.tenant_id:
                raise NotFoundError(f"no API key {key_id!r}")
            if key.revoked_at is not None:
                return
            key.revoked_at = self._clock.now()
        self._audit.record(principal.tenant_id, principal, "api_key.revoked", f"key:{key_id}", {})
