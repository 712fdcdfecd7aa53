"""The delivery worker: claims spooled messages and delivers them over SMTP.

The recipe for each claimed batch, per destination domain:
`_resolve` the mail exchangers (a DNS failure decides for the whole group),
`_open` a session to the first host that answers, `send` each message on
that one connection, `_settle` each reply (final outcome or back-off) in
the spool before the next message is tried, then report final outcomes to
the tenants. Per-provider lanes, throttles and adaptive back-off deepen this
with issue 5; the recipe keeps its shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections import defaultdict
from collections.abc import Sequence

from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.delivery.mx import MxError, MxResolver, MxResult
from courriel.delivery.replies import Classification, Outcome, classify, classify_dns_error
from courriel.delivery.reporting import FinalOutcome, OutcomeReporter
from courriel.delivery.smtp import SmtpSession, SmtpSessionError
from courriel.delivery.spool import ClaimedMessage, Spool

log = logging.getLogger(__name__)


class DeliveryWorker:
    """One worker process's delivery loop."""

    def __init__(
        self,
        *,
        spool: Spool,
        reporter: OutcomeReporter,
        resolver: MxResolver,
        settings: Settings,
        clock: Clock,
        owner: str,
    ) -> None:
        self._spool = spool
        self._reporter = reporter
        self._resolver = resolver
        self._settings = settings
        self._clock = clock
        self._owner = owner
        self._connections = asyncio.Semaphore(settings.lane_max_connections * 4)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then give back what this worker holds."""
        try:
            while not stop.is_set():
                handled = await self.run_once()
                if handled == 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._settings.worker_poll_seconds)
        finally:
            released = await asyncio.to_thread(self._spool.release, self._owner)
            if released:
                log.info("released %d messages on shutdown", released)

    async def run_once(self) -> int:
        """Claim one batch, deliver it, report outcomes; return how many were claimed."""
        claimed = await asyncio.to_thread(
            self._spool.claim,
            self._owner,
            self._settings.worker_batch_size,
            self._clock.now(),
            dt.timedelta(seconds=self._settings.worker_lease_seconds),
        )
        groups: dict[str, list[ClaimedMessage]] = defaultdict(list)
        for message in claimed:
            groups[message.domain].append(message)
        await asyncio.gather(*(self._deliver_domain(d, ms) for d, ms in groups.items()))
        await asyncio.to_thread(self._reporter.report_finished)
        return len(claimed)

    async def _deliver_domain(self, domain: str, messages: Sequence[ClaimedMessage]) -> None:
        try:
            mx = await self._resolver.resolve(domain)
        except MxError as exc:
            verdict = classify_dns_error(exc.kind)
            for message in messages:
                await self._settle(message, verdict, None, str(exc), None)
            return
        async with self._connections:
            await self._deliver_over_smtp(mx, messages)

    async def _open(self, mx: MxResult) -> SmtpSession | SmtpSessionError:
        # RFC 5321 §5.1: try the exchangers in preference order.
        failure: SmtpSessionError | None = None
        for host in mx.hosts:
            address = host.address or host.name
            port = host.port if host.address else self._settings.smtp_port
            try:
                return await SmtpSession.open(
                    address, port, helo_name=self._settings.helo_name, tls=self._settings.smtp_tls
                )
            except SmtpSessionError as exc:
                failure = exc
        assert failure is not None
        return failure

    async def _deliver_over_smtp(self, mx: MxResult, messages: Sequence[ClaimedMessage]) -> None:
        lane = mx.lane_key
        session: SmtpSession | None = None
        try:
            for message in messages:
                if session is None or not session.usable:
                    opened = await self._open(mx)
                    if isinstance(opened, SmtpSessionError):
                        verdict = classify(opened.reply.code, opened.reply.text)
                        await self._settle(
                            message, verdict, opened.reply.code, opened.reply.text, lane
                        )
                        continue
                    session = opened
                try:
                    reply = await session.send(message.mail_from, message.rcpt_to, message.body)
                except SmtpSessionError as exc:
                    reply = exc.reply
                verdict = classify(reply.code, reply.text)
                await self._settle(message, verdict, reply.code, reply.text, lane)
        finally:
            if session is not None:
                await session.close()

    async def _settle(
        self,
        message: ClaimedMessage,
        verdict: Classification,
        code: int | None,
        reply: str,
        lane: str | None,
    ) -> None:
        """Record one attempt's result in the spool before anything else is tried."""
        final = _final_outcome(verdict, code)
        if final is None:
            delay = self._backoff(message.attempts)
            now = self._clock.now()
            if now + delay > message.deadline_at:
                # RFC 5321 §4.5.4.1: give up once the queue lifetime is over.
                final = FinalOutcome.EXPIRED
            else:
                await asyncio.to_thread(
                    functools.partial(
                        self._spool.defer,
                        message.id,
                        owner=self._owner,
                        next_attempt_at=now + delay,
                        code=code,
                        reply=reply,
                        lane=lane,
                    )
                )
                await asyncio.to_thread(
                    self._reporter.report_deferred, message, code, reply, lane, now
                )
                return
        await asyncio.to_thread(
            functools.partial(
                self._spool.finish,
                message.id,
                owner=self._owner,
                outcome=final.value,
                code=code,
                reply=reply,
                lane=lane,
            )
        )

    def _backoff(self, attempts: int) -> dt.timedelta:
        schedule = self._settings.retry_schedule_minutes
        return dt.timedelta(minutes=schedule[min(attempts, len(schedule) - 1)])


def _final_outcome(verdict: Classification, code: int | None) -> FinalOutcome | None:
    """The final outcome of an attempt, or None when it should be retried."""
    if verdict.outcome is Outcome.DELIVERED:
        return FinalOutcome.DELIVERED
    if verdict.outcome is Outcome.BOUNCED:
        return FinalOutcome.HARD_BOUNCE if verdict.hard else FinalOutcome.SOFT_BOUNCE
    if verdict.outcome is Outcome.BLOCKED and (code is None or code >= 500):
        return FinalOutcome.BLOCKED
    return None
