"""The gate each fan-out batch passes: start a due schedule, respect pause and
cancel, the campaign's rate cap, the tenant's sending-policy allowance, and
the spool's high-water mark.

`before` is read at the start of every batch and `after` at its end, so a
pause or a cancel recorded while a batch was being composed still takes its
messages back out of the spool (see `withdraw`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from courriel.campaigns.abdecide import decide_if_tested
from courriel.campaigns.lifecycle import check_transition
from courriel.campaigns.models import Campaign, CampaignRecipient, CampaignStatus, FanoutJob
from courriel.campaigns.plan import CampaignPlan
from courriel.campaigns.ports import SendingAllowance
from courriel.campaigns.withdraw import withdraw_unsent
from courriel.config import Settings
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.storage import Storage
from courriel.delivery.spool import Spool
from courriel.events.models import Event, EventType

HOUR = dt.timedelta(hours=1)
# How long a batch stopped by a suspension waits before looking again.
SUSPENDED_RECHECK = dt.timedelta(minutes=5)
POLICY_RECHECK = dt.timedelta(minutes=5)
# A full spool drains in seconds; composing resumes as soon as it has.
SPOOL_RECHECK = dt.timedelta(milliseconds=200)
# A paused campaign's job sleeps this long, unless a resume wakes it first.
PAUSED_PARK = dt.timedelta(days=1)


@dataclass(frozen=True)
class Gate:
    """What the next batch may do: nothing ever again (`done`), wait, or up to `limit`."""

    done: bool = False
    limit: int = 0
    wait_until: dt.datetime | None = None
    reason: str = ""


class BatchGate:
    """Decides, before each batch, whether and how much a campaign may send."""

    def __init__(
        self,
        storage: Storage,
        spool: Spool,
        settings: Settings,
        clock: Clock,
        allowance: SendingAllowance,
    ) -> None:
        self._allowance = allowance
        self._storage = storage
        self._spool = spool
        self._settings = settings
        self._clock = clock

    def before(self, tenant_id: str, campaign_id: str, limit: int | None = None) -> Gate:
        """The gate for the next batch of a campaign."""
        now = self._clock.now()
        with transaction(self._storage.tenant(tenant_id)) as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                return Gate(done=True, reason="no such campaign")
            if campaign.status is CampaignStatus.SCHEDULED:
                # The end of an A/B test's wait: the winner becomes the snapshot.
                decide_if_tested(session, campaign, now)
                # The job ran at its time: the schedule is due, sending starts.
                check_transition(campaign.status, CampaignStatus.SENDING)
                campaign.status = CampaignStatus.SENDING
                campaign.started_at = now
            if campaign.status is CampaignStatus.PAUSED:
                # The job is parked rather than dropped, so a resume racing
                # with this batch can never leave a sending campaign jobless.
                return Gate(wait_until=now + PAUSED_PARK, reason="paused")
            if campaign.status is not CampaignStatus.SENDING:
                return Gate(done=True, reason=campaign.status.value)
            size = min(limit or self._settings.fanout_batch_size, self._settings.fanout_batch_size)
            return self._allowed(session, tenant_id, campaign_id, size, now)

    def _allowed(
        self, session: Session, tenant_id: str, campaign_id: str, size: int, now: dt.datetime
    ) -> Gate:
        # The batch shrinks to what the campaign's rate cap and the tenant's
        # policy limit still allow this hour; nothing allowed: wait.
        high_water = self._settings.spool_high_water
        if high_water is not None and self._spool.backlog(now) >= high_water:
            # Composing far ahead of delivery only fills the spool's disk and
            # takes the CPU the workers need to empty it.
            return Gate(wait_until=now + SPOOL_RECHECK, reason="spool backlog")
        plan = session.get(CampaignPlan, campaign_id)
        rate = plan.rate_per_hour if plan is not None else None
        if rate is not None:
            recent = _count(
                session,
                select(func.count())
                .select_from(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.created_at > now - HOUR,
                ),
            )
            if recent >= rate:
                return Gate(wait_until=now + HOUR / max(rate, 1), reason="rate cap")
            size = min(size, rate - recent)
        policy = self._allowance.allowance(tenant_id, now)
        if policy.suspended:
            return Gate(wait_until=now + SUSPENDED_RECHECK, reason="tenant suspended")
        if policy.hourly_cap is not None:
            sent_last_hour = _count(
                session,
                select(func.count())
                .select_from(Event)
                .where(Event.type == EventType.QUEUED, Event.occurred_at > now - HOUR),
            )
            if sent_last_hour >= policy.hourly_cap:
                return Gate(wait_until=now + POLICY_RECHECK, reason="policy limit")
            size = min(size, policy.hourly_cap - sent_last_hour)
        return Gate(limit=size)

    def after(self, tenant_id: str, campaign_id: str) -> None:
        """Take back what a batch spooled if the campaign was paused or cancelled meanwhile."""
        with self._storage.tenant(tenant_id)() as session:
            status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        if status in (CampaignStatus.PAUSED, CampaignStatus.CANCELLED):
            withdraw_unsent(
                self._storage,
                self._spool,
                tenant_id,
                campaign_id,
                self._clock.now(),
                cancelled=status is CampaignStatus.CANCELLED,
            )

    def wait(self, tenant_id: str, campaign_id: str, until: dt.datetime, reason: str = "") -> None:
        """Hold the campaign's fan-out job until `until`."""
        set_job_time(self._storage, tenant_id, campaign_id, until)
        if reason != "paused":
            return
        # A resume may have committed between our status read and the write
        # above (it writes the status first, then wakes the job): wake it again.
        with self._storage.tenant(tenant_id)() as session:
            status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        if status is CampaignStatus.SENDING:
            set_job_time(self._storage, tenant_id, campaign_id, self._clock.now())


def _count(session: Session, query: Select[int]) -> int:
    return int(session.scalar(query) or 0)


def set_job_time(storage: Storage, tenant_id: str, campaign_id: str, at: dt.datetime) -> None:
    """Move a campaign's fan-out job (if any) to run at `at`."""
    with transaction(storage.control) as session:
        job = session.scalar(
            select(FanoutJob).where(
                FanoutJob.tenant_id == tenant_id, FanoutJob.campaign_id == campaign_id
            )
        )
        if job is not None:
            job.run_after = at
