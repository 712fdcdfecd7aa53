"""The erasure log: keyed hashes of erased addresses, kept outside tenant databases,
so that an erasure survives the restore of an older backup.

Each erasure appends (tenant, keyed hash, time) to the control database: the
same HMAC that the tenant's suppression list holds (core/addresses), useless
without the installation key and never the address. Restoring a tenant's
database from a backup made before an erasure would bring the person back;
`reapply` erases again every contact of the restored database whose address
hashes to a logged entry, and puts the erasure suppressions back. A restore
of the control database itself keeps the newer log (operations/backup).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Index, Integer, String, select
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Mapped, mapped_column

from courriel.audience.models import Contact
from courriel.core.addresses import tenant_address_hash
from courriel.core.db import ControlBase, UTCDateTime, transaction
from courriel.core.storage import Storage
from courriel.privacy.erasure import Person, erase_rows, forget_in_storage, suppress_erased


class ErasureLogEntry(ControlBase):
    """One erasure: which tenant, the keyed hash of the address, when."""

    __tablename__ = "erasure_log"
    __table_args__ = (Index("ix_erasure_log_tenant", "tenant_id", "address_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    address_hash: Mapped[str] = mapped_column(String(64))
    erased_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


@dataclass(frozen=True)
class Logged:
    """An entry as carried across a restore."""

    tenant_id: str
    address_hash: str
    erased_at: dt.datetime


def record(storage: Storage, tenant_id: str, address_hash: str, now: dt.datetime) -> None:
    """Append one erasure to the log."""
    with transaction(storage.control) as session:
        session.add(ErasureLogEntry(tenant_id=tenant_id, address_hash=address_hash, erased_at=now))


def read(storage: Storage) -> list[Logged]:
    """Every entry (empty when there is no control database yet, as before a first restore)."""
    try:
        with storage.control() as session:
            rows = session.execute(
                select(
                    ErasureLogEntry.tenant_id,
                    ErasureLogEntry.address_hash,
                    ErasureLogEntry.erased_at,
                )
            ).all()
    except (OperationalError, ProgrammingError):
        return []
    return [Logged(*row) for row in rows]


def merge(storage: Storage, entries: list[Logged]) -> int:
    """Put back entries a restored control database lacks; returns how many."""
    present = {(e.tenant_id, e.address_hash) for e in read(storage)}
    missing = [e for e in entries if (e.tenant_id, e.address_hash) not in present]
    with transaction(storage.control) as session:
        session.add_all(
            ErasureLogEntry(
                tenant_id=e.tenant_id, address_hash=e.address_hash, erased_at=e.erased_at
            )
            for e in missing
        )
    return len(missing)


def reapply(storage: Storage, secret_key: bytes, tenant_id: str, now: dt.datetime) -> int:
    """Erase again, in a restored tenant database, everyone the log says was erased.

    Returns how many contacts were erased again. Every logged hash is also
    (again) on the suppression list, so the address cannot come back.
    """
    with storage.control() as session:
        hashes = set(
            session.scalars(
                select(ErasureLogEntry.address_hash).where(ErasureLogEntry.tenant_id == tenant_id)
            )
        )
    if not hashes:
        return 0
    erased: list[str] = []
    with transaction(storage.tenant(tenant_id)) as session:
        people = [
            Person(contact_id, email)
            for contact_id, email in session.execute(select(Contact.id, Contact.email))
            if tenant_address_hash(secret_key, tenant_id, email) in hashes
        ]
        for person in people:
            erase_rows(
                session,
                secret_key=secret_key,
                tenant_id=tenant_id,
                person=person,
                withdrawn=[],
                now=now,
            )
            erased.append(person.address)
        for digest in hashes:
            suppress_erased(session, digest, now)
    for address in erased:
        forget_in_storage(storage, tenant_id, address)
    return len(erased)
