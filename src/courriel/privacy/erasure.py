"""Erasure (GDPR Art. 17): the person goes from every table; statistics stay.

What happens, in one tenant transaction (so it is all or nothing):

- the contact row, its subscriptions, its consent ledger and its property
  values are deleted;
- its campaign messages, events and webhook payloads lose the link to the
  person (contact id emptied; the address, user agents and IPs scrubbed from
  event details), so campaign counters and statistics are unchanged but
  de-identified;
- its waiting spool messages are deleted (spool database, before the tenant
  transaction) and their recipients skipped with the reason "erased";
- the address survives only as the keyed hash (HMAC-SHA256 with a key
  derived from the installation key and the tenant) on the suppression list,
  reason `erasure`: imports and API calls refuse it; a new explicit opt-in
  through a sign-up form, confirmed from the mailbox, may bring it back.

Then storage is made to forget: on SQLite the deletes run with
`secure_delete` (freed bytes zeroed), the WAL is checkpointed and truncated,
and the files are searched for the address in any case; if an old copy
survives in free space, the database is vacuumed. The spool gets the same
(unless another message to the address is still waiting there). On
PostgreSQL the tables an erasure touched are vacuumed at once, tenant and
spool. The certificate lists what was deleted and when, never the address.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from courriel.audience.models import (
    ConsentRecord,
    Contact,
    ImportRejection,
    Subscription,
    Suppression,
    SuppressionReason,
)
from courriel.campaigns.models import CampaignRecipient
from courriel.core.addresses import tenant_address_hash
from courriel.core.storage import Storage
from courriel.delivery.models import SpoolMessage
from courriel.events.models import Event
from courriel.events.webhooks.models import WebhookDelivery
from courriel.privacy.models import DataSubjectRequest
from courriel.privacy.withhold import mark_withdrawn, queued_message_ids, take_from_spool

ERASED = "[erased]"
# Event-detail keys that describe the person's device or network.
_PERSONAL_KEYS = frozenset({"ip", "user_agent", "agent", "address", "email", "rcpt", "recipient"})
_CHUNK = 500
_CHECKPOINT_TRIES = 5


@dataclass(frozen=True)
class Person:
    """Who is being erased: the contact id and, in memory only, the address."""

    contact_id: str
    address: str


def _scrubber(address: str) -> re.Pattern[str]:
    return re.compile(re.escape(address), re.IGNORECASE)


def scrub_value(value: Any, pattern: re.Pattern[str]) -> Any:
    """`value` with the address replaced wherever it appears, and personal keys dropped."""
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, list):
        return [scrub_value(v, pattern) for v in value]
    if isinstance(value, dict):
        return {k: scrub_value(v, pattern) for k, v in value.items() if k not in _PERSONAL_KEYS}
    return value


def erase_rows(
    session: Session,
    *,
    secret_key: bytes,
    tenant_id: str,
    person: Person,
    withdrawn: list[str],
    now: dt.datetime,
) -> dict[str, int]:
    """Delete and de-identify the person's rows in the tenant's session; counts per table."""
    # Freed pages and cells are overwritten with zeros (SQLite only; per connection).
    if session.get_bind().dialect.name == "sqlite":
        session.connection().exec_driver_sql("PRAGMA secure_delete=ON")
    pattern = _scrubber(person.address)
    contact_id = person.contact_id
    counts: dict[str, int] = {}
    message_ids = list(
        session.scalars(
            select(CampaignRecipient.id).where(CampaignRecipient.contact_id == contact_id)
        )
    )
    mark_withdrawn(session, withdrawn, "erased")
    counts["events"] = _deidentify_events(session, contact_id, message_ids, pattern)
    counts["campaign_messages"] = int(
        session.execute(  # type: ignore[attr-defined]
            update(CampaignRecipient)
            .where(CampaignRecipient.contact_id == contact_id)
            .values(contact_id=None)
        ).rowcount
    )
    counts["subscriptions"] = _delete(session, Subscription, Subscription.contact_id == contact_id)
    counts["consent_records"] = _delete(
        session, ConsentRecord, ConsentRecord.contact_id == contact_id
    )
    counts["import_rejections"] = _delete(
        session,
        ImportRejection,
        func.lower(ImportRejection.reason).contains(person.address.lower(), autoescape=True),
    )
    for request in session.scalars(
        select(DataSubjectRequest).where(DataSubjectRequest.contact_id == contact_id)
    ):
        # Rectification inputs may hold the (new) address: only field names stay.
        request.detail = scrub_value(
            {k: v for k, v in (request.detail or {}).items() if k != "changes"}, pattern
        )
    contact = session.get(Contact, contact_id)
    assert contact is not None
    counts["property_values"] = len(contact.properties or {})
    counts["contacts"] = _delete(session, Contact, Contact.id == contact_id)
    suppress_erased(session, tenant_address_hash(secret_key, tenant_id, person.address), now)
    return counts


def erasure_certificate(
    tenant_id: str,
    request: DataSubjectRequest,
    person: Person,
    counts: dict[str, int],
    now: dt.datetime,
) -> dict[str, Any]:
    """What was deleted and when, for the request to keep; no address."""
    return {
        "request_id": request.id,
        "tenant_id": tenant_id,
        "contact_id": person.contact_id,
        "received_at": request.received_at.isoformat(),
        "erased_at": now.isoformat(),
        "deleted": {
            k: counts[k]
            for k in (
                "contacts",
                "subscriptions",
                "consent_records",
                "property_values",
                "import_rejections",
                "spool_messages",
            )
        },
        "de_identified": {k: counts[k] for k in ("events", "campaign_messages")},
        "kept": {
            "suppression": "a keyed hash (HMAC-SHA256) of the address, reason erasure",
            "statistics": "campaign counters and figures, unchanged, without the person",
        },
    }


def _delete(session: Session, table: Any, condition: Any) -> int:
    result = session.execute(delete(table).where(condition))
    return int(result.rowcount)  # type: ignore[attr-defined]


def _deidentify_events(
    session: Session, contact_id: str, message_ids: list[str], pattern: re.Pattern[str]
) -> int:
    seen: set[str] = set()
    conditions = [Event.contact_id == contact_id]
    conditions.extend(
        Event.message_id.in_(message_ids[at : at + _CHUNK])
        for at in range(0, len(message_ids), _CHUNK)
    )
    events = list(session.scalars(select(Event).where(or_(*conditions))))
    for event in events:
        event.contact_id = None
        event.detail = scrub_value(dict(event.detail or {}), pattern)
        seen.add(event.id)
    ids = sorted(seen)
    for at in range(0, len(ids), _CHUNK):
        for delivery in session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_id.in_(ids[at : at + _CHUNK]))
        ):
            delivery.payload = _scrub_payload(delivery.payload, pattern)
    return len(events)


def _scrub_payload(payload: str, pattern: re.Pattern[str]) -> str:
    try:
        body = json.loads(payload)
    except ValueError:
        return pattern.sub(ERASED, payload)
    if isinstance(body, dict) and "contact_id" in body:
        body["contact_id"] = None
    return json.dumps(scrub_value(body, pattern), sort_keys=True, separators=(",", ":"))


def suppress_erased(session: Session, digest: str, now: dt.datetime) -> None:
    """Put (or turn) the keyed hash of an erased address on the suppression list."""
    existing = session.scalars(
        select(Suppression).where(Suppression.address_hash == digest)
    ).first()
    if existing is None:
        session.add(
            Suppression(
                address_hash=digest, reason=SuppressionReason.ERASURE, detail="", created_at=now
            )
        )
        return
    existing.reason = SuppressionReason.ERASURE
    existing.detail = ""
    # Erased: only the hash may remain (Art. 17; it keeps the address out).
    existing.address = None


def withdraw_for_erasure(
    storage: Storage, spool: sessionmaker[Session], tenant_id: str, contact_id: str
) -> list[str]:
    """Delete the person's waiting spool messages; return their message ids."""
    with storage.tenant(tenant_id)() as session:
        ids = queued_message_ids(session, contact_id)
    return take_from_spool(spool, tenant_id, contact_id, ids)


