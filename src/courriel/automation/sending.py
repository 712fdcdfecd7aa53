"""The send step: one message of a template to one person, exactly once, through the
same composer, checks and spool as a campaign.

Each send step has a campaign of its own (`StepCampaign`, made when the
workflow is activated, one per entry cycle), so its messages are campaign
recipients: the unique key (campaign, contact) makes the send exactly once,
and opens, clicks, the unsubscribe link, List-Unsubscribe, counters and
webhooks work as for any campaign. The recipe, over two transactions of the
tenant's database around the spool (which is another database):

1. `prepare` (in the step's first transaction): the sending policy (a
   suspended tenant waits), the step's campaign, and the recipient row,
   written `pending` with the message id remembered by the step's run;
2. `deliver`: compose (sandboxed template, links, pixel, headers, DKIM) and
   hand to the spool, whose own unique key (tenant, message id) makes a
   repeat after a crash harmless; a message the spool already let go (its
   fate recorded as events) is not spooled again;
3. `finish` (in the step's second transaction): the recipient `queued`
   (or `failed` with the reason), its first event carrying the workflow and
   step, and the step's `sent` figure.

A crash between 2 and 3 leaves the run `started` with its message id: the
next engine repeats 2 (a no-op) and 3. At most the message in flight at a
crash is delivered twice by the MTA, as for every message (DESIGN.md).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact
from courriel.automation.counters import bump
from courriel.automation.graph import Definition, Step
from courriel.automation.models import Enrollment, StepCampaign, StepRun, Workflow
from courriel.campaigns.fanout import ComposerCache, recipient_of
from courriel.campaigns.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    CampaignStatus,
    MailClass,
    RecipientState,
)
from courriel.campaigns.ports import SendingAllowance
from courriel.config import Settings
from courriel.content.compose import Composer
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.models import Template, TemplateVersion
from courriel.content.render import RenderError
from courriel.core.clock import Clock
from courriel.core.db import insert_for
from courriel.core.ids import new_id
from courriel.core.storage import Storage
from courriel.delivery.models import SpoolMessage
from courriel.delivery.spool import NewMessage, Spool
from courriel.delivery.verp import encode_return_path
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events

# A suspended tenant's workflows look again this often.
SUSPENDED_RECHECK = dt.timedelta(minutes=5)
SENT = "sent"
_COMPOSERS = 64


@dataclass(frozen=True)
class Prepared:
    """A send step ready to compose: its campaign, message id and recipient."""

    tenant_id: str
    campaign_id: str
    version_id: str
    message_id: str
    contact: Contact
    payload: dict[str, object]
    # Already queued by an earlier attempt: only `finish` is left.
    queued: bool


def step_campaign(  # noqa: PLR0917 (the parts of one step's campaign)
    session: Session,
    workflow: Workflow,
    version_id: str,
    definition: Definition,
    step: Step,
    cycle: int,
    now: dt.datetime,
) -> Campaign:
    """The campaign carrying `step`'s messages for people on their `cycle`-th entry.

    The first cycle's is made at activation, with the template's version of
    that moment (a later edit of the template does not change a running
    workflow); later cycles copy it.
    """
    found = session.scalar(
        select(Campaign)
        .join(StepCampaign, StepCampaign.campaign_id == Campaign.id)
        .where(
            StepCampaign.version_id == version_id,
            StepCampaign.step_key == step.key,
            StepCampaign.cycle == cycle,
        )
    )
    if found is not None:
        return found
    template_version_id = _template_version(session, version_id, step, cycle)
    campaign = Campaign(
        id=new_id("cmp"),
        name=f"{workflow.name[:150]} · {step.key}"[:200],
        status=CampaignStatus.SENT,
        mail_class=MailClass(step.settings["mail_class"]),
        template_version_id=template_version_id,
        from_email=definition.from_email,
        from_name=definition.from_name,
        tracking=True,
        created_at=now,
        started_at=now,
    )
    session.add(campaign)
    if definition.consent_list_id:
        session.add(CampaignList(campaign_id=campaign.id, list_id=definition.consent_list_id))
    session.flush()
    session.add(
        StepCampaign(
            version_id=version_id,
            step_key=step.key,
            cycle=cycle,
            workflow_id=workflow.id,
            campaign_id=campaign.id,
        )
    )
    session.flush()
    return campaign


def _template_version(session: Session, version_id: str, step: Step, cycle: int) -> str:
    if cycle > 1:
        first = session.scalar(
            select(Campaign.template_version_id)
            .join(StepCampaign, StepCampaign.campaign_id == Campaign.id)
            .where(
                StepCampaign.version_id == version_id,
                StepCampaign.step_key == step.key,
                StepCampaign.cycle == 1,
            )
        )
        if first is not None:
            return first
    found = session.scalar(
        select(TemplateVersion.id)
        .join(Template, Template.id == TemplateVersion.template_id)
        .where(
            Template.id == step.settings["template_id"],
            TemplateVersion.version == Template.current_version,
        )
    )
    if found is None:
        raise LookupError(f"template {step.settings['template_id']!r} is gone")
    return found


class StepSender:
    """Sends the messages of send steps (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        spool: Spool,
        settings: Settings,
        clock: Clock,
        secret_key: bytes,
        *,
        dkim_keys: DkimKeyService,
        allowance: SendingAllowance,
    ) -> None:
        self._storage = storage
        self._spool = spool
        self._settings = settings
        self._clock = clock
        self._key = secret_key
        self._allowance = allowance
        self._composers = ComposerCache(settings, secret_key, dkim_keys, _COMPOSERS)

    def suspended_until(self, tenant_id: str, now: dt.datetime) -> dt.datetime | None:
        """When to look again if the sending policy stops the tenant's mail now."""
        if self._allowance.allowance(tenant_id, now).suspended:
            return now + SUSPENDED_RECHECK
        return None

    def prepare(  # noqa: PLR0917 (one step's facts)
        self,
        session: Session,
        tenant_id: str,
        workflow: Workflow,
        enrollment: Enrollment,
        contact: Contact,
        definition: Definition,
        step: Step,
        run: StepRun,
        now: dt.datetime,
    ) -> Prepared:
        """The step's campaign and recipient row (step 1), in the caller's transaction."""
        campaign = step_campaign(
            session, workflow, enrollment.version_id, definition, step, enrollment.cycle, now
        )
        if run.message_id is None:
            run.message_id = new_id("msg")
        session.execute(
            insert_for(session)(CampaignRecipient)
            .values(
                id=run.message_id,
                campaign_id=campaign.id,
                contact_id=contact.id,
                state=RecipientState.PENDING,
                reason="",
                created_at=now,
            )
            .on_conflict_do_nothing()
        )
        recipient = session.scalar(
            select(CampaignRecipient).where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.contact_id == contact.id,
            )
        )
        assert recipient is not None
        # The (campaign, contact) key may hold an older attempt's id: that message it is.
        run.message_id = recipient.id
        session.flush()
        session.expunge(contact)
        return Prepared(
            tenant_id=tenant_id,
            campaign_id=campaign.id,
            version_id=campaign.template_version_id,
            message_id=recipient.id,
            contact=contact,
            payload=dict(enrollment.payload or {}),
            queued=recipient.state is not RecipientState.PENDING,
        )

    def deliver(self, prepared: Prepared) -> str:
        """Compose and spool (step 2); "" when queued, else why it failed."""
        if prepared.queued or self._already_let_go(prepared):
            return ""
        with self._storage.tenant(prepared.tenant_id)() as session:
            campaign = session.get(Campaign, prepared.campaign_id)
            version = session.get(TemplateVersion, prepared.version_id)
            assert campaign is not None
            assert version is not None
            composer = self._composer(session, prepared.tenant_id, campaign, version)
            session.expunge_all()
        recipient = dataclasses.replace(
            recipient_of(prepared.message_id, prepared.contact, version),
            variables={"event": prepared.payload},
        )
        try:
            body = composer.compose(recipient, self._clock.now())
        except RenderError as exc:
            return str(exc) or "the template could not be rendered"
        self._spool.enqueue(
            [
                NewMessage(
                    tenant_id=prepared.tenant_id,
                    message_id=prepared.message_id,
                    campaign_id=prepared.campaign_id,
                    contact_id=prepared.contact.id,
                    mail_from=encode_return_path(
                        self._key,
                        prepared.tenant_id,
                        prepared.message_id,
                        self._settings.return_path_domain,
                    ),
                    rcpt_to=prepared.contact.email,
                    body=body,
                    transfer_ready=True,
                )
            ],
            now=self._clock.now(),
            lifetime=dt.timedelta(hours=self._settings.queue_lifetime_hours),
        )
        return ""

    def finish(  # noqa: PLR0917 (one step's facts)
        self,
        session: Session,
        prepared: Prepared,
        workflow_id: str,
        version_number: int,
        step: Step,
        failure: str,
        now: dt.datetime,
    ) -> None:
        """The recipient queued or failed, with its first event (step 3)."""
        recipient = session.get(CampaignRecipient, prepared.message_id)
        if recipient is None or recipient.state is not RecipientState.PENDING:
            return
        kind = EventType.FAILED if failure else EventType.QUEUED
        recipient.state = RecipientState.FAILED if failure else RecipientState.QUEUED
        recipient.reason = failure
        detail: dict[str, object] = {
            "workflow_id": workflow_id,
            "workflow_version": version_number,
            "step": step.key,
        }
        if failure:
            detail["reason"] = failure
        record_events(
            session,
            [
                NewEvent(
                    type=kind,
                    occurred_at=now,
                    campaign_id=prepared.campaign_id,
                    message_id=prepared.message_id,
                    contact_id=prepared.contact.id,
                    detail=detail,
                    dedupe_key=f"{prepared.message_id}:{kind.value}",
                )
            ],
        )
        if not failure:
            bump(session, workflow_id, step.key, SENT)
            bump(session, workflow_id, "", SENT)

    def _already_let_go(self, prepared: Prepared) -> bool:
        # After a crash: still in the spool (enqueue is a no-op then), or
        # already delivered and gone from it (its outcome is in the event log).
        with self._storage.spool() as spool:
            if spool.scalar(
                select(SpoolMessage.id).where(
                    SpoolMessage.tenant_id == prepared.tenant_id,
                    SpoolMessage.message_id == prepared.message_id,
                )
            ):
                return True
        with self._storage.tenant(prepared.tenant_id)() as session:
            return (
                session.scalar(
                    select(Event.seq).where(Event.message_id == prepared.message_id).limit(1)
                )
                is not None
            )

    def _composer(
        self, session: Session, tenant_id: str, campaign: Campaign, version: TemplateVersion
    ) -> Composer:
        return self._composers.get(tenant_id, campaign, version) or self._composers.build(
            session, tenant_id, campaign, version
        )
