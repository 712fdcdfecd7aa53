"""Campaign lifecycle use cases beyond create and send: edit a draft, schedule,
pause, resume, cancel, and live progress.

Every status change goes through `lifecycle.check_transition`, checked again
under the row's write lock. Send, schedule and resume record the fan-out job
before the status (as `CampaignService.send` does), so a crash between the two
writes leaves a job that finds nothing to do, never a campaign nobody sends.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from courriel.audience.models import Segment
from courriel.campaigns.access import require_campaign
from courriel.campaigns.fanout import Fanout
from courriel.campaigns.lifecycle import check_transition
from courriel.campaigns.models import (
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    FanoutJob,
    RecipientState,
)
from courriel.campaigns.pacing import set_job_time
from courriel.campaigns.plan import CampaignPlan
from courriel.campaigns.resolution import plan_of
from courriel.campaigns.service import CampaignService, arm_job
from courriel.campaigns.withdraw import withdraw_unsent
from courriel.core.addresses import normalize_address
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.delivery.spool import Spool
from courriel.events.models import CampaignCounter

log = logging.getLogger(__name__)

# Send spools this many messages before answering, so the first message is in
# the spool within a second whatever the audience size; the scheduler does the rest.
FIRST_BATCH = 100
# UTC offsets run from -12:00 to +14:00: a local time happens somewhere
# between 14 hours before and 12 hours after the same wall-clock time in UTC.
_EARLIEST_ZONE = dt.timedelta(hours=14)
_LATEST_ZONE = dt.timedelta(hours=12)
_EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)


@dataclass(frozen=True)
class Progress:
    """Live progress of a campaign's send."""

    campaign_id: str
    status: str
    pending: int
    queued: int
    sent: int
    delivered: int
    failed: int
    bounced: int
    blocked: int
    expired: int
    skipped: int