# Storage --------------------------------------------------------------------


def forget_in_storage(storage: Storage, tenant_id: str, address: str) -> dict[str, Any]:
    """Make the database files forget the address; what was done, for the certificate.

    The tenant's database and the spool (which held the person's waiting
    messages, bodies included) are both covered.
    """
    if storage.is_postgres:
        return _vacuum_postgres(storage, tenant_id)
    path = storage.tenant_sqlite_path(tenant_id)
    engine = storage.tenant(tenant_id).kw["bind"]
    _checkpoint(engine)
    vacuumed = False
    if holds_bytes(path, address):
        # An old copy in free space, written before secure_delete was on:
        # rebuilding the file is the only way to drop it.
        _vacuum_sqlite(engine)
        vacuumed = True
    return {
        "backend": "sqlite",
        "checkpointed": True,
        "vacuumed": vacuumed,
        "address_found_after": holds_bytes(path, address),
        "spool": _forget_in_spool(storage, address),
    }


def _forget_in_spool(storage: Storage, address: str) -> dict[str, Any]:
    # The spool is shared by every tenant: another tenant's message to the
    # same address rightly holds its bytes, so the file is rebuilt only when
    # no live message names the address and its bytes are still found.
    engine = storage.spool_engine
    path = Path(str(engine.url.database))
    _checkpoint(engine)
    vacuumed = False
    if holds_bytes(path, address) and not _spool_mails_to(storage, address):
        _vacuum_sqlite(engine)
        vacuumed = True
    found = holds_bytes(path, address)
    return {
        "checkpointed": True,
        "vacuumed": vacuumed,
        "address_found_after": found and not _spool_mails_to(storage, address),
    }


