"""States read from the databases when Prometheus scrapes (RFC-free: the text
exposition format of prometheus_client).

Queue depth per inbox provider and state, what is due now, each lane's
throttle, fan-out jobs waiting, tenants per sending-policy state and the
webhook backlog. Read at scrape time, so every engine reports the same
figures; each query is a grouped count on an indexed column or a small table.
"""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from courriel.campaigns.models import FanoutJob
from courriel.config import Settings
from courriel.config.profiles import provider_name
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.storage import Storage
from courriel.delivery.models import SpoolLane, SpoolMessage, SpoolState
from courriel.events.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookTenant
from courriel.policy.models import TenantPolicy


class StateCollector(Collector):
    """Gauges computed from the control, spool and tenant databases at each scrape."""

    def __init__(self, storage: Storage, settings: Settings, clock: Clock) -> None:
        self._storage = storage
        self._settings = settings
        self._clock = clock

    def _provider(self, lane: str | None) -> str:
        return provider_name(lane, self._settings.throttle_profiles)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """See `Collector.collect`."""
        yield from self._spool()
        yield from self._control()
        yield self._webhooks()

    def _spool(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock.now()
        depth = GaugeMetricFamily(
            "courriel_spool_messages",
            "Messages in the spool, by inbox provider and state.",
            labels=["provider", "state"],
        )
        due = GaugeMetricFamily(
            "courriel_spool_due_messages", "Queued messages whose next attempt is due now."
        )
        factor = GaugeMetricFamily(
            "courriel_lane_rate_factor",
            "Each lane's sending rate as a share of its profile (1 = full speed), by provider.",
            labels=["provider", "lane"],
        )
        paused = GaugeMetricFamily(
            "courriel_lane_paused",
            "1 while a lane is paused by a throttling reply.",
            labels=["provider", "lane"],
        )
        with transaction(self._storage.spool) as session:
            counts: Tally[tuple[str, str]] = Tally()
            rows = session.execute(
                select(SpoolMessage.lane, SpoolMessage.state, func.count()).group_by(
                    SpoolMessage.lane, SpoolMessage.state
                )
            )
            for lane, state, n in rows:
                counts[(self._provider(lane), str(state))] += n
            due_now = session.scalar(
                select(func.count())
                .select_from(SpoolMessage)
                .where(SpoolMessage.state == SpoolState.QUEUED, SpoolMessage.next_attempt_at <= now)
            )
            lanes = session.execute(
                select(SpoolLane.lane, SpoolLane.factor, SpoolLane.paused_until)
            ).all()
        for (provider, state_name), n in sorted(counts.items()):
            depth.add_metric([provider, state_name], n)
        due.add_metric([], due_now or 0)
        for lane, rate, until in lanes:
            provider = self._provider(lane)
            factor.add_metric([provider, lane], rate)
            paused.add_metric([provider, lane], 1.0 if until is not None and until > now else 0.0)
        yield from (depth, due, factor, paused)

    def _control(self) -> Iterator[GaugeMetricFamily]:
        jobs = GaugeMetricFamily(
            "courriel_fanout_jobs", "Campaigns waiting for or being fanned out."
        )
        policy = GaugeMetricFamily(
            "courriel_policy_tenants",
            "Tenants in each sending-policy state (others: ok).",
            labels=["state"],
        )
        with self._storage.control() as session:
            jobs.add_metric([], session.scalar(select(func.count()).select_from(FanoutJob)) or 0)
            for state, n in session.execute(
                select(TenantPolicy.state, func.count()).group_by(TenantPolicy.state)
            ):
                policy.add_metric([str(state)], n)
        yield from (jobs, policy)

    def _webhooks(self) -> GaugeMetricFamily:
        backlog = GaugeMetricFamily(
            "courriel_webhook_backlog", "Webhook deliveries not yet accepted by their receiver."
        )
        with self._storage.control() as session:
            tenants = list(session.scalars(select(WebhookTenant.tenant_id)))
        total = 0
        for tenant_id in tenants:
            try:
                factory = self._storage.tenant(tenant_id)
            except NotFoundError:
                continue
            with factory() as session:
                total += (
                    session.scalar(
                        select(func.count())
                        .select_from(WebhookDelivery)
                        .where(WebhookDelivery.status == DeliveryStatus.PENDING)
                    )
                    or 0
                )
        backlog.add_metric([], total)
        return backlog
