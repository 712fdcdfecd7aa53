"""DKIM keys of sender domains: generation, DNS records, rotation, encrypted storage.

Each domain of a tenant has one active pair (RSA-2048 and Ed25519, RFC 8463)
under fresh selectors; rotating makes a new pair active and retires the old
one, which stays listed (its TXT records must stay published until mail
signed with it has been delivered and checked). Private keys are stored
encrypted with AES-256-GCM under a key derived (HKDF-SHA256) from the
installation secret key; the tenant, domain and selector are bound in as
associated data, so a ciphertext copied to another row does not decrypt.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from courriel.content import dkim
from courriel.content.models import DkimAlgorithm, DkimKey, DkimKeyStatus
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

_NONCE = 12


@dataclass(frozen=True)
class DnsRecord:
    """A TXT record the domain owner publishes."""

    selector: str
    algorithm: DkimAlgorithm
    status: DkimKeyStatus
    name: str
    value: str
    created_at: dt.datetime


def _domain(domain: str) -> str:
    clean = domain.strip().lower().rstrip(".")
    labels = clean.split(".")
    if (
        len(clean) > 253
        or len(labels) < 2
        or not all(
            0 < len(label) <= 63
            and label.replace("-", "").isalnum()
            and label.isascii()
            and not label.startswith("-")
            and not label.endswith("-")
            for label in labels
        )
    ):
        raise InvalidInputError("domain", "must be a domain name such as example.com")
    return clean


class DkimKeyService:
    """DKIM keys of the principal's tenant's sender domains."""

    def __init__(self, storage: Storage, clock: Clock, secret_key: bytes) -> None:
        self._storage = storage
        self._clock = clock
        self._aead = AESGCM(
            HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=None,
                info=b"courriel dkim private keys v1",
            ).derive(secret_key)
        )

    def _aad(self, tenant_id: str, domain: str, selector: str) -> bytes:
        return f"{tenant_id}\x1f{domain}\x1f{selector}".encode()

    def rotate(self, principal: Principal, domain: str) -> list[DnsRecord]:
        """Generate a new active pair (RSA + Ed25519) for a domain; retire the previous one.

        This primitive does not know who owns the domain: the API goes through
        `SenderDomainService.rotate_keys`, which makes keys only for a domain
        the tenant has added and proven. Here a domain another tenant holds
        keys for is refused all the same.
        """
        principal.require(Capability.KEYS_MANAGE)
        domain = _domain(domain)
        with transaction(self._storage.control) as session:
            taken = session.scalars(select(DkimKey).where(DkimKey.domain == domain)).all()
            if any(k.tenant_id != principal.tenant_id for k in taken):
                # One domain signs for one tenant: anything else would let a
                # tenant sign as another's brand.
                raise InvalidInputError("domain", "is already used by another account")
            self.generate(session, principal.tenant_id, domain)
        return self.records(principal, domain)

    def ensure(self, session: Session, tenant_id: str, domain: str) -> None:
        """In the caller's transaction: an active pair for the domain if the tenant has none
        (the send path's guarantee that every message is signed). The caller has
        checked that no other tenant signs for the domain."""
        domain = _domain(domain)
        active = session.scalar(
            select(DkimKey.id).where(
                DkimKey.tenant_id == tenant_id,
                DkimKey.domain == domain,
                DkimKey.status == DkimKeyStatus.ACTIVE,
            )
        )
        if active is None:
            self.generate(session, tenant_id, domain)

    def generate(self, session: Session, tenant_id: str, domain: str) -> None:
        """In the caller's transaction: a new active pair for a tenant's domain, the old retired.

        The caller has checked that the tenant may sign for the domain.
        """
        domain = _domain(domain)
        now = self._clock.now()
        stamp = f"c{now:%Y%m}{secrets.token_hex(2)}"
        own = session.scalars(
            select(DkimKey).where(DkimKey.tenant_id == tenant_id, DkimKey.domain == domain)
        ).all()
        for key in own:
            if key.status is DkimKeyStatus.ACTIVE:
                key.status = DkimKeyStatus.RETIRED
                key.retired_at = now
        for algorithm, suffix in (
            (DkimAlgorithm.RSA_SHA256, "r"),
            (DkimAlgorithm.ED25519_SHA256, "e"),
        ):
            private = dkim.generate_private_key(algorithm)
            selector = f"{stamp}{suffix}"
            nonce = os.urandom(_NONCE)
            sealed = self._aead.encrypt(
                nonce,
                dkim.private_key_bytes(private),
                self._aad(tenant_id, domain, selector),
            )
            session.add(
                DkimKey(
                    id=new_id("dkm"),
                    tenant_id=tenant_id,
                    domain=domain,
                    selector=selector,
                    algorithm=algorithm,
                    status=DkimKeyStatus.ACTIVE,
                    public_key=dkim.public_key_text(private),
                    private_key_encrypted=nonce + sealed,
                    created_at=now,
                )
            )

    def withdraw_others(self, session: Session, owner_tenant_id: str, domain: str) -> int:
        """In the caller's transaction: delete every other tenant's keys for a domain.

        Called when the owner proves the domain: keys another tenant was given
        while its claim was unproven must never sign as the owner's brand.
        """
        result = session.execute(
            delete(DkimKey).where(
                DkimKey.domain == _domain(domain), DkimKey.tenant_id != owner_tenant_id
            )
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def records(self, principal: Principal, domain: str) -> list[DnsRecord]:
        """The TXT records to publish for a domain, active first."""
        principal.require(Capability.KEYS_MANAGE)
        domain = _domain(domain)
        with self._storage.control() as session:
            keys = session.scalars(
                select(DkimKey)
                .where(DkimKey.tenant_id == principal.tenant_id, DkimKey.domain == domain)
                .order_by(DkimKey.created_at.desc(), DkimKey.selector)
            ).all()
        if not keys:
            raise NotFoundError(f"no DKIM keys for {domain!r}")
        keys = sorted(keys, key=lambda k: k.status is not DkimKeyStatus.ACTIVE)
        return [
            DnsRecord(
                selector=k.selector,
                algorithm=k.algorithm,
                status=k.status,
                name=f"{k.selector}._domainkey.{k.domain}",
                value=dkim.dns_record(k.algorithm, k.public_key),
                created_at=k.created_at,
            )
            for k in keys
        ]

    def signers(self, tenant_id: str, domain: str) -> list[dkim.DkimSigner]:
        """The active keys of a tenant's sender domain, decrypted and loaded (for sending)."""
        domain = domain.strip().lower()
        with self._storage.control() as session:
            keys = session.scalars(
                select(DkimKey).where(
                    DkimKey.tenant_id == tenant_id,
                    DkimKey.domain == domain,
                    DkimKey.status == DkimKeyStatus.ACTIVE,
                )
            ).all()
        signers: list[dkim.DkimSigner] = []
        for key in keys:
            blob = key.private_key_encrypted
            try:
                der = self._aead.decrypt(
                    blob[:_NONCE], blob[_NONCE:], self._aad(tenant_id, domain, key.selector)
                )
            except InvalidTag:
                # A key sealed under another secret (or tampered with) cannot sign.
                continue
            signers.append(
                dkim.DkimSigner(
                    domain=domain,
                    selector=key.selector,
                    algorithm=key.algorithm,
                    private_key=dkim.load_private_key(der),
                )
            )
        return signers
