"""One lane's share of a claimed batch: connections, pacing, sending, settling.

The recipe for a lane: take the lane's idle sessions from the worker's pool
(`pool.py`) or reserve connection slots (shared limit), on each connection
`_next` message no earlier than its reserved slot (shared rate), `_open` a
session through the connector (`smtp.Connector`) or reuse one (at most
``messages_per_connection`` each),
`send`, `_verdict`, and settle the result (group commit) before the next
message is tried on that connection. What the lane cannot send now (paused
by a throttling reply, no free connection, its time slice used up, the
worker stopping) goes back to the queue unattempted, due when the lane can
take it; a session that can carry more goes back to the pool.

Mail of an IP pool (`sources.py`) leaves from one of its addresses: the
lane's shared state (rate, connections, idle sessions) is then that
address's (`throttle_key`), since a provider judges each address on its
own, and the pool's warm-up plan (`warmup.py`) caps what goes out today:
over the cap, the rest waits for the next day, unattempted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

from courriel.config import Settings
from courriel.config.profiles import profile_for_lane
from courriel.core.clock import Clock
from courriel.delivery.mx import MxResult
from courriel.delivery.pool import PooledSession, SessionPool
from courriel.delivery.replies import (
    Classification,
    Outcome,
    classify,
    classify_connection_error,
    parse_enhanced,
)
from courriel.delivery.reporting import OutcomeReporter
from courriel.delivery.retry import settlement_for
from courriel.delivery.settle import SettleBatcher
from courriel.delivery.smtp import Connector, SmtpReply, SmtpSession, SmtpSessionError
from courriel.delivery.sources import SourceAddress, throttle_key
from courriel.delivery.spool import ClaimedMessage, Settlement
from courriel.delivery.throttle import Grant, LaneThrottles
from courriel.delivery.warmup import WarmupPlans, pushback

log = logging.getLogger(__name__)

# How far ahead a lane reserves sending slots in the shared state, and how
# long one batch may keep a lane busy before the rest goes back to the queue
# (the worker's heartbeat renews the message leases meanwhile).
RESERVE_AHEAD = dt.timedelta(seconds=1)
LANE_SLICE = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class LaneContext:
    """What every lane run of one worker shares."""

    settings: Settings
    clock: Clock
    owner: str
    throttles: LaneThrottles
    settler: SettleBatcher
    reporter: OutcomeReporter
    stop: asyncio.Event
    connector: Connector
    pool: SessionPool | None = None
    # Connection slots above the lane's limit that this run may use: the
    # priority lane has one of its own on every lane, so a password reset
    # does not wait for a campaign holding all the others.
    reserved_slots: int = 0
    # The warm-up plans, when any exists (None: nothing is capped).
    warmup: WarmupPlans | None = None


class _Pacer:
    """Hands out the lane's reserved slots, one message at a time, across connections."""

    def __init__(self, run: LaneRun) -> None:
        self._run = run
        self._grant: Grant | None = None
        self._used = 0
        self._lock = asyncio.Lock()
        self.resume_at: dt.datetime | None = None
        # Messages counted against today's warm-up cap and not sent yet;
        # None once no plan applies to this run.
        self.warm: int | None = 0 if run.pool is not None and run.ctx.warmup else None

    async def next(self) -> bool:
        """Wait for this lane's next sending slot; False when the lane must stop for now."""
        run = self._run
        async with self._lock:
            if run.ctx.stop.is_set() or self.resume_at is not None:
                return False
            if not await self._warm_slot():
                return False
            while True:
                if run.ctx.stop.is_set() or self.resume_at is not None:
                    self.refund()
                    return False
                if self._grant is not None and self._used < self._grant.count:
                    when = self._grant.slot(self._used)
                    self._used += 1
                    break
                grant = await asyncio.to_thread(
                    run.ctx.throttles.reserve,
                    run.key,
                    run.provider,
                    run.profile,
                    len(run.queue),
                    run.ctx.clock.now(),
                    RESERVE_AHEAD,
                )
                if grant.count:
                    self._grant, self._used = grant, 0
                    continue
                if grant.first > run.slice_end:
                    self.resume_at = grant.first
                    self.refund()
                    return False
                await self._sleep_until(grant.first - RESERVE_AHEAD)
        await self._sleep_until(when)
        return True

    async def _warm_slot(self) -> bool:
        """Take one message off today's warm-up allowance; False when the cap is reached."""
        run, warmup = self._run, self._run.ctx.warmup
        if self.warm is None or warmup is None or run.pool is None:
            return True
        if self.warm == 0:
            now = run.ctx.clock.now()
            granted = await asyncio.to_thread(
                warmup.reserve, run.pool, run.provider, len(run.queue), now
            )
            if granted is None:
                self.warm = None
                return True
            if granted == 0:
                # Today's cap is reached: the rest waits for tomorrow, untried.
                self.resume_at = warmup.next_day(now)
                log.info("pool %s reached its warm-up cap for %s", run.pool, run.provider)
                return False
            self.warm = granted
        self.warm -= 1
        return True

    def refund(self) -> None:
        """A message taken off the warm-up allowance was not sent after all."""
        if self.warm is not None:
            self.warm += 1

    def pause(self, until: dt.datetime) -> None:
        """Stop taking slots: the lane is paused until ``until``."""
        self.resume_at = until

    async def _sleep_until(self, when: dt.datetime) -> None:
        delay = (when - self._run.ctx.clock.now()).total_seconds()
        if delay > 0:
            await asyncio.sleep(delay)


