"""Campaign use cases: create, read, send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from sqlalchemy import Select, select

from courriel.audience.models import MailingList
from courriel.campaigns.access import reachable_campaigns, require_campaign
from courriel.campaigns.lifecycle import check_transition
from courriel.campaigns.models import Campaign, CampaignList, CampaignStatus, FanoutJob, MailClass
from courriel.content.models import Template, TemplateVersion
from courriel.content.variables import check_sendable
from courriel.core.addresses import normalize_address
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, insert_for, transaction
from courriel.core.errors import InvalidInputError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate_newest
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

# Raises (InvalidInputError, ForbiddenError, …) when the campaign may not be sent.
SendCheck = Callable[[Principal, Campaign], None]


class CampaignService:
    """Campaigns of the principal's tenant."""

    def __init__(
        self, storage: Storage, clock: Clock, send_checks: Sequence[SendCheck] = ()
    ) -> None:
        self._storage = storage
        self._clock = clock
        # Sending policy, sender domain and content checklist (policy/).
        self._send_checks = tuple(send_checks)

    def create(
        self,
        principal: Principal,
        *,
        name: str,
        template_id: str,
        list_ids: Sequence[str],
        from_email: str,
        from_name: str = "",
        mail_class: MailClass = MailClass.MARKETING,
        tracking: bool = True,
    ) -> Campaign:
        """Create a draft campaign that will send the template's current version."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        if not name.strip() or len(name) > 200:
            raise InvalidInputError("name", "must be 1 to 200 characters")
        sender = normalize_address(from_email, "from_email")
        if any(ch in from_name for ch in "\r\n\x00") or len(from_name) > 200:
            raise InvalidInputError("from_name", "must be one line of at most 200 characters")
        if not list_ids:
            raise InvalidInputError("lists", "name at least one list")
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            template = session.get(Template, template_id)
            if template is None:
                raise InvalidInputError("template_id", f"no template {template_id!r}")
            version_id = session.scalar(
                select(TemplateVersion.id).where(
                    TemplateVersion.template_id == template.id,
                    TemplateVersion.version == template.current_version,
                )
            )
            assert version_id is not None
            for index, list_id in enumerate(dict.fromkeys(list_ids)):
                if session.get(MailingList, list_id) is None or not principal.sees_list(list_id):
                    raise InvalidInputError(f"lists.{index}", f"no list {list_id!r}")
            campaign = Campaign(
                id=new_id("cmp"),
                name=name.strip(),
                status=CampaignStatus.DRAFT,
                mail_class=mail_class,
                template_version_id=version_id,
                from_email=sender,
                from_name=from_name.strip(),
                tracking=tracking,
                created_at=self._clock.now(),
            )
            session.add(campaign)
            session.flush()
            session.add_all(
                CampaignList(campaign_id=campaign.id, list_id=list_id)
                for list_id in dict.fromkeys(list_ids)
            )
        return campaign

    def get(self, principal: Principal, campaign_id: str) -> Campaign:
        """One campaign of the principal's tenant."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            found = get_or_not_found(session, Campaign, campaign_id, "campaign")
            require_campaign(session, principal, campaign_id)
            return found

    def reach(self, principal: Principal, campaign_id: str) -> None:
        """NotFoundError unless the campaign exists and is within the principal's lists."""
        with self._storage.tenant(principal.tenant_id)() as session:
            get_or_not_found(session, Campaign, campaign_id, "campaign")
            require_campaign(session, principal, campaign_id)

    def list_ids_of(self, principal: Principal, campaign_id: str) -> list[str]:
        """The lists a campaign goes to."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            require_campaign(session, principal, campaign_id)
            return list(
                session.scalars(
                    select(CampaignList.list_id).where(CampaignList.campaign_id == campaign_id)
                )
            )

    def list(self, principal: Principal, cursor: str | None, limit: int) -> Page[Campaign]:
        """The tenant's campaigns, newest first, a page at a time."""
        principal.require(Capability.CAMPAIGNS_READ)
        statement: Select[tuple[Campaign]] = select(Campaign)
        statement = reachable_campaigns(statement, principal, Campaign.id)
        with self._storage.tenant(principal.tenant_id)() as session:
            return paginate_newest(
                session,
                statement,
                created=Campaign.created_at,
                key=Campaign.id,
                cursor=cursor,
                limit=limit,
            )

    def send(self, principal: Principal, campaign_id: str) -> Campaign:
        """Start sending now: the campaign becomes `sending` and a fan-out job is queued.

        The job is recorded first and is idempotent (one per campaign), so a
        crash between the two writes leaves a job that finds a draft and
        drops itself, never a sending campaign that nobody fans out. It is
        armed again once the status is written: a scheduler that claimed it in
        between saw a draft and dropped it, or will find its lease taken back
        and keep it (`arm_job`).
        """
        principal.require(Capability.CAMPAIGNS_SEND)
        campaign = self.get(principal, campaign_id)
        check_transition(campaign.status, CampaignStatus.SENDING)
        with self._storage.tenant(principal.tenant_id)() as session:
            version = session.get(TemplateVersion, campaign.template_version_id)
        assert version is not None
        # Refused before the send starts: no unsubscribe link in a marketing
        # body, or a variable that some recipient could not fill.
        check_sendable(version, marketing=campaign.mail_class is MailClass.MARKETING)
        for check in self._send_checks:
            check(principal, campaign)
        now = self._clock.now()
        with transaction(self._storage.control) as control:
            insert = insert_for(control)
            control.execute(
                insert(FanoutJob)
                .values(tenant_id=principal.tenant_id, campaign_id=campaign_id, run_after=now)
                .on_conflict_do_nothing(index_elements=[FanoutJob.tenant_id, FanoutJob.campaign_id])
            )
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            row = session.get(Campaign, campaign_id, with_for_update=True)
            assert row is not None
            # Checked again under the write lock: of two concurrent Send
            # clicks, exactly one moves the campaign.
            check_transition(row.status, CampaignStatus.SENDING)
            row.status = CampaignStatus.SENDING
            row.started_at = now
        arm_job(self._storage, principal.tenant_id, campaign_id, now)
        return row

    def check_before_send(self, principal: Principal, campaign: Campaign) -> None:
        """The checks of `send`, for a schedule or a resume (raise when refused)."""
        with self._storage.tenant(principal.tenant_id)() as session:
            version = session.get(TemplateVersion, campaign.template_version_id)
        assert version is not None
        check_sendable(version, marketing=campaign.mail_class is MailClass.MARKETING)
        for check in self._send_checks:
            check(principal, campaign)


def arm_job(storage: Storage, tenant_id: str, campaign_id: str, run_after: dt.datetime) -> None:
    """Make sure the campaign has a fan-out job due at `run_after`, claimed by no one.

    Written after a status change that needs fan-out (send, schedule). Taking
    the lease back matters: a scheduler that claimed the job before the status
    was written read the old status, decided the job was done, and deletes it
    only while the lease is still its own (see `Scheduler.run_once`).
    """
    with transaction(storage.control) as session:
        insert = insert_for(session)
        statement = insert(FanoutJob).values(
            tenant_id=tenant_id, campaign_id=campaign_id, run_after=run_after
        )
        session.execute(
            statement.on_conflict_do_update(
                index_elements=[FanoutJob.tenant_id, FanoutJob.campaign_id],
                set_={"run_after": run_after, "lease_owner": None, "lease_until": None},
            )
        )
