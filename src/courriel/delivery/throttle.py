"""Lane throttles shared by every worker process through the spool database.

Each lane (MX host set) has a profile: at most ``messages_per_minute`` and
``messages_per_hour``, at most ``max_connections`` open at once. Limits must
hold across processes, so their state lives in the spool database:

- Rate: the generic cell rate algorithm. A lane's messages are spaced by
  ``interval = max(60 / per_minute, 3600 / per_hour) / factor`` seconds; a
  worker reserves a run of consecutive slots in one short transaction by
  moving the lane's ``next_slot_at`` forward, then sends each message no
  earlier than its slot. Whatever the number of processes, no window of
  ``w`` seconds holds more than ``1 + w / interval`` slots, so neither limit
  is ever exceeded, and messages arrive evenly rather than in bursts. A
  worker reserves at most ``horizon`` seconds ahead, so slots a worker that
  dies never uses cost the lane only that much.
- Adaptation: a throttling reply (421, 4.7.x) multiplies ``factor`` by the
  slowdown and pauses the lane; the factor then recovers linearly with time.
- Connections: numbered slots leased per connection (``FOR UPDATE SKIP
  LOCKED`` on PostgreSQL, the SQLite write lock otherwise); a crashed
  worker's slots come back when their leases end.

Workers keep the slots they reserved in memory: that cache is the only
in-process state, and it never lets a worker exceed the shared limits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from courriel.config.profiles import ThrottleProfile
from courriel.core.db import insert_for, transaction
from courriel.delivery.models import SpoolLane, SpoolLaneConnection

MIN_FACTOR = 0.05


@dataclass(frozen=True)
class Adaptation:
    """How a lane reacts to throttling replies (from the settings)."""

    pause: dt.timedelta
    slowdown: float
    recovery_per_minute: float


@dataclass(frozen=True)
class Grant:
    """Slots reserved on a lane: ``count`` messages, the first at ``first``.

    With ``count == 0`` nothing may be sent before ``first``.
    """

    count: int
    first: dt.datetime
    interval: float

    def slot(self, index: int) -> dt.datetime:
        """When the ``index``-th reserved message may be sent."""
        return self.first + dt.timedelta(seconds=self.interval * index)


class LaneThrottles:
    """The shared rate and connection limits of lanes (see the module docstring)."""

    def __init__(self, sessions: sessionmaker[Session], adaptation: Adaptation) -> None:
        self._sessions = sessions
        self._adaptation = adaptation

    def reserve(  # noqa: PLR0917 (the lane, its profile and the request)
        self,
        lane: str,
        provider: str,
        profile: ThrottleProfile,
        want: int,
        now: dt.datetime,
        horizon: dt.timedelta,
    ) -> Grant:
        """Reserve up to ``want`` consecutive sending slots no further than ``horizon`` ahead."""
        with transaction(self._sessions) as session:
            row = self._lane(session, lane, provider, now)
            factor = self._factor(row, now)
            interval = max(60 / profile.messages_per_minute, 3600 / profile.messages_per_hour)
            interval /= factor
            start = max(row.next_slot_at, now)
            if row.paused_until is not None and row.paused_until > start:
                start = row.paused_until
            room = (now + horizon - start).total_seconds()
            if room < 0 or want <= 0:
                return Grant(0, start, interval)
            count = min(want, int(room / interval) + 1)
            row.next_slot_at = start + dt.timedelta(seconds=interval * count)
            return Grant(count, start, interval)

    def throttled(self, lane: str, provider: str, now: dt.datetime) -> dt.datetime:
        """A throttling reply: slow the lane down and pause it; return when it resumes."""
        a = self._adaptation
        with transaction(self._sessions) as session:
            row = self._lane(session, lane, provider, now)
            # Connections in flight at once all meet the same refusal: the
            # lane slows down once per pause, not once per connection.
            if row.paused_until is None or row.paused_until <= now:
                row.factor = max(MIN_FACTOR, self._factor(row, now) * a.slowdown)
                row.factor_at = now
                row.paused_until = now + a.pause
            row.throttled_count += 1
            return row.paused_until

    def state(self, lane: str) -> SpoolLane | None:
        """The lane's shared state (for operators and tests)."""
        with self._sessions() as session:
            return session.get(SpoolLane, lane)

    def acquire_connection(
        self, lane: str, limit: int, owner: str, now: dt.datetime, lease: dt.timedelta
    ) -> int | None:
        """Lease one of the lane's ``limit`` connection slots; None when all are taken."""
        with transaction(self._sessions) as session:
            insert = insert_for(session)
            session.execute(
                insert(SpoolLaneConnection).on_conflict_do_nothing(),
                [
                    {"lane": lane, "slot": n, "owner": None, "lease_until": None}
                    for n in range(limit)
                ],
            )
            free = (
                select(SpoolLaneConnection)
                .where(
                    SpoolLaneConnection.lane == lane,
                    SpoolLaneConnection.slot < limit,
                    (SpoolLaneConnection.owner.is_(None)) | (SpoolLaneConnection.lease_until < now),
                )
                .order_by(SpoolLaneConnection.slot)
                .limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                free = free.with_for_update(skip_locked=True)
            row = session.scalars(free).first()
            if row is None:
                return None
            row.owner = owner
            row.lease_until = now + lease
            return row.slot

    def renew_connection(
        self, lane: str, slot: int, owner: str, now: dt.datetime, lease: dt.timedelta
    ) -> None:
        """Extend a held connection slot's lease."""
        with transaction(self._sessions) as session:
            session.execute(
                update(SpoolLaneConnection)
                .where(
                    SpoolLaneConnection.lane == lane,
                    SpoolLaneConnection.slot == slot,
                    SpoolLaneConnection.owner == owner,
                )
                .values(lease_until=now + lease)
            )

    def release_connection(self, lane: str, slot: int, owner: str) -> None:
        """Give a connection slot back."""
        with transaction(self._sessions) as session:
            session.execute(
                update(SpoolLaneConnection)
                .where(
                    SpoolLaneConnection.lane == lane,
                    SpoolLaneConnection.slot == slot,
                    SpoolLaneConnection.owner == owner,
                )
                .values(owner=None, lease_until=None)
            )

    def renew_all(self, owner: str, now: dt.datetime, lease: dt.timedelta) -> None:
        """Extend the lease of every connection slot ``owner`` holds (heartbeat)."""
        with transaction(self._sessions) as session:
            session.execute(
                update(SpoolLaneConnection)
                .where(SpoolLaneConnection.owner == owner)
                .values(lease_until=now + lease)
            )

    def release_all(self, owner: str) -> None:
        """Give back every connection slot ``owner`` holds (shutdown)."""
        with transaction(self._sessions) as session:
            session.execute(
                update(SpoolLaneConnection)
                .where(SpoolLaneConnection.owner == owner)
                .values(owner=None, lease_until=None)
            )

    def _lane(self, session: Session, lane: str, provider: str, now: dt.datetime) -> SpoolLane:
        insert = insert_for(session)
        session.execute(
            insert(SpoolLane).on_conflict_do_nothing(),
            [
                {
                    "lane": lane,
                    "provider": provider,
                    "next_slot_at": now,
                    "factor": 1.0,
                    "factor_at": now,
                    "paused_until": None,
                    "throttled_count": 0,
                }
            ],
        )
        # Row lock on PostgreSQL: concurrent reservations on one lane queue here.
        return session.scalars(
            select(SpoolLane).where(SpoolLane.lane == lane).with_for_update()
        ).one()

    def _factor(self, row: SpoolLane, now: dt.datetime) -> float:
        minutes = max(0.0, (now - row.factor_at).total_seconds() / 60)
        return min(1.0, row.factor + self._adaptation.recovery_per_minute * minutes)