class CampaignControl:
    """Schedule, pause, resume and cancel campaigns of the principal's tenant."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        campaigns: CampaignService,
        fanout: Fanout,
        spool: Spool,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._campaigns = campaigns
        self._fanout = fanout
        self._spool = spool

    def send(self, principal: Principal, campaign_id: str) -> Campaign:
        """Start sending now and spool the first small batch before answering."""
        self._campaigns.send(principal, campaign_id)
        # A campaign scheduled for later and sent now: its job runs now too.
        set_job_time(self._storage, principal.tenant_id, campaign_id, self._clock.now())
        self._kick(principal.tenant_id, campaign_id)
        return self._campaigns.get(principal, campaign_id)

    def _kick(self, tenant_id: str, campaign_id: str) -> None:
        try:
            self._fanout.run_batch(tenant_id, campaign_id, limit=FIRST_BATCH)
        except Exception:
            # The send is recorded and its job queued: the scheduler retries.
            log.exception("first fan-out batch of campaign %s failed", campaign_id)

    def configure(
        self,
        principal: Principal,
        campaign_id: str,
        *,
        segment_id: str | None = None,
        rate_per_hour: int | None = None,
        include_sunset: bool = False,
    ) -> CampaignPlan:
        """Set the segment, the hourly rate cap and whether the lists' sunset contacts are
        included (a re-engagement campaign) of a campaign not yet sending."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        if rate_per_hour is not None and not 1 <= rate_per_hour <= 10_000_000:
            raise InvalidInputError("rate_per_hour", "must be between 1 and 10000000")
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            campaign = _editable(session, principal, campaign_id)
            if segment_id is not None and session.get(Segment, segment_id) is None:
                raise InvalidInputError("segment_id", f"no segment {segment_id!r}")
            plan = plan_of(session, campaign.id)
            plan.segment_id = segment_id
            plan.rate_per_hour = rate_per_hour
            plan.include_sunset = include_sunset
            session.flush()
            session.expunge(plan)
        return plan

    def plan(self, principal: Principal, campaign_id: str) -> CampaignPlan:
        """A campaign's plan (segment, schedule, rate cap)."""
        principal.require(Capability.CAMPAIGNS_READ)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            _campaign(session, principal, campaign_id)
            plan = plan_of(session, campaign_id)
            session.expunge(plan)
        return plan

    def update(
        self,
        principal: Principal,
        campaign_id: str,
        *,
        name: str | None = None,
        from_email: str | None = None,
        from_name: str | None = None,
        tracking: bool | None = None,
    ) -> Campaign:
        """Edit a draft or scheduled campaign; once sending it sends its snapshot (409)."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        if name is not None and (not name.strip() or len(name) > 200):
            raise InvalidInputError("name", "must be 1 to 200 characters")
        sender = normalize_address(from_email, "from_email") if from_email is not None else None
        if from_name is not None and (
            any(ch in from_name for ch in "\r\n\x00") or len(from_name) > 200
        ):
            raise InvalidInputError("from_name", "must be one line of at most 200 characters")
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            campaign = _editable(session, principal, campaign_id, lock=True)
            if name is not None:
                campaign.name = name.strip()
            if sender is not None:
                campaign.from_email = sender
            if from_name is not None:
                campaign.from_name = from_name.strip()
            if tracking is not None:
                campaign.tracking = tracking
        return self._campaigns.get(principal, campaign_id)

    def schedule(
        self,
        principal: Principal,
        campaign_id: str,
        *,
        at: dt.datetime | None = None,
        local_time: str | None = None,
        default_timezone: str = "UTC",
    ) -> Campaign:
        """Send at an instant, or at a wall-clock time in each contact's own timezone."""
        principal.require(Capability.CAMPAIGNS_SEND)
        now = self._clock.now()
        if (at is None) == (local_time is None):
            raise InvalidInputError("at", "give either `at` or `local_time`")
        try:
            ZoneInfo(default_timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InvalidInputError("default_timezone", "must be an IANA zone") from exc
        run_after, local_time = _start_of(at, local_time, now)
        campaign = self._campaigns.get(principal, campaign_id)
        if campaign.status is not CampaignStatus.SCHEDULED:
            check_transition(campaign.status, CampaignStatus.SCHEDULED)
        self._campaigns.check_before_send(principal, campaign)
        arm_job(self._storage, principal.tenant_id, campaign_id, run_after)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = _campaign(session, principal, campaign_id, lock=True)
            if row.status is not CampaignStatus.SCHEDULED:
                check_transition(row.status, CampaignStatus.SCHEDULED)
                row.status = CampaignStatus.SCHEDULED
            plan = plan_of(session, campaign_id)
            plan.scheduled_at = run_after if at is not None else None
            plan.local_time = local_time
            plan.default_timezone = default_timezone
        # Again after the status: a scheduler may have dropped it meanwhile (see `arm_job`).
        arm_job(self._storage, principal.tenant_id, campaign_id, run_after)
        return self._campaigns.get(principal, campaign_id)

    def unschedule(self, principal: Principal, campaign_id: str) -> Campaign:
        """A scheduled campaign goes back to draft."""
        principal.require(Capability.CAMPAIGNS_SEND)
        self._transition(principal, campaign_id, CampaignStatus.DRAFT)
        self._drop_job(principal.tenant_id, campaign_id)
        return self._campaigns.get(principal, campaign_id)

    def pause(self, principal: Principal, campaign_id: str) -> Campaign:
        """Stop sending: nothing more is spooled and waiting messages leave the spool."""
        principal.require(Capability.CAMPAIGNS_SEND)
        self._transition(principal, campaign_id, CampaignStatus.PAUSED)
        withdraw_unsent(
            self._storage,
            self._spool,
            principal.tenant_id,
            campaign_id,
            self._clock.now(),
            cancelled=False,
        )
        return self._campaigns.get(principal, campaign_id)

    def resume(self, principal: Principal, campaign_id: str) -> Campaign:
        """Carry on sending a paused campaign where it stopped."""
        principal.require(Capability.CAMPAIGNS_SEND)
        campaign = self._campaigns.get(principal, campaign_id)
        check_transition(campaign.status, CampaignStatus.SENDING)
        if campaign.status is not CampaignStatus.PAUSED:
            raise ConflictError(f"a {campaign.status.value} campaign cannot be resumed")
        self._campaigns.check_before_send(principal, campaign)
        self._transition(principal, campaign_id, CampaignStatus.SENDING)
        arm_job(self._storage, principal.tenant_id, campaign_id, self._clock.now())
        self._kick(principal.tenant_id, campaign_id)
        return self._campaigns.get(principal, campaign_id)

    def cancel(self, principal: Principal, campaign_id: str) -> Campaign:
        """Stop for good: waiting messages leave the spool and are skipped as cancelled."""
        principal.require(Capability.CAMPAIGNS_SEND)
        self._transition(principal, campaign_id, CampaignStatus.CANCELLED)
        withdraw_unsent(
            self._storage,
            self._spool,
            principal.tenant_id,
            campaign_id,
            self._clock.now(),
            cancelled=True,
        )
        self._drop_job(principal.tenant_id, campaign_id)
        return self._campaigns.get(principal, campaign_id)

    def progress(self, principal: Principal, campaign_id: str) -> Progress:
        """Where the send stands: read from counters, a few rows whatever the size."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            campaign = _campaign(session, principal, campaign_id)
            counts = {
                t.value: int(c)
                for t, c in session.execute(
                    select(CampaignCounter.type, CampaignCounter.count).where(
                        CampaignCounter.campaign_id == campaign_id
                    )
                )
            }
            pending = session.scalar(
                select(func.count())
                .select_from(CampaignRecipient)
                .where(
                    CampaignRecipient.campaign_id == campaign_id,
                    CampaignRecipient.state == RecipientState.PENDING,
                )
            )
        return Progress(
            campaign_id=campaign_id,
            status=campaign.status.value,
            pending=int(pending or 0),
            queued=counts.get("queued", 0),
            sent=counts.get("sent", 0),
            delivered=counts.get("delivered", 0),
            failed=counts.get("failed", 0),
            bounced=counts.get("bounced", 0),
            blocked=counts.get("blocked", 0),
            expired=counts.get("expired", 0),
            skipped=counts.get("skipped", 0),
        )

    def _transition(self, principal: Principal, campaign_id: str, target: CampaignStatus) -> None:
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = _campaign(session, principal, campaign_id, lock=True)
            check_transition(row.status, target)
            row.status = target
            if target is CampaignStatus.CANCELLED:
                row.finished_at = self._clock.now()

    def _drop_job(self, tenant_id: str, campaign_id: str) -> None:
        with transaction(self._storage.control) as session:
            session.execute(
                delete(FanoutJob).where(
                    FanoutJob.tenant_id == tenant_id, FanoutJob.campaign_id == campaign_id
                )
            )


def _campaign(
    session: Session, principal: Principal, campaign_id: str, *, lock: bool = False
) -> Campaign:
    campaign = session.get(Campaign, campaign_id, with_for_update=lock)
    if campaign is None:
        raise NotFoundError(f"no campaign {campaign_id!r}")
    require_campaign(session, principal, campaign_id)
    return campaign


def _editable(
    session: Session, principal: Principal, campaign_id: str, *, lock: bool = False
) -> Campaign:
    campaign = _campaign(session, principal, campaign_id, lock=lock)
    if campaign.status not in _EDITABLE:
        raise ConflictError(
            f"a {campaign.status.value} campaign cannot be edited: it sends the snapshot "
            "taken when sending started"
        )
    return campaign


def _start_of(
    at: dt.datetime | None, local_time: str | None, now: dt.datetime
) -> tuple[dt.datetime, str | None]:
    # When the fan-out job first runs, and the local time normalized.
    if at is not None:
        if at.tzinfo is None:
            raise InvalidInputError("at", "must include a UTC offset")
        if at <= now:
            raise InvalidInputError("at", "must be in the future")
        return at.astimezone(dt.UTC), None
    assert local_time is not None
    try:
        naive = dt.datetime.fromisoformat(local_time)
    except ValueError as exc:
        raise InvalidInputError("local_time", "must be YYYY-MM-DDTHH:MM") from exc
    if naive.tzinfo is not None:
        raise InvalidInputError("local_time", "is a wall-clock time: no UTC offset")
    wall = naive.replace(tzinfo=dt.UTC)
    if wall + _LATEST_ZONE <= now:
        raise InvalidInputError("local_time", "has passed in every timezone")
    return max(now, wall - _EARLIEST_ZONE), naive.isoformat(timespec="minutes")
