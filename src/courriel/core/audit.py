"""The tenant's audit trail: who did what, when, from where, as a hash chain.

Entries are appended, never changed. Each stores the SHA-256 of its canonical
content plus the previous entry's hash and a gap-free sequence number, so
`AuditTrail.verify` finds an edited entry (its hash no longer matches), a
deleted one (a gap, or a successor pointing at a hash that is gone) and a
deleted tail (the chain head names an entry that is gone).

Nothing secret enters the trail: detail keys that name a secret are
redacted, and so is any value shaped like an API key, whoever the caller is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, insert, select, update
from sqlalchemy.orm import Session

from courriel.core.clock import Clock
from courriel.core.db import insert_for, transaction
from courriel.core.errors import InvalidInputError
from courriel.core.models import AuditChainHead, AuditEntry
from courriel.core.pagination import Page, check_limit
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

GENESIS = "0" * 64
# Where the current request comes from, set by the HTTP application for each
# request (api.app), so every entry written while serving it says "from where"
# even when the service that writes it never sees the request.
request_source_ip: ContextVar[str | None] = ContextVar("request_source_ip", default=None)
HEAD_ID = 1
REDACTED = "[redacted]"
# Key names that hold credentials, whatever the caller meant to log.
_SECRET_KEY = re.compile(
    r"(^|_)(secret|token|password|passphrase|authorization|api_key|key)$", re.IGNORECASE
)
# Values shaped like our API keys (accounts.service.KEY_PREFIX) or a bearer header.
_SECRET_VALUE = re.compile(r"^(ck_|bearer\s)", re.IGNORECASE)
VERIFY_BATCH = 1000
# Executed on the session's connection (Core), with parameters bound per call.
_INSERT_ENTRY = insert(AuditEntry)
_READ_HEAD = (
    select(AuditChainHead.seq, AuditChainHead.hash)
    .where(AuditChainHead.id == HEAD_ID)
    .with_for_update()
)
_ADVANCE_HEAD = (
    update(AuditChainHead)
    .where(AuditChainHead.id == HEAD_ID)
    .values(seq=bindparam("new_seq"), hash=bindparam("new_hash"))
)


@dataclass(frozen=True)
class AuditFilter:
    """Which entries a query or export returns; every part optional."""

    actor: str | None = None
    action: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def checked(self) -> AuditFilter:
        """This filter, or InvalidInputError naming the wrong field."""
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidInputError(name, "must include a time zone (e.g. 2026-01-01T00:00Z)")
        if self.since is not None and self.until is not None and self.until < self.since:
            raise InvalidInputError("until", "must not be before 'since'")
        return self


@dataclass(frozen=True)
class Verification:
    """The outcome of checking a tenant's chain: intact, or where it first breaks."""

    ok: bool
    entries: int
    first_broken_seq: int | None = None
    problem: str | None = None


def scrub(detail: Mapping[str, object]) -> dict[str, object]:
    """`detail` with every secret-looking key or value replaced by a marker."""

    def clean(key: str, value: object) -> object:
        if _SECRET_KEY.search(key):
            return REDACTED
        if isinstance(value, str) and _SECRET_VALUE.match(value):
            return REDACTED
        if isinstance(value, Mapping):
            return {str(k): clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(key, v) for v in value]
        return value

    return {str(k): clean(str(k), v) for k, v in detail.items()}