class LaneRun:
    """Deliver one batch's messages for one lane."""

    def __init__(
        self,
        ctx: LaneContext,
        mx: MxResult,
        messages: Sequence[ClaimedMessage],
        source: SourceAddress | None = None,
        pool: str | None = None,
    ) -> None:
        self.ctx = ctx
        self.mx = mx
        # The lane (MX host set) names the destination in events and
        # statistics; `key` names its throttle state for this source address.
        self.lane = mx.lane_key
        self.source = source
        self.pool = pool
        self.key = throttle_key(self.lane, source)
        self._warmup_paused = False
        self.provider, self.profile = profile_for_lane(self.lane, ctx.settings.throttle_profiles)
        self.queue: deque[ClaimedMessage] = deque(messages)
        # The worker's heartbeat keeps the messages' leases meanwhile.
        self.slice_end = ctx.clock.now() + LANE_SLICE
        self._pacer = _Pacer(self)
        self._down: tuple[Classification, SmtpReply] | None = None

    async def run(self) -> None:
        """Send what the lane allows now; give the rest back to the queue."""
        connections = min(
            self.profile.max_connections, self.ctx.settings.lane_max_connections, len(self.queue)
        )
        try:
            await asyncio.gather(*(self._connection() for _ in range(connections)))
            await self._give_back()
        finally:
            await self._release_warmup()

    async def _release_warmup(self) -> None:
        """Give back what was counted against today's warm-up cap and not sent."""
        warm, warmup = self._pacer.warm, self.ctx.warmup
        if warm and warmup is not None and self.pool is not None:
            await asyncio.to_thread(
                warmup.release, self.pool, self.provider, warm, self.ctx.clock.now()
            )
            self._pacer.warm = 0

    async def _connection(self) -> None:
        ctx = self.ctx
        lease = dt.timedelta(seconds=ctx.settings.worker_lease_seconds)
        pooled = await ctx.pool.take(self.key, ctx.clock.now()) if ctx.pool else None
        if pooled is None:
            now = ctx.clock.now()
            slot = await asyncio.to_thread(
                ctx.throttles.acquire_connection,
                self.key,
                self.profile.max_connections + ctx.reserved_slots,
                ctx.owner,
                now,
                lease,
            )
            if slot is None:
                return
            pooled = PooledSession(None, slot, 0, now + lease, now)
        session, sent_here = pooled.session, pooled.sent
        try:
            while self.queue and self._down is None and await self._pacer.next():
                if not self.queue:
                    self._pacer.refund()
                    break
                message = self.queue.popleft()
                if session is None or not session.usable or sent_here >= self._per_connection:
                    if session is not None:
                        await session.close()
                    session, sent_here = None, 0
                    try:
                        session = await self._open()
                    except SmtpSessionError as exc:
                        await self._lane_down(message, exc)
                        break
                sent_here += 1
                try:
                    reply = await session.send_transfer(
                        message.mail_from, message.rcpt_to, message.transfer
                    )
                except SmtpSessionError as exc:
                    reply = exc.reply
                    verdict = classify_connection_error(exc.kind or "connection-lost")
                else:
                    verdict = classify(reply.code, reply.text)
                await self._settle(message, verdict, reply)
        finally:
            pooled.session, pooled.sent = session, sent_here
            await self._done_with(pooled)

    async def _done_with(self, pooled: PooledSession) -> None:
        """Keep the session for the lane's next batch if it can serve one, else close it."""
        ctx = self.ctx
        session = pooled.session
        if (
            ctx.pool is not None
            and session is not None
            and session.usable
            and pooled.sent < self._per_connection
            and not ctx.stop.is_set()
        ):
            await ctx.pool.put(self.key, pooled, ctx.clock.now())
            return
        if session is not None:
            await session.close()
        await asyncio.to_thread(ctx.throttles.release_connection, self.key, pooled.slot, ctx.owner)

    @property
    def _per_connection(self) -> int:
        return self.profile.messages_per_connection

    async def _open(self) -> SmtpSession:
        return await self.ctx.connector.open(self.mx, self.source)

    async def _lane_down(self, message: ClaimedMessage, exc: SmtpSessionError) -> None:
        """No session could be opened: the verdict applies to the whole lane for now."""
        reply = exc.reply
        if exc.kind is not None:
            verdict = classify_connection_error(exc.kind)
        elif reply.stage == "connect" and reply.code >= 500:
            # A refusal in the greeting is about us (our IP), not a recipient:
            # RFC 5321 §3.1 554. It blocks this lane's messages.
            enhanced = parse_enhanced(reply.code, reply.text)
            verdict = Classification(Outcome.BLOCKED, enhanced, hard=False, reason="policy")
        else:
            verdict = classify(reply.code, reply.text)
        self._down = (verdict, reply)
        await self._settle(message, verdict, reply)

    async def _settle(
        self, message: ClaimedMessage, verdict: Classification, reply: SmtpReply
    ) -> None:
        """Record one attempt's result in the spool before anything else is tried."""
        ctx = self.ctx
        now = ctx.clock.now()
        retry_at: dt.datetime | None = None
        if verdict.outcome is Outcome.THROTTLED:
            # Never final: the lane pauses, and its messages come back when it resumes.
            retry_at = await asyncio.to_thread(
                ctx.throttles.throttled, self.key, self.provider, now
            )
            self._pacer.pause(retry_at)
            log.info("lane %s throttled; paused until %s", self.key, retry_at.isoformat())
        await self._pause_warmup(verdict, now)
        settlement = settlement_for(
            message,
            verdict,
            code=reply.code or None,
            reply=reply.text,
            lane=self.lane,
            now=now,
            settings=ctx.settings,
            retry_at=retry_at,
        )
        await ctx.settler.settle(settlement)
        if settlement.outcome is None:
            ctx.reporter.report_deferred(message, settlement.code, reply.text, self.lane, now)

    async def _pause_warmup(self, verdict: Classification, now: dt.datetime) -> None:
        """A provider pushing back on the pool pauses its warm-up (once per run)."""
        reason = pushback(verdict)
        if reason is None or self.pool is None or self._warmup_paused:
            return
        warmup = self.ctx.warmup
        if warmup is None:
            return
        self._warmup_paused = True
        if await asyncio.to_thread(warmup.pause, self.pool, self.provider, reason, now):
            log.info("warm-up of pool %s towards %s paused: %s", self.pool, self.provider, reason)

    async def _give_back(self) -> None:
        """Messages not tried: the lane's verdict if it is down, else back to the queue."""
        if self._down is not None:
            verdict, reply = self._down
            while self.queue:
                await self._settle(self.queue.popleft(), verdict, reply)
            return
        resume = self._pacer.resume_at or self.ctx.clock.now()
        leftovers = [
            Settlement(
                m.id, None, resume, None, "", self.lane, attempted=False, message_id=m.message_id
            )
            for m in self.queue
        ]
        self.queue.clear()
        await self.ctx.settler.settle_many(leftovers)
