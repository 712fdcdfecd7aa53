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
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, delete, func, or_, select, update
from sqlalchemy.orm import Session, defer, sessionmaker

from courriel.core.db import UTCDateTime, insert_for, transaction
from courriel.delivery.models import SpoolMessage, SpoolState


@dataclass(frozen=True)
class NewMessage:
    """A rendered message to hand to the spool."""

    tenant_id: str
    message_id: str
    campaign_id: str | None
    contact_id: str | None
    mail_from: str
    rcpt_to: str
    body: bytes


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


@dataclass(frozen=True)
class ClaimedMessage:
    """A message a worker holds under lease (body decompressed)."""

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
    body: bytes


class Spool:
    """Operations on the spool database."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

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
                "body": zlib.compress(m.body, 6),
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

    def claim(
        self, owner: str, limit: int, now: dt.datetime, lease: dt.timedelta
    ) -> list[ClaimedMessage]:
        """Lease up to `limit` due messages to `owner`."""
        with transaction(self._sessions) as session:
            due = (
                select(SpoolMessage)
                .where(
                    or_(
                        (SpoolMessage.state == SpoolState.QUEUED)
                        & (SpoolMessage.next_attempt_at <= now),
                        (SpoolMessage.state == SpoolState.LEASED)
                        & (SpoolMessage.lease_until < now),
                    )
                )
                .order_by(SpoolMessage.next_attempt_at, SpoolMessage.id)
                .limit(limit)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            rows = list(session.scalars(due))
            for row in rows:
                row.state = SpoolState.LEASED
                row.lease_owner = owner
                row.lease_until = now + lease
            return [
                ClaimedMessage(
                    id=r.id,
                    tenant_id=r.tenant_id,
                    message_id=r.message_id,
                    campaign_id=r.campaign_id,
                    contact_id=r.contact_id,
                    mail_from=r.mail_from,
                    rcpt_to=r.rcpt_to,
                    domain=r.domain,
                    attempts=r.attempts,
                    deadline_at=r.deadline_at,
                    body=zlib.decompress(r.body),
                )
                for r in rows
            ]

    def finish(
        self,
        spool_id: int,
        *,
        owner: str,
        outcome: str,
        code: int | None,
        reply: str,
        lane: str | None,
    ) -> None:
        """Record a message's final outcome; it stays until reported to its tenant."""
        with transaction(self._sessions) as session:
            session.execute(
                update(SpoolMessage)
                .where(SpoolMessage.id == spool_id, SpoolMessage.lease_owner == owner)
                .values(
                    state=SpoolState.FINISHED,
                    outcome=outcome,
                    attempts=SpoolMessage.attempts + 1,
                    last_code=code,
                    last_reply=reply[:1000],
                    lane=lane,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def defer(
        self,
        spool_id: int,
        *,
        owner: str,
        next_attempt_at: dt.datetime,
        code: int | None,
        reply: str,
        lane: str | None,
    ) -> None:
        """Put a message back in the queue for a later attempt."""
        with transaction(self._sessions) as session:
            session.execute(
                update(SpoolMessage)
                .where(SpoolMessage.id == spool_id, SpoolMessage.lease_owner == owner)
                .values(
                    state=SpoolState.QUEUED,
                    attempts=SpoolMessage.attempts + 1,
                    next_attempt_at=next_attempt_at,
                    last_code=code,
                    last_reply=reply[:1000],
                    lane=lane,
                    lease_owner=None,
                    lease_until=None,
                )
            )

    def settle(self, owner: str, settlements: Sequence[Settlement]) -> None:
        """Store many attempts' results in one transaction (group commit).

        Each row is changed only if ``owner`` still holds its lease, so a
        worker whose lease ran out cannot overwrite another's result.
        """
        if not settlements:
            return
        table = cast("Table", SpoolMessage.__table__)
        statement = (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.lease_owner == owner)
            .values(
                state=bindparam("b_state"),
                outcome=bindparam("b_outcome"),
                attempts=table.c.attempts + bindparam("b_increment"),
                next_attempt_at=func.coalesce(
                    bindparam("b_next", type_=UTCDateTime()), table.c.next_attempt_at
                ),
                last_code=bindparam("b_code"),
                last_reply=bindparam("b_reply"),
                lane=bindparam("b_lane"),
                lease_owner=None,
                lease_until=None,
            )
        )
        rows = [
            {
                "b_id": s.spool_id,
                "b_state": SpoolState.FINISHED if s.outcome else SpoolState.QUEUED,
                "b_outcome": s.outcome,
                "b_increment": 1 if s.attempted else 0,
                "b_next": s.next_attempt_at,
                "b_code": s.code,
                "b_reply": s.reply[:1000],
                "b_lane": s.lane,
            }
            for s in settlements
        ]
        with transaction(self._sessions) as session:
            session.connection().execute(statement, rows)

    def release(self, owner: str) -> int:
        """Give back every message `owner` still holds (graceful shutdown)."""
        with transaction(self._sessions) as session:
            result = session.execute(
                update(SpoolMessage)
                .where(SpoolMessage.state == SpoolState.LEASED, SpoolMessage.lease_owner == owner)
                .values(state=SpoolState.QUEUED, lease_owner=None, lease_until=None)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def finished(self, limit: int) -> list[SpoolMessage]:
        """Messages whose fate is final but not yet reported to their tenant."""
        with self._sessions() as session:
            # The bodies stay on disk: reporting needs the envelope and outcome only.
            return list(
                session.scalars(
                    select(SpoolMessage)
                    .options(defer(SpoolMessage.body))
                    .where(SpoolMessage.state == SpoolState.FINISHED)
                    .order_by(SpoolMessage.id)
                    .limit(limit)
                )
            )

    def remove(self, spool_ids: Sequence[int]) -> None:
        """A message leaves the spool once its fate is reported."""
        if spool_ids:
            with transaction(self._sessions) as session:
                session.execute(delete(SpoolMessage).where(SpoolMessage.id.in_(spool_ids)))

    def withdraw(self, tenant_id: str, campaign_id: str) -> list[str]:
        """Delete a campaign's messages no worker holds; return their message ids.

        Used when a campaign is paused or cancelled (issue 6): waiting messages
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
