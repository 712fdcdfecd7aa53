"""The spool: durable queue of rendered messages, claimed by workers under a lease.

A message is in the spool (committed) before whoever queued it is told it is
accepted. Workers claim due rows with a lease; on PostgreSQL the claim uses
``FOR UPDATE SKIP LOCKED`` so many workers share the spool without blocking
each other, on SQLite the write lock taken by ``BEGIN IMMEDIATE`` serializes
claims. A row whose lease ran out (its worker died) is claimable again, which
is why a crash can send a message in flight twice but never loses one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    Update,
    bindparam,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.selectable import TextualSelect

from courriel.core.db import UTCDateTime, insert_for, transaction
from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.delivery.sources import PoolChooser
from courriel.delivery.transfer import BodyFormat, pack, transfer_form


@dataclass(frozen=True)
class NewMessage:
    """A rendered message to hand to the spool.

    ``transfer_ready`` says that ``body`` is its own SMTP transfer form but
    for the end marker: CRLF line endings only, none starting with a dot,
    a final CRLF (`Composer.compose` guarantees it). The spool then stores
    it without scanning it again; otherwise it is dot-stuffed first.
    """

    tenant_id: str
    message_id: str
    campaign_id: str | None
    contact_id: str | None
    mail_from: str
    rcpt_to: str
    body: bytes
    transfer_ready: bool = False
    # Above 0: the priority lane (transactional mail), claimed first.
    priority: int = 0
    # "marketing" or "transactional", which may choose its IP pool; None:
    # marketing for a campaign's message, transactional for any other.
    mail_class: str | None = None

    @property
    def kind(self) -> str:
        """The mail class its IP pool is chosen by (`sources.PoolChooser`)."""
        if self.mail_class is not None:
            return self.mail_class
        return "marketing" if self.campaign_id else "transactional"


@dataclass(frozen=True)
class Settlement:
    """One attempt's result to store: ``outcome`` when final, else a retry time.

    ``attempted`` is False when the message was not tried at all (its lane
    was paused or busy): it goes back to the queue without using an attempt.
    """

    spool_id: int
    outcome: str | None
    next_attempt_at: dt.datetime | None
    code: int | None
    reply: str
    lane: str | None
    attempted: bool = True
    # When the answer came (for a final outcome, the date of its event).
    answered_at: dt.datetime | None = None
    _: KW_ONLY
    message_id: str


@dataclass(frozen=True)
class ClaimedMessage:
    """A message a worker holds under lease.

    The body stays compressed until it is sent: a claimed batch of a
    thousand messages then holds a tenth of the memory.
    """

    id: int
    tenant_id: str
    message_id: str
    campaign_id: str | None
    contact_id: str | None
    mail_from: str
    rcpt_to: str
    domain: str
    attempts: int
    deadline_at: dt.datetime
    compressed_body: bytes
    body_format: int
    # Its IP pool (`delivery.sources`); None: the installation's own address.
    pool: str | None = None

    @property
    def transfer(self) -> bytes:
        """The signed message as written after DATA (`delivery.transfer`)."""
        return transfer_form(self.body_format, self.compressed_body)


@dataclass(frozen=True)
class FinishedMessage:
    """A message whose fate is final, as the reporter needs it (no body)."""

    id: int
    tenant_id: str
    message_id: str
    campaign_id: str | None
    contact_id: str | None
    outcome: str | None
    last_code: int | None
    last_reply: str
    lane: str | None
    created_at: dt.datetime
    # When the receiving server answered (None: finished before it was kept).
    finished_at: dt.datetime | None = None


_TABLE = cast("Table", SpoolMessage.__table__)
_CLAIMED_COLUMNS = (
    _TABLE.c.id,
    _TABLE.c.tenant_id,
    _TABLE.c.message_id,
    _TABLE.c.campaign_id,
    _TABLE.c.contact_id,
    _TABLE.c.mail_from,
    _TABLE.c.rcpt_to,
    _TABLE.c.domain,
    _TABLE.c.attempts,
    _TABLE.c.deadline_at,
    _TABLE.c.body,
    _TABLE.c.body_format,
    _TABLE.c.pool,
)
_FINISHED_COLUMNS = (
    _TABLE.c.id,
    _TABLE.c.tenant_id,
    _TABLE.c.message_id,
    _TABLE.c.campaign_id,
    _TABLE.c.contact_id,
    _TABLE.c.outcome,
    _TABLE.c.last_code,
    _TABLE.c.last_reply,
    _TABLE.c.lane,
    _TABLE.c.created_at,
    _TABLE.c.finished_at,
)


def _claim_statement(*, priority_only: bool = False) -> Update:
    # One statement claims and returns the batch: no ORM object per message.
    # On PostgreSQL the inner SELECT skips rows another worker is claiming
    # (FOR UPDATE SKIP LOCKED); SQLite renders no FOR UPDATE, its write lock
    # (BEGIN IMMEDIATE) already serializes claims.
    now = bindparam("now", type_=UTCDateTime())
    due_rows = or_(
        (_TABLE.c.state == SpoolState.QUEUED.value) & (_TABLE.c.next_attempt_at <= now),
        (_TABLE.c.state == SpoolState.LEASED.value) & (_TABLE.c.lease_until < now),
    )
    order: list[ColumnElement[Any]] = [_TABLE.c.next_attempt_at, _TABLE.c.id]
    if priority_only:
        # The priority lane: a few rows found through their own index, so a
        # password reset is claimed at once however long the campaign queue is.
        due_rows = (_TABLE.c.priority > 0) & due_rows
        order.insert(0, _TABLE.c.priority.desc())
    due = (
        select(_TABLE.c.id)
        .where(due_rows)
        .order_by(*order)
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(_TABLE)
        .where(_TABLE.c.id.in_(due))
        .values(
            state=SpoolState.LEASED.value,
            lease_owner=bindparam("owner"),
            lease_until=bindparam("until", type_=UTCDateTime()),
        )
        .returning(*_CLAIMED_COLUMNS)
    )


def _settle_statement() -> Update:
    return (
        update(_TABLE)
        .where(
            _TABLE.c.id == bindparam("b_id"),
            _TABLE.c.message_id == bindparam("b_message_id"),
            _TABLE.c.lease_owner == bindparam("b_owner"),
        )
        .values(
            state=bindparam("b_state"),
            outcome=bindparam("b_outcome"),
            attempts=_TABLE.c.attempts + bindparam("b_increment"),
            next_attempt_at=func.coalesce(
                bindparam("b_next", type_=UTCDateTime()), _TABLE.c.next_attempt_at
            ),
            last_code=bindparam("b_code"),
            last_reply=bindparam("b_reply"),
            lane=bindparam("b_lane"),
            finished_at=bindparam("b_finished", type_=UTCDateTime()),
            lease_owner=None,
            lease_until=None,
        )
    )


def _claim_postgres(*, priority_only: bool) -> TextualSelect:
    # PostgreSQL: each kind of due row is read from its own index in the order
    # it is claimed, so the LIMIT stops the scan after a batch. The single
    # statement above (an OR of both kinds, then ORDER BY) made PostgreSQL
    # fetch and sort every due row for each batch: 16 ms a claim with 20,000
    # due, growing with the queue. Expired leases (a dead worker's messages)
    # come first: they fell due before anything still queued. Rows of equal
    # next_attempt_at come in index order, which is the order they were
    # written. The partial index ix_spool_messages_lease holds leased rows
    # only; the priority lane's own index finds its few rows. The ids are
    # matched as an array (`= ANY`): one primary-key probe each, where a join
    # let the planner hash the whole table.
    where = "priority > 0 AND " if priority_only else ""
    order = "priority DESC, next_attempt_at" if priority_only else "next_attempt_at"
    returning = ", ".join(column.name for column in _CLAIMED_COLUMNS)
    return (
        text(
            f"""
        UPDATE spool_messages AS s SET
            state = 'leased', lease_owner = :owner, lease_until = :until
        WHERE s.id = ANY(ARRAY(
            SELECT id FROM (
                SELECT id FROM spool_messages
                WHERE {where}state = 'leased' AND lease_until < :now
                ORDER BY lease_until LIMIT :limit FOR UPDATE SKIP LOCKED
            ) AS expired
            UNION ALL
            SELECT id FROM (
                SELECT id FROM spool_messages
                WHERE {where}state = 'queued' AND next_attempt_at <= :now
                ORDER BY {order} LIMIT :limit FOR UPDATE SKIP LOCKED
            ) AS queued
            LIMIT :limit
        ))
        RETURNING {returning}
        """  # noqa: S608 (no input: column names and two fixed conditions)
        )
        .bindparams(bindparam("now", type_=UTCDateTime()), bindparam("until", type_=UTCDateTime()))
        .columns(*_CLAIMED_COLUMNS)
    )  # typed: deadline_at comes back as an aware UTC time


# PostgreSQL: the whole batch in one statement, its columns passed as arrays
# and joined by id (unnest), instead of one UPDATE per row: a batch of 500
# settles in one round trip and one plan. `id = ANY(ids)` lets the planner
# find the rows by primary key; joined on the unnest alone, it read the
# whole table for each batch (24 ms a batch with 20,000 rows queued).
_SETTLE_POSTGRES = text(
    """
    UPDATE spool_messages AS s SET
        state = v.state,
        outcome = v.outcome,
        attempts = s.attempts + v.increment,
        next_attempt_at = COALESCE(v.next_at, s.next_attempt_at),
        last_code = v.code,
        last_reply = v.reply,
        lane = v.lane,
        finished_at = v.finished_at,
        lease_owner = NULL,
        lease_until = NULL
    FROM unnest(
        CAST(:ids AS bigint[]), CAST(:message_ids AS varchar[]), CAST(:states AS varchar[]),
        CAST(:outcomes AS varchar[]),
        CAST(:increments AS integer[]), CAST(:next_ats AS timestamp[]),
        CAST(:codes AS integer[]), CAST(:replies AS text[]), CAST(:lanes AS varchar[]),
        CAST(:finished_ats AS timestamp[])
    ) AS v(id, message_id, state, outcome, increment, next_at, code, reply, lane, finished_at)
    WHERE s.id = v.id AND s.message_id = v.message_id AND s.lease_owner = :owner
    """
)


def _as_arrays(owner: str, settlements: Sequence[Settlement]) -> dict[str, object]:
    def naive(when: dt.datetime | None) -> dt.datetime | None:
        # Stored as UTC without an offset, as UTCDateTime does.
        return None if when is None else when.astimezone(dt.UTC).replace(tzinfo=None)

    return {
        "owner": owner,
        "ids": [s.spool_id for s in settlements],
        "message_ids": [s.message_id for s in settlements],
        "states": [
            SpoolState.FINISHED.value if s.outcome else SpoolState.QUEUED.value for s in settlements
        ],
        "outcomes": [s.outcome for s in settlements],
        "increments": [1 if s.attempted else 0 for s in settlements],
        "next_ats": [naive(s.next_attempt_at) for s in settlements],
        "codes": [s.code for s in settlements],
        "replies": [s.reply[:1000] for s in settlements],
        "lanes": [s.lane for s in settlements],
        "finished_ats": [naive(s.answered_at) if s.outcome else None for s in settlements],
    }


# Built once: SQLAlchemy then finds their compiled form in its cache without
# walking a new statement tree on every call.
_CLAIM = _claim_statement()
_CLAIM_PRIORITY = _claim_statement(priority_only=True)
_CLAIM_POSTGRES = _claim_postgres(priority_only=False)
_ORDERED_SCANS = "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_seqscan = off"
_PROBED_BY_KEY = (
    "SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; "
    "SET LOCAL enable_mergejoin = off"
)
_CLAIM_PRIORITY_POSTGRES = _claim_postgres(priority_only=True)
_SETTLE = _settle_statement()
_FINISHED = (
    select(*_FINISHED_COLUMNS)
    .where(_TABLE.c.state == SpoolState.FINISHED.value)
    .order_by(_TABLE.c.id)
    .limit(bindparam("limit"))
)
# By id (the primary key finds each row) and message id: on SQLite the id of
# a deleted row is given again to the next message spooled, so an id alone
# may name a message that arrived after the report (`Spool.remove`).
_REMOVE = delete(_TABLE).where(
    _TABLE.c.id.in_(bindparam("ids", expanding=True)),
    _TABLE.c.message_id.in_(bindparam("message_ids", expanding=True)),
)
# Two ranges of the (state, next_attempt_at) index.
_BACKLOG = (
    select(func.count())
    .select_from(_TABLE)
    .where(
        or_(
            (_TABLE.c.state == SpoolState.QUEUED.value)
            & (_TABLE.c.next_attempt_at <= bindparam("now", type_=UTCDateTime())),
            _TABLE.c.state == SpoolState.LEASED.value,
        )
    )
)


class Spool:
    """Operations on the spool database."""

    def __init__(self, sessions: sessionmaker[Session], pools: PoolChooser | None = None) -> None:
        self._sessions = sessions
        self._pools = pools

    @property
    def sessions(self) -> sessionmaker[Session]:
        """The spool database's sessions (lane throttles live there too)."""
        return self._sessions

    def enqueue(
        self, messages: Sequence[NewMessage], now: dt.datetime, lifetime: dt.timedelta
    ) -> None:
        """Store messages durably; one already spooled (same tenant and id) is left as is.

        The unique key makes a repeated fan-out step (after a crash) harmless.
        """
        if not messages:
            return
        pools = self._choose_pools(messages)
        rows = [
            {
                "tenant_id": m.tenant_id,
                "message_id": m.message_id,
                "campaign_id": m.campaign_id,
                "contact_id": m.contact_id,
                "mail_from": m.mail_from,
                "rcpt_to": m.rcpt_to,
                "domain": m.rcpt_to.rpartition("@")[2].lower(),
                "state": SpoolState.QUEUED,
                "attempts": 0,
                "next_attempt_at": now,
                "deadline_at": now + lifetime,
                "last_reply": "",
                "body": pack(m.body, transfer_ready=m.transfer_ready),
                "body_format": BodyFormat.ZSTD_TRANSFER.value,
                "priority": m.priority,
                "pool": pools.get((m.tenant_id, m.campaign_id, m.kind)),
                "created_at": now,
            }
            for m in messages
        ]
        with transaction(self._sessions) as session:
            insert = insert_for(session)
            statement = insert(SpoolMessage).on_conflict_do_nothing(
                index_elements=[SpoolMessage.tenant_id, SpoolMessage.message_id]
            )
            session.execute(statement, rows)

    def _choose_pools(
        self, messages: Sequence[NewMessage]
    ) -> dict[tuple[str, str | None, str], str | None]:
        """The IP pool of each (tenant, campaign, mail class) among ``messages``."""
        if self._pools is None:
            return {}
        keys = {(m.tenant_id, m.campaign_id, m.kind) for m in messages}
        return {key: self._pools.choose(*key) for key in keys}

    def claim(
        self,
        owner: str,
        limit: int,
        now: dt.datetime,
        lease: dt.timedelta,
        *,
        priority_only: bool = False,
    ) -> list[ClaimedMessage]:
        """Lease up to `limit` due messages to `owner`: the priority lane first, then
        the oldest due; with `priority_only`, the priority lane's messages alone."""
        params = {"now": now, "limit": limit, "owner": owner, "until": now + lease}
        with transaction(self._sessions) as session:
            connection = session.connection()
            postgres = connection.dialect.name == "postgresql"
            if postgres:
                # Whatever the statistics say (a queue that just grew from
                # empty to a million rows looks empty until the next ANALYZE):
                # a bitmap scan cannot give index order, so it would fetch
                # and sort every due row to keep 500.
                connection.exec_driver_sql(_ORDERED_SCANS)
            statement = _CLAIM_PRIORITY_POSTGRES if postgres else _CLAIM_PRIORITY
            first = [ClaimedMessage(*row) for row in connection.execute(statement, params)]
            rest: list[ClaimedMessage] = []
            if not priority_only and len(first) < limit:
                params["limit"] = limit - len(first)
                statement = _CLAIM_POSTGRES if postgres else _CLAIM
                rest = [ClaimedMessage(*row) for row in connection.execute(statement, params)]
        # RETURNING gives no order; deliver in the order they fell due, the
        # priority lane's messages ahead of the rest on every connection.
        first.sort(key=lambda m: m.id)
        rest.sort(key=lambda m: m.id)
        return first + rest

    def settle(self, owner: str, settlements: Sequence[Settlement]) -> None:
        """Store many attempts' results in one transaction (group commit).

        Each row is changed only if ``owner`` still holds its lease, so a
        worker whose lease ran out cannot overwrite another's result.
        """
        if not settlements:
            return
        rows = [
            {
                "b_id": s.spool_id,
                "b_message_id": s.message_id,
                "b_owner": owner,
                "b_state": SpoolState.FINISHED.value if s.outcome else SpoolState.QUEUED.value,
                "b_outcome": s.outcome,
                "b_increment": 1 if s.attempted else 0,
                "b_next": s.next_attempt_at,
                "b_code": s.code,
                "b_reply": s.reply[:1000],
                "b_lane": s.lane,
                "b_finished": s.answered_at if s.outcome else None,
            }
            for s in settlements
        ]
        with transaction(self._sessions) as session:
            connection = session.connection()
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(_PROBED_BY_KEY)
                connection.execute(_SETTLE_POSTGRES, _as_arrays(owner, settlements))
            else:
                connection.execute(_SETTLE, rows)

    def renew(self, owner: str, now: dt.datetime, lease: dt.timedelta) -> int:
        """Extend the lease of every message `owner` holds (its worker's heartbeat).

        Only rows `owner` still holds: one whose lease ran out and that another
        worker claimed is that worker's now.
        """
        with transaction(self._sessions) as session:
            result = session.execute(
                update(SpoolMessage)
                .where(SpoolMessage.state == SpoolState.LEASED, SpoolMessage.lease_owner == owner)
                .values(lease_until=now + lease)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def release(self, owner: str) -> int:
        """Give back every message `owner` still holds (graceful shutdown)."""
        with transaction(self._sessions) as session:
            result = session.execute(
                update(SpoolMessage)
                .where(SpoolMessage.state == SpoolState.LEASED, SpoolMessage.lease_owner == owner)
                .values(state=SpoolState.QUEUED, lease_owner=None, lease_until=None)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def finished(self, limit: int) -> list[FinishedMessage]:
        """Messages whose fate is final but not yet reported to their tenant."""
        with self._sessions() as session:
            # The bodies stay on disk: reporting needs the envelope and outcome only.
            rows = session.connection().execute(_FINISHED, {"limit": limit})
            return [FinishedMessage(**row._asdict()) for row in rows]

    def remove(self, reported: Sequence[FinishedMessage]) -> None:
        """Finished messages leave the spool once their fate is reported.

        A row goes only if it is still the message reported: another reporter
        (the worker's other loop, another worker) may have removed it
        meanwhile, and SQLite gives a deleted row's id to the next message
        spooled (no AUTOINCREMENT), which must stay until it is delivered.
        """
        if reported:
            params = {
                "ids": [m.id for m in reported],
                "message_ids": [m.message_id for m in reported],
            }
            with transaction(self._sessions) as session:
                session.connection().execute(_REMOVE, params)

    def withdraw(self, tenant_id: str, campaign_id: str) -> list[str]:
        """Delete a campaign's messages no worker holds; return their message ids.

        Used when a campaign is paused or cancelled: waiting messages
        must not be sent, those in flight (leased) finish their attempt.
        """
        with transaction(self._sessions) as session:
            result = session.execute(
                delete(SpoolMessage)
                .where(
                    SpoolMessage.tenant_id == tenant_id,
                    SpoolMessage.campaign_id == campaign_id,
                    SpoolMessage.state == SpoolState.QUEUED,
                )
                .returning(SpoolMessage.message_id)
            )
            return list(result.scalars())

    def backlog(self, now: dt.datetime) -> int:
        """Messages due now or held by a worker: what delivery has still to get through.

        Messages deferred to later (greylisting, a throttled provider) are
        not counted: they must not hold back mail to everyone else.
        """
        with self._sessions() as session:
            return int(session.connection().execute(_BACKLOG, {"now": now}).scalar() or 0)

    def pending_count(self) -> int:
        """Messages not yet finished (queued or leased)."""
        with self._sessions() as session:
            return int(
                session.scalar(
                    select(func.count())
                    .select_from(SpoolMessage)
                    .where(SpoolMessage.state != SpoolState.FINISHED)
                )
                or 0
            )
