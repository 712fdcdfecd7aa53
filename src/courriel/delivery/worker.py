"""The delivery worker: claims spooled messages and delivers them lane by lane.

The recipe for each claimed batch: `_route` each destination domain (its MX
hosts, or the smart host; a DNS failure decides for the domain's messages),
group the messages by lane (the MX host set: every Google-hosted domain
shares one), run every lane at once (`lanes.LaneRun`: shared connection
and rate limits, each result committed before the next message is tried on
its connection), then report final outcomes to the tenants. Mail of an IP
pool goes in a lane of its own per source address (`sources.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.delivery.lanes import LaneContext, LaneRun
from courriel.delivery.mx import MxError, MxResolver, MxResult
from courriel.delivery.pool import SessionPool
from courriel.delivery.replies import classify_dns_error
from courriel.delivery.reporting import OutcomeReporter
from courriel.delivery.retry import settlement_for
from courriel.delivery.settle import SettleBatcher
from courriel.delivery.smtp import Connector
from courriel.delivery.sources import SourceAddress, SourceDirectory, pick, throttle_key
from courriel.delivery.spool import ClaimedMessage, Spool
from courriel.delivery.throttle import Adaptation, LaneThrottles
from courriel.delivery.tlspolicy import TransportSecurity, policy_source
from courriel.delivery.warmup import WarmupPlans

log = logging.getLogger(__name__)

# How long an idle SMTP session waits for its lane's next batch (`pool`).
POOL_IDLE_SECONDS = 2.0
# How often the priority lane looks for transactional messages while the
# main loop is busy with a batch (a password reset must not wait for it).
PRIORITY_POLL_SECONDS = 0.05


def throttles_for(spool: Spool, settings: Settings) -> LaneThrottles:
    """The shared lane throttles, configured from the settings."""
    return LaneThrottles(
        spool.sessions,
        Adaptation(
            pause=dt.timedelta(seconds=settings.throttle_backoff_seconds),
            slowdown=settings.throttle_slowdown,
            recovery_per_minute=settings.throttle_recovery_per_minute,
        ),
    )


@dataclass
class _Lane:
    """One lane's share of a batch: where to, from which address, of which pool."""

    mx: MxResult
    source: SourceAddress | None
    pool: str | None
    messages: list[ClaimedMessage]


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
        throttles: LaneThrottles | None = None,
        sources: SourceDirectory | None = None,
    ) -> None:
        self._spool = spool
        self._reporter = reporter
        self._resolver = resolver
        self._settings = settings
        self._clock = clock
        self._owner = owner
        self.throttles = throttles or throttles_for(spool, settings)
        self._sources = sources
        self.warmup = WarmupPlans(spool.sessions, settings.warmup_timezone)
        self._settler = SettleBatcher(spool, owner)
        security = (
            TransportSecurity(policy_source(resolver), settings.mx_tls_ca_file)
            if settings.transport_security
            else None
        )
        self._connector = Connector(settings, security)
        self._stop = asyncio.Event()
        self._pool = SessionPool(
            self.throttles,
            owner,
            dt.timedelta(seconds=settings.worker_lease_seconds),
            POOL_IDLE_SECONDS,
        )
        # The priority lane's own sessions: they hold its reserved slots, which
        # campaign batches must not take from a shared pool.
        self._priority_pool = SessionPool(
            self.throttles,
            owner,
            dt.timedelta(seconds=settings.worker_lease_seconds),
            POOL_IDLE_SECONDS,
        )
        self._pooling = False

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set, then give back what this worker holds.

        Graceful shutdown: once `stop` is set no new message is started;
        messages already on the wire finish and are settled, the rest of the
        batch goes back to the queue, unattempted.
        """
        self._stop = stop
        # Sessions outlive a batch only inside this loop, which closes them
        # at the end; a lone `run_once` closes its own (no pooled leftovers).
        self._pooling = True
        priority = asyncio.create_task(self._priority_lane(stop))
        try:
            while not stop.is_set():
                handled = await self.run_once()
                # Less than a full batch: the queue is drained for now. Waiting
                # lets the next batch gather, rather than claiming messages one
                # or two at a time as they are queued, which costs the claim,
                # the lane set-up and the reporting once per message.
                if handled < self._settings.worker_batch_size:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), self._settings.worker_poll_seconds)
        finally:
            # Stopping, it finishes what is on the wire; on an error, it is cut short.
            if not stop.is_set():
                priority.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await priority
            self._pooling = False
            await self._pool.close_all()
            await self._priority_pool.close_all()
            # Deferrals noted since the last batch are reported before we go.
            await asyncio.to_thread(self._reporter.report_finished)
            released = await asyncio.to_thread(self._spool.release, self._owner)
            await asyncio.to_thread(self.throttles.release_all, self._owner)
            if released:
                log.info("released %d messages on shutdown", released)

    async def _priority_lane(self, stop: asyncio.Event) -> None:
        """Deliver transactional messages as they arrive, beside the main loop's batch.

        The main loop claims the priority lane first too; this loop is for
        what is queued while it is busy with a long batch of campaign mail.
        Lane limits (connections, rate) are shared, so policy and throttles
        still apply: only the wait for the batch is skipped.
        """
        while not stop.is_set():
            claimed = await asyncio.to_thread(
                self._spool.claim,
                self._owner,
                self._settings.worker_batch_size,
                self._clock.now(),
                dt.timedelta(seconds=self._settings.worker_lease_seconds),
                priority_only=True,
            )
            if claimed:
                await self._beating(self.deliver(claimed, priority=True))
                await asyncio.to_thread(self._reporter.report_finished)
                continue
            await self._priority_pool.expire(self._clock.now())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PRIORITY_POLL_SECONDS)

    async def run_once(self) -> int:
        """Claim one batch, deliver it, report outcomes; return how many were claimed."""
        claimed = await asyncio.to_thread(
            self._spool.claim,
            self._owner,
            self._settings.worker_batch_size,
            self._clock.now(),
            dt.timedelta(seconds=self._settings.worker_lease_seconds),
        )
        if claimed:
            await self._beating(self.deliver(claimed))
        await self._pool.expire(self._clock.now())
        await asyncio.to_thread(self._reporter.report_finished)
        return len(claimed)

    async def _beating(self, delivering: Coroutine[Any, Any, None]) -> None:
        """Run `delivering` while the heartbeat renews this worker's leases."""
        heartbeat = asyncio.create_task(self._heartbeat())
        try:
            await delivering
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self) -> None:
        """Renew the leases of this worker's messages and lane slots while it delivers.

        Leases are short (`worker_lease_seconds`, 30 s by default) so that the
        work of a worker killed with kill -9 moves on quickly; a live worker,
        however slow its receivers, keeps its own by renewing them every
        `worker_heartbeat_seconds`. A failed renewal is logged and tried at the
        next beat: the settle step refuses results for leases lost meanwhile.
        """
        lease = dt.timedelta(seconds=self._settings.worker_lease_seconds)
        beat = self._settings.worker_heartbeat_seconds or lease.total_seconds() / 3
        while True:
            await asyncio.sleep(beat)
            now = self._clock.now()
            try:
                await asyncio.to_thread(self._spool.renew, self._owner, now, lease)
                await asyncio.to_thread(self.throttles.renew_all, self._owner, now, lease)
            except Exception:  # keep beating; the next one may pass
                log.warning("lease heartbeat failed; retrying at the next beat", exc_info=True)

    async def deliver(self, claimed: Sequence[ClaimedMessage], *, priority: bool = False) -> None:
        """Deliver claimed messages, every lane at once (`priority`: on its reserved slot)."""
        by_domain: dict[str, list[ClaimedMessage]] = defaultdict(list)
        for message in claimed:
            by_domain[message.domain].append(message)
        routes = await asyncio.gather(*(self._route(d, ms) for d, ms in by_domain.items()))
        sources, warm = await self._pools_of(claimed)
        lanes: dict[str, _Lane] = {}
        for route in routes:
            if route is None:
                continue
            mx, messages = route
            for message in messages:
                source = pick(sources.get(message.pool or "", ()), message.id)
                pool = message.pool if source is not None else None
                key = throttle_key(mx.lane_key, source)
                lanes.setdefault(key, _Lane(mx, source, pool, [])).messages.append(message)
        ctx = LaneContext(
            settings=self._settings,
            clock=self._clock,
            owner=self._owner,
            throttles=self.throttles,
            settler=self._settler,
            reporter=self._reporter,
            stop=self._stop,
            pool=(self._priority_pool if priority else self._pool) if self._pooling else None,
            connector=self._connector,
            reserved_slots=1 if priority else 0,
            warmup=self.warmup if warm else None,
        )
        await asyncio.gather(
            *(
                LaneRun(ctx, lane.mx, lane.messages, lane.source, lane.pool).run()
                for lane in lanes.values()
            )
        )

    async def _pools_of(
        self, claimed: Sequence[ClaimedMessage]
    ) -> tuple[dict[str, Sequence[SourceAddress]], bool]:
        """The addresses of the batch's pools, and whether any warm-up plan may apply."""
        pools = {m.pool for m in claimed if m.pool}
        if not pools or self._sources is None:
            return {}, False
        directory = self._sources

        def read() -> tuple[dict[str, Sequence[SourceAddress]], bool]:
            return {p: directory.addresses(p) for p in pools}, self.warmup.has_plans()

        return await asyncio.to_thread(read)

    async def _route(
        self, domain: str, messages: list[ClaimedMessage]
    ) -> tuple[MxResult, list[ClaimedMessage]] | None:
        """Where the domain's mail goes; None when DNS decided its messages' fate."""
        smart = self._connector.smart_route(domain)
        if smart is not None:
            return smart, messages
        try:
            return await self._resolver.resolve(domain), messages
        except MxError as exc:
            verdict = classify_dns_error(exc.kind)
            now = self._clock.now()
            settlements = [
                settlement_for(
                    message,
                    verdict,
                    code=None,
                    reply=str(exc),
                    lane=None,
                    now=now,
                    settings=self._settings,
                )
                for message in messages
            ]
            await self._settler.settle_many(settlements)
            for message, settlement in zip(messages, settlements, strict=True):
                if settlement.outcome is None:
                    self._reporter.report_deferred(message, None, str(exc), None, now)
            return None