def _spool_mails_to(storage: Storage, address: str) -> bool:
    with storage.spool() as session:
        found = session.scalar(
            select(SpoolMessage.id)
            .where(func.lower(SpoolMessage.rcpt_to) == address.lower())
            .limit(1)
        )
    return found is not None


def _vacuum_sqlite(engine: Any) -> None:
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("VACUUM")
    finally:
        raw.close()
    _checkpoint(engine)


# The tables an erasure deletes from or rewrites, by database.
_ERASED_TABLES = (
    Contact.__tablename__,
    Subscription.__tablename__,
    ConsentRecord.__tablename__,
    Event.__tablename__,
    CampaignRecipient.__tablename__,
    DataSubjectRequest.__tablename__,
    ImportRejection.__tablename__,
    WebhookDelivery.__tablename__,
)


def _vacuum_postgres(storage: Storage, tenant_id: str) -> dict[str, Any]:
    # A deleted row is invisible to every query at once, but its old version
    # stays in the table's pages until VACUUM removes it (from heap and
    # indexes) so that the space is reused; nothing waits for autovacuum.
    # VACUUM cannot run inside a transaction, hence autocommit. The pages'
    # free space and old WAL segments are reused and recycled later; a
    # `VACUUM FULL` (exclusive lock) rewrites the files at once, an
    # operator's decision (docs/operations.md).
    done: dict[str, Any] = {"backend": "postgresql"}
    for name, engine, tables in (
        ("tenant", storage.tenant(tenant_id).kw["bind"], _ERASED_TABLES),
        ("spool", storage.spool_engine, (SpoolMessage.__tablename__,)),
    ):
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            quote = conn.dialect.identifier_preparer.quote
            for table in tables:
                conn.exec_driver_sql(f"VACUUM {quote(table)}")
        done[name] = {"vacuumed": list(tables)}
    return done


def _checkpoint(engine: Any) -> None:
    raw = engine.raw_connection()
    try:
        for _ in range(_CHECKPOINT_TRIES):
            # TRUNCATE copies every WAL frame into the database and empties
            # the WAL file, so no old page version stays in it.
            busy = raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if busy is None or busy[0] == 0:
                return
    finally:
        raw.close()


def sqlite_files(path: Path) -> list[Path]:
    """A SQLite database's files: the database, its WAL and shared-memory index."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def holds_bytes(path: Path, address: str) -> bool:
    """Whether any file of the database holds the address's bytes."""
    # Any case: `ADA@x` and `ada@x` are the same person's address.
    needles = {address.lower().encode("utf-8"), address.casefold().encode("utf-8")}
    longest = max(len(n) for n in needles)
    for file in sqlite_files(path):
        if not file.exists():
            continue
        with file.open("rb") as handle:
            tail = b""
            while chunk := handle.read(1 << 20):
                window = (tail + chunk).lower()
                if any(n in window for n in needles):
                    return True
                tail = window[-longest:]
    return False
