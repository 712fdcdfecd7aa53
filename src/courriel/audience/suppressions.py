"""The suppression list: addresses that must never be mailed, kept as keyed hashes.

Hard bounces and complaints arrive through `reactions.suppress_contact`;
global unsubscribes, erasures and manual entries come through here. Import,
sign-up and every send check the hash (`is_suppressed`), so an address that
was erased is still refused although the contact no longer exists.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, Suppression, SuppressionReason
from courriel.audience.reactions import suppress_contact
from courriel.core.addresses import (
    address_key,
    normalize_address,
    tenant_address_hash,
    tenant_hash_key,
)
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.masking import mask_addresses
from courriel.core.pagination import Page, paginate
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

MAX_DETAIL = 500


def suppressed_hashes(session: Session, hashes: Iterable[str]) -> set[str]:
    """Which of these address hashes are on the suppression list."""
    wanted = list(hashes)
    if not wanted:
        return set()
    found = session.scalars(
        select(Suppression.address_hash).where(Suppression.address_hash.in_(wanted))
    )
    return set(found)


def erased_only(session: Session, digest: str) -> bool:
    """Whether the address is suppressed only because its person was erased.

    Such an address may come back through a new explicit opt-in on a sign-up
    form, confirmed from the mailbox (`lift_erasure`); nothing else re-adds it.
    """
    reason = session.scalar(select(Suppression.reason).where(Suppression.address_hash == digest))
    return reason is SuppressionReason.ERASURE


def lift_erasure(session: Session, digest: str) -> None:
    """Drop an erasure suppression: the person confirmed a new opt-in."""
    session.execute(
        delete(Suppression).where(
            Suppression.address_hash == digest,
            Suppression.reason == SuppressionReason.ERASURE,
        )
    )


class SuppressionService:
    """List, add and remove suppressions; erase a contact."""

    def __init__(self, storage: Storage, clock: Clock, secret_key: bytes) -> None:
        self._storage = storage
        self._clock = clock
        self._secret_key = secret_key

    def hash_of(self, tenant_id: str, address: str) -> str:
        """The keyed hash of a normalized address for this tenant."""
        return tenant_address_hash(self._secret_key, tenant_id, address)

    def refold_hashes(self, tenant_id: str) -> int:
        """Rehash suppressions made before addresses were case-folded; how many moved.

        Hashes made before revision tenant_gdpr_a_0001 keyed the address as
        typed: ``Zoe@x.test`` was suppressed, ``zoe@x.test`` was not. The
        migration could not rehash them (the key is not a migration's to read);
        `courriel migrate` calls this for every tenant. A row is found again
        through the contact still spelled that way, or through its stored
        address; the hash of an erased person's mixed-case address is beyond
        recovery by design (nothing else is kept of them).
        """
        tenant_key = tenant_hash_key(self._secret_key, tenant_id)

        def as_typed(address: str) -> str:
            return hmac.new(tenant_key, address.encode("utf-8"), hashlib.sha256).hexdigest()

        moved = 0
        with transaction(self._storage.tenant(tenant_id)) as session:
            spellings = set(session.scalars(select(Contact.email)))
            spellings.update(
                a for a in session.scalars(select(Suppression.address)) if a is not None
            )
            typed = {as_typed(a): a for a in spellings if a != address_key(a)}
            if not typed:
                return 0
            for row in session.scalars(
                select(Suppression).where(Suppression.address_hash.in_(list(typed)))
            ):
                folded = self.hash_of(tenant_id, typed[row.address_hash])
                if session.scalar(select(Suppression.id).where(Suppression.address_hash == folded)):
                    session.delete(row)  # Already suppressed under the folded hash.
                else:
                    row.address_hash = folded
                moved += 1
        return moved

    def is_suppressed(self, principal: Principal, address: str) -> bool:
        """Whether the address may not be mailed."""
        principal.require(Capability.CONTACTS_READ)
        digest = self.hash_of(principal.tenant_id, normalize_address(address))
        with self._storage.tenant(principal.tenant_id)() as session:
            return bool(suppressed_hashes(session, [digest]))

    def list(self, principal: Principal, cursor: str | None, limit: int) -> Page[Suppression]:
        """The tenant's suppressions (hashes and reasons), a page at a time."""
        principal.require(Capability.CONTACTS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            return paginate(session, select(Suppression), Suppression.id, cursor, limit)

    def find(self, principal: Principal, address: str) -> Suppression | None:
        """The suppression of one address (looked up by its hash), or None.

        An erased address is found too: its hash is what stays.
        """
        principal.require(Capability.CONTACTS_READ)
        digest = self.hash_of(principal.tenant_id, normalize_address(address, "address"))
        with self._storage.tenant(principal.tenant_id)() as session:
            return session.scalars(
                select(Suppression).where(Suppression.address_hash == digest)
            ).one_or_none()

    def add(
        self,
        principal: Principal,
        address: str,
        reason: SuppressionReason = SuppressionReason.MANUAL,
        detail: str = "",
    ) -> Suppression:
        """Suppress an address (and move the matching contact's subscriptions)."""
        principal.require(Capability.CONTACTS_WRITE)
        email = normalize_address(address, "address")
        if reason not in (SuppressionReason.MANUAL, SuppressionReason.UNSUBSCRIBE):
            raise InvalidInputError(
                "reason", "only manual and unsubscribe suppressions are added by hand"
            )
        if len(detail) > MAX_DETAIL or any(ch in detail for ch in "\r\n\x00"):
            raise InvalidInputError("detail", f"one line of at most {MAX_DETAIL} characters")
        digest = self.hash_of(principal.tenant_id, email)
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            if suppressed_hashes(session, [digest]):
                raise ConflictError("this address is already suppressed")
            contact_id = session.scalar(
                select(Contact.id).where(Contact.email_key == address_key(email))
            )
            if contact_id is not None:
                suppress_contact(
                    session,
                    secret_key=self._secret_key,
                    tenant_id=principal.tenant_id,
                    contact_id=contact_id,
                    reason=reason,
                    detail=detail,
                    now=now,
                )
            else:
                session.add(
                    Suppression(
                        address_hash=digest,
                        reason=reason,
                        detail=detail,
                        created_at=now,
                        address=email,
                    )
                )
            session.flush()
            added = session.scalars(
                select(Suppression).where(Suppression.address_hash == digest)
            ).one()
            # The trail names the suppression, never the address.
            record_entry(
                session,
                now,
                principal,
                "suppression.added",
                f"suppression:{added.id}",
                {"reason": reason.value, "contact_id": contact_id},
            )
            return added

    def remove(self, principal: Principal, suppression_id: int, note: str = "") -> None:
        """Lift a manual suppression; bounces, complaints and erasures stay.

        `note` (why it is lifted, one line) goes into the audit trail, with any
        address in it masked: the trail names the suppression, never the address.
        """
        principal.require(Capability.CONTACTS_WRITE)
        if len(note) > MAX_DETAIL or any(ch in note for ch in "\r\n\x00"):
            raise InvalidInputError("note", f"one line of at most {MAX_DETAIL} characters")
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = session.get(Suppression, suppression_id)
            if row is None:
                raise NotFoundError(f"no suppression {suppression_id}")
            if row.reason is not SuppressionReason.MANUAL:
                raise ConflictError(
                    f"a {row.reason.value} suppression is kept; only manual ones can be lifted"
                )
            session.execute(delete(Suppression).where(Suppression.id == suppression_id))
            record_entry(
                session,
                self._clock.now(),
                principal,
                "suppression.lifted",
                f"suppression:{suppression_id}",
                {"reason": row.reason.value}
                | ({"note": mask_addresses(note.strip())} if note.strip() else {}),
            )
