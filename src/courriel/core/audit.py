"""The tenant's audit trail: who did what, when, from where, as a hash chain.

Entries are appended, never changed. Each stores a hash of its canonical
content plus the previous entry's hash and a gap-free sequence number, so
`AuditTrail.verify` finds an edited entry (its hash no longer matches), a
deleted one (a gap, or a successor pointing at a hash that is gone) and a
deleted tail (the chain head names an entry that is gone).

The hash is an HMAC-SHA256 under a per-tenant key derived from the
installation secret (core.secrets), which the tenant database never holds:
someone who can write to that database cannot recompute a valid chain.
`AuditTrail.anchor` copies the chain head to the control database (at tenant
creation and periodically), with the entry from which the chain is keyed;
entries written before an installation keyed its chains stay plain SHA-256
and keep verifying, and the anchor says where the switch happened.

Nothing secret enters the trail: detail keys that name a secret are
redacted, and so is any value shaped like an API key, whoever the caller is.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
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
from courriel.core.models import AuditAnchor, AuditChainHead, AuditEntry
from courriel.core.pagination import Page, check_limit
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage, tenant_audit_key

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


def entry_hash(entry: AuditEntry, key: bytes | None = None) -> str:
    """HMAC-SHA256 under `key` (plain SHA-256 without one) over the entry's
    canonical content, its predecessor's hash included."""
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
    if key is not None:
        return hmac.new(key, content.encode("utf-8"), hashlib.sha256).hexdigest()
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def anchor_mac(key: bytes, tenant_id: str, keyed_from: int, seq: int, hash_: str) -> str:
    """The HMAC that makes an anchor row unforgeable too."""
    content = f"{tenant_id}:{keyed_from}:{seq}:{hash_}".encode()
    return hmac.new(key, content, hashlib.sha256).hexdigest()


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
        key = tenant_audit_key(self._storage.audit_key, tenant_id)
        with self._storage.control() as control:
            anchor = control.get(AuditAnchor, tenant_id)
        if anchor is not None and key is not None:
            expected_mac = anchor_mac(key, tenant_id, anchor.keyed_from, anchor.seq, anchor.hash)
            if not hmac.compare_digest(expected_mac, anchor.mac):
                return Verification(
                    ok=False, entries=0, first_broken_seq=1, problem="the anchor was altered"
                )
        keyed_from = anchor.keyed_from if anchor is not None else None
        walk = _Walk(key, keyed_from, anchor)
        with self._storage.tenant(tenant_id)() as session:
            while True:
                batch = list(
                    session.scalars(
                        select(AuditEntry)
                        .where(AuditEntry.seq >= walk.expected)
                        .order_by(AuditEntry.seq)
                        .limit(VERIFY_BATCH)
                    )
                )
                for entry in batch:
                    broken = walk.step(entry)
                    if broken is not None:
                        return Verification(
                            ok=False,
                            entries=walk.expected - 1,
                            first_broken_seq=broken[0],
                            problem=broken[1],
                        )
                if len(batch) < VERIFY_BATCH:
                    break
            head = session.get(AuditChainHead, HEAD_ID)
        count, prev = walk.expected - 1, walk.prev
        if anchor is not None and count < anchor.seq:
            problem = f"entries {count + 1} to {anchor.seq} are missing (anchored)"
            return Verification(
                ok=False, entries=count, first_broken_seq=count + 1, problem=problem
            )
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

    def anchor(self, tenant_id: str) -> AuditAnchor | None:
        """Copy the tenant's chain head to the control database (None: no key configured).

        The first anchor of a tenant also fixes `keyed_from`: the first entry
        whose hash is an HMAC under the tenant's key (the head's successor
        when no entry is keyed yet), so the switch point can never move later.
        """
        key = tenant_audit_key(self._storage.audit_key, tenant_id)
        if key is None:
            return None
        with self._storage.tenant(tenant_id)() as session:
            head = session.get(AuditChainHead, HEAD_ID)
            seq, hash_ = (head.seq, head.hash) if head is not None else (0, GENESIS)
            with self._storage.control() as control:
                existing = control.get(AuditAnchor, tenant_id)
            keyed_from = (
                existing.keyed_from if existing is not None else _first_keyed(session, key, seq)
            )
        with transaction(self._storage.control) as control:
            row = control.get(AuditAnchor, tenant_id)
            if row is None:
                row = AuditAnchor(tenant_id=tenant_id, keyed_from=keyed_from)
                control.add(row)
            row.seq, row.hash, row.anchored_at = seq, hash_, self._clock.now()
            row.mac = anchor_mac(key, tenant_id, row.keyed_from, seq, hash_)
        return row

    def anchor_all(self, tenant_ids: list[str]) -> int:
        """`anchor` each tenant; how many were anchored."""
        return sum(self.anchor(tenant_id) is not None for tenant_id in tenant_ids)


class _Walk:
    """The state of a verification walk: which entry comes next and what it must be."""

    def __init__(
        self, key: bytes | None, keyed_from: int | None, anchor: AuditAnchor | None
    ) -> None:
        self.key = key
        self.keyed_from = keyed_from
        self.anchor = anchor
        self.expected = 1
        self.prev = GENESIS

    def step(self, entry: AuditEntry) -> tuple[int, str] | None:
        broken = _check(entry, self.expected, self.prev, self._key_for(entry))
        if broken is not None:
            return broken
        anchored = self.anchor is not None and entry.seq == self.anchor.seq
        if anchored and not hmac.compare_digest(entry.hash, self.anchor.hash):  # type: ignore[union-attr]
            return entry.seq, f"entry {entry.seq} differs from its anchored copy"
        self.expected, self.prev = entry.seq + 1, entry.hash
        return None

    def _key_for(self, entry: AuditEntry) -> bytes | None:
        if self.key is None:
            return None
        if self.keyed_from is None:
            # Never anchored: an entry is accepted in either form, and once a
            # keyed one is seen every later one must be keyed too.
            if entry_hash(entry, self.key) == entry.hash:
                self.keyed_from = entry.seq
                return self.key
            return None
        return self.key if entry.seq >= self.keyed_from else None


def _first_keyed(session: Session, key: bytes, head_seq: int) -> int:
    """The first entry whose hash is keyed, or the head's successor when none is."""
    for entry in session.scalars(select(AuditEntry).order_by(AuditEntry.seq)):
        if entry_hash(entry, key) == entry.hash:
            return entry.seq
    return head_seq + 1


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
    if isinstance(actor, Principal) and actor.user_id and actor.actor != f"user:{actor.user_id}":
        # A key acting for a user: the trail names the person too.
        detail = {**detail, "user": f"user:{actor.user_id}"}
    if isinstance(actor, Principal) and actor.reason:
        # Staff reading personal data: the tenant sees why.
        detail = {**detail, "reason": actor.reason}
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
    key = session.info.get("audit_key")
    entry.hash = entry_hash(entry, key if isinstance(key, bytes) else None)
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


def _check(
    entry: AuditEntry, expected: int, prev: str, key: bytes | None
) -> tuple[int, str] | None:
    if entry.seq != expected:
        return expected, f"entry {expected} is missing"
    if entry.prev_hash != prev:
        return entry.seq, f"entry {entry.seq} does not follow entry {entry.seq - 1}"
    if not hmac.compare_digest(entry_hash(entry, key), entry.hash):
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
