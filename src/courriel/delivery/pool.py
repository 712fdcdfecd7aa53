"""Idle SMTP sessions kept per lane between claimed batches.

A worker claims a batch, delivers it lane by lane, and claims the next.
Closing every connection at the end of a batch would cost, per connection
and batch, a TCP handshake, a greeting, EHLO (STARTTLS), QUIT, and two
spool transactions for the lane's connection slot; when the queue is fed
continuously the batches are small and that dominated the worker's and the
receiving side's work. So a session that can carry more mail goes back to
the pool with its connection slot still held, and the lane's next batch
takes it. Nothing else changes: the slot still counts against the lane's
``max_connections``, the session's message count against
``messages_per_connection``.

An idle session is closed (and its slot released) after ``idle_seconds``,
well before a server's own idle timeout (RFC 5321 §4.5.3.2.7: at least five
minutes), so a pooled connection is not one the server is about to drop.
A slot's lease is renewed before it could run out while the session is in
use, so no other worker can take a slot whose connection is still open.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from courriel.delivery.smtp import SmtpSession
from courriel.delivery.throttle import LaneThrottles


@dataclass
class PooledSession:
    """A session (None before the first is opened), the lane connection slot it holds,
    and the messages sent on it so far."""

    session: SmtpSession | None
    slot: int
    sent: int
    slot_until: dt.datetime
    idle_since: dt.datetime


class SessionPool:
    """One worker's idle sessions, by lane. Only that worker's event loop uses it."""

    def __init__(
        self, throttles: LaneThrottles, owner: str, lease: dt.timedelta, idle_seconds: float
    ) -> None:
        self._throttles = throttles
        self._owner = owner
        self._lease = lease
        self._idle = dt.timedelta(seconds=idle_seconds)
        self._idle_sessions: dict[str, list[PooledSession]] = defaultdict(list)

    async def take(self, lane: str, now: dt.datetime) -> PooledSession | None:
        """An idle session of ``lane`` still usable, its slot's lease renewed if due."""
        sessions = self._idle_sessions[lane]
        while sessions:
            pooled = sessions.pop()
            if not _usable(pooled) or now - pooled.idle_since > self._idle:
                await self._close(lane, pooled)
                continue
            if pooled.slot_until - now < self._lease / 2:
                await asyncio.to_thread(
                    self._throttles.renew_connection,
                    lane,
                    pooled.slot,
                    self._owner,
                    now,
                    self._lease,
                )
                pooled.slot_until = now + self._lease
            return pooled
        return None

    async def put(self, lane: str, pooled: PooledSession, now: dt.datetime) -> None:
        """Keep ``pooled`` for the lane's next batch, or close it if it cannot serve one."""
        if not _usable(pooled) or pooled.slot_until - now < self._idle:
            await self._close(lane, pooled)
            return
        pooled.idle_since = now
        self._idle_sessions[lane].append(pooled)

    async def expire(self, now: dt.datetime) -> None:
        """Close the sessions idle for longer than ``idle_seconds``."""
        for lane, sessions in list(self._idle_sessions.items()):
            keep = [p for p in sessions if now - p.idle_since <= self._idle]
            stale = [p for p in sessions if now - p.idle_since > self._idle]
            self._idle_sessions[lane] = keep
            for pooled in stale:
                await self._close(lane, pooled)

    async def close_all(self) -> None:
        """Close every idle session and give its slot back (shutdown)."""
        sessions, self._idle_sessions = self._idle_sessions, defaultdict(list)
        for lane, pooled_sessions in sessions.items():
            for pooled in pooled_sessions:
                await self._close(lane, pooled)

    async def _close(self, lane: str, pooled: PooledSession) -> None:
        if pooled.session is not None:
            await pooled.session.close()
        await asyncio.to_thread(self._throttles.release_connection, lane, pooled.slot, self._owner)


def _usable(pooled: PooledSession) -> bool:
    return pooled.session is not None and pooled.session.usable