def canonical_detail(detail: Mapping[str, object]) -> str:
    """The one JSON text of a detail mapping (sorted keys, no spaces)."""
    return json.dumps(scrub(detail), sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 over the entry's canonical content, its predecessor's hash included."""
    content = json.dumps(
        [
            entry.seq,
            entry.occurred_at.astimezone(dt.UTC).isoformat(),
            entry.actor,
            entry.action,
            entry.subject,
            entry.detail,
            entry.source_ip,
            entry.prev_hash,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _actor_name(actor: Principal | str) -> str:
    return actor.actor if isinstance(actor, Principal) else actor


class AuditTrail:
    """Appends to, queries, exports and verifies each tenant's audit trail."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def record(  # noqa: PLR0917 (the trail's fields, in their order, as callers pass them)
        self,
        tenant_id: str,
        actor: Principal | str,
        action: str,
        subject: str | None,
        detail: Mapping[str, object],
        source_ip: str | None = None,
    ) -> None:
        """Append one entry in a transaction of its own."""
        with transaction(self._storage.tenant(tenant_id)) as session:
            self.record_in(session, actor, action, subject, detail, source_ip)

    def record_in(  # noqa: PLR0917 (as `record`)
        self,
        session: Session,
        actor: Principal | str,
        action: str,
        subject: str | None,
        detail: Mapping[str, object],
        source_ip: str | None = None,
    ) -> AuditEntry:
        """Append one entry inside the caller's tenant transaction (see `record_entry`)."""
        return record_entry(session, self._clock.now(), actor, action, subject, detail, source_ip)

    def entries(
        self,
        principal: Principal,
        where: AuditFilter | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> Page[AuditEntry]:
        """One page of entries, oldest first; the cursor is the last entry's `seq`."""
        principal.require(Capability.AUDIT_READ)
        check_limit(limit)
        statement = filtered_entries(where or AuditFilter())
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 18:
                raise InvalidInputError("cursor", "not a cursor of this listing")
            statement = statement.where(AuditEntry.seq > int(cursor))
        with self._storage.tenant(principal.tenant_id)() as session:
            rows = list(session.scalars(statement.order_by(AuditEntry.seq).limit(limit + 1)))
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=rows, next_cursor=str(rows[-1].seq) if more and rows else None)

    def verify(self, principal: Principal) -> Verification:
        """Walk the whole chain and report the first broken link, if any."""
        principal.require(Capability.AUDIT_READ)
        return self.verify_tenant(principal.tenant_id)

    def verify_tenant(self, tenant_id: str) -> Verification:
        """See `verify`; for the operator's CLI, which acts on any tenant."""
        expected, prev = 1, GENESIS
        with self._storage.tenant(tenant_id)() as session:
            while True:
                batch = list(
                    session.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.seq >= expected)
                        .order_by(AuditEntry.seq)
                        .limit(VERIFY_BATCH)
                    )
                )
                for entry in batch:
                    broken = _check(entry, expected, prev)
                    if broken is not None:
                        return Verification(
                            ok=False,
                            entries=expected - 1,
                            first_broken_seq=broken[0],
                            problem=broken[1],
                        )
                    expected, prev = entry.seq + 1, entry.hash
                if len(batch) < VERIFY_BATCH:
                    break
            head = session.get(AuditChainHead, HEAD_ID)
        count = expected - 1
        if head is not None and (head.seq, head.hash) != (count, prev):
            if head.seq > count:
                problem = f"entries {count + 1} to {head.seq} are missing"
                return Verification(
                    ok=False, entries=count, first_broken_seq=count + 1, problem=problem
                )
            return Verification(
                ok=False,
                entries=count,
                first_broken_seq=head.seq,
                problem="the chain head was altered",
            )
        return Verification(ok=True, entries=count)


def record_entry(  # noqa: PLR0917 (as `AuditTrail.record`)
    session: Session,
    now: dt.datetime,
    actor: Principal | str,
    action: str,
    subject: str | None,
    detail: Mapping[str, object],
    source_ip: str | None = None,
) -> AuditEntry:
    """Append one entry inside the caller's tenant transaction.

    The entry then commits or rolls back with the change it describes. The
    chain head is locked first: concurrent writers queue behind it, so each
    appends after the entry the previous one wrote and the chain never forks.
    """
    source_ip = source_ip or request_source_ip.get()
    seq, prev_hash = _lock_head(session)
    entry = AuditEntry(
        seq=seq + 1,
        occurred_at=now,
        actor=_actor_name(actor)[:80],
        action=action[:60],
        subject=subject[:200] if subject is not None else None,
        detail=canonical_detail(detail),
        source_ip=source_ip[:45] if source_ip else None,
        prev_hash=prev_hash,
    )
    entry.hash = entry_hash(entry)
    # Prepared Core statements on the tables, not the unit of work: every
    # audited action pays for this append, and building ORM statements per
    # call cost several times the two writes.
    connection = session.connection()
    connection.execute(
        _INSERT_ENTRY,
        {
            "seq": entry.seq,
            "occurred_at": entry.occurred_at,
            "actor": entry.actor,
            "action": entry.action,
            "subject": entry.subject,
            "detail": entry.detail,
            "source_ip": entry.source_ip,
            "prev_hash": entry.prev_hash,
            "hash": entry.hash,
        },
    )
    connection.execute(_ADVANCE_HEAD, {"new_seq": entry.seq, "new_hash": entry.hash})
    return entry


def _lock_head(session: Session) -> tuple[int, str]:
    """The chain head's (seq, hash), locked until the transaction ends."""
    row = session.connection().execute(_READ_HEAD).first()
    if row is None:
        # The head row comes with the migration; a database restored without
        # it gets one here (idempotent when two writers race to add it).
        session.execute(
            insert_for(session)(AuditChainHead)
            .values(id=HEAD_ID, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["id"])
        )
        row = session.connection().execute(_READ_HEAD).one()
    return int(row[0]), str(row[1])


def _check(entry: AuditEntry, expected: int, prev: str) -> tuple[int, str] | None:
    if entry.seq != expected:
        return expected, f"entry {expected} is missing"
    if entry.prev_hash != prev:
        return entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}"
    if entry_hash(entry) != entry.hash:
        return entry.seq, f"entry {entry.seq} was altered"
    return None


def filtered_entries(where: AuditFilter) -> Select[AuditEntry]:
    where = where.checked()
    statement = select(AuditEntry)
    if where.actor is not None:
        statement = statement.where(AuditEntry.actor == where.actor)
    if where.action is not None:
        statement = statement.where(AuditEntry.action == where.action)
    if where.since is not None:
        statement = statement.where(AuditEntry.occurred_at >= where.since)
    if where.until is not None:
        statement = statement.where(AuditEntry.occurred_at < where.until)
    return statement
