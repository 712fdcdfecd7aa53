"""Fan-out: moving a sending campaign's audience into the spool, a batch at a time.

The recipe for each batch:
1. `_resume_or_resolve`: recipients left `pending` by an interrupted batch,
   or else the next contacts of the audience, written as `pending` rows
   (the unique key (campaign, contact) makes this exactly-once);
2. `_compose`: compose each message with the campaign's `Composer` (compiled
   once: personalization, links, pixel, headers, MIME, DKIM); a failure
   fails that recipient with its reason;
3. hand them to the spool, which commits them durably (its own unique key
   makes a repeated step harmless);
4. `_mark_queued`: recipients become `queued`, with their events.
When a batch finds nobody left, the campaign is `sent`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, MailingList, Suppression, SuppressionReason
from courriel.campaigns.batchlock import one_batch_at_a_time
from courriel.campaigns.lifecycle import check_transition
from courriel.campaigns.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    CampaignStatus,
    MailClass,
    RecipientState,
)
from courriel.campaigns.pacing import BatchGate
from courriel.campaigns.ports import SendingAllowance
from courriel.campaigns.resolution import plan_of, resolve_batch
from courriel.config import Settings
from courriel.content.compose import Composer, Recipient, SendContext, Sender, contact_context
from courriel.content.dkim import DkimSigner
from courriel.content.dkimkeys import DkimKeyService
from courriel.content.models import TemplateVersion
from courriel.content.render import RenderError
from courriel.core.addresses import tenant_address_hash
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.storage import Storage
from courriel.delivery.spool import NewMessage, Spool
from courriel.delivery.verp import encode_return_path
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events

# Composers kept per process (one per campaign being sent); the oldest goes first.
_COMPOSER_CACHE = 32
# Recipients marked queued per statement (under SQLite's bound-parameter limit).
_MARK_CHUNK = 1000


@dataclass(frozen=True)
class BatchResult:
    """What one fan-out step did."""

    queued: int
    skipped: int
    failed: int
    finished: bool
    # Nothing may go now (rate cap, policy limit, next time zone): the job waits.
    waiting: bool = False


class Fanout:
    """Moves recipients of sending campaigns into the spool."""

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
        self._secret_key = secret_key
        self._composers = ComposerCache(settings, secret_key, dkim_keys, _COMPOSER_CACHE)
        self._gate = BatchGate(storage, spool, settings, clock, allowance)

    def run_batch(self, tenant_id: str, campaign_id: str, limit: int | None = None) -> BatchResult:
        """Process one batch; `finished` once the whole audience is in the spool.

        `limit` asks for a smaller batch (Send spools a first small one at once).
        Batches of one campaign run one at a time (campaigns/batchlock.py).
        """
        with one_batch_at_a_time(self._storage.tenant(tenant_id), campaign_id):
            return self._run_batch(tenant_id, campaign_id, limit)

    def _run_batch(self, tenant_id: str, campaign_id: str, limit: int | None) -> BatchResult:
        # Schedule, pause/cancel, rate cap and sending policy: campaigns/pacing.py.
        gate = self._gate.before(tenant_id, campaign_id, limit)
        if gate.done:
            return BatchResult(0, 0, 0, finished=True)
        if gate.wait_until is not None:
            self._gate.wait(tenant_id, campaign_id, gate.wait_until, gate.reason)
            return BatchResult(0, 0, 0, finished=False, waiting=True)
        sessions = self._storage.tenant(tenant_id)
        with sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.status is not CampaignStatus.SENDING:
                return BatchResult(0, 0, 0, finished=True)
            version = session.get(TemplateVersion, campaign.template_version_id)
            assert version is not None
        recipients, next_due = self._resume_or_resolve(tenant_id, campaign, gate.limit)
        if not recipients:
            if next_due is not None:
                # Local-time delivery: the next time zone's turn is later.
                self._gate.wait(tenant_id, campaign_id, next_due)
                return BatchResult(0, 0, 0, finished=False, waiting=True)
            self._finish(tenant_id, campaign_id)
            return BatchResult(0, 0, 0, finished=True)
        messages, failures = self._compose(tenant_id, campaign, version, recipients)
        self._spool.enqueue(
            messages,
            now=self._clock.now(),
            lifetime=dt.timedelta(hours=self._settings.queue_lifetime_hours),
        )
        skipped = self._mark_queued(tenant_id, campaign, messages, failures)
        self._gate.after(tenant_id, campaign_id)
        return BatchResult(len(messages), skipped, len(failures) - skipped, finished=False)

    def _resume_or_resolve(
        self, tenant_id: str, campaign: Campaign, limit: int
    ) -> tuple[list[tuple[CampaignRecipient, Contact]], dt.datetime | None]:
        # Audience rules and exactly-once resolution: campaigns/resolution.py.
        with transaction(self._storage.tenant(tenant_id)) as session:
            pending = self._pending(session, campaign.id, limit)
            if pending:
                return pending, None
            plan = plan_of(session, campaign.id)
            _added, next_due = resolve_batch(session, campaign, plan, limit, self._clock)
            return self._pending(session, campaign.id, limit), next_due

    @staticmethod
    def _pending(
        session: Session, campaign_id: str, limit: int
    ) -> list[tuple[CampaignRecipient, Contact]]:
        rows = session.execute(
            select(CampaignRecipient, Contact)
            .join(Contact, Contact.id == CampaignRecipient.contact_id)
            .where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.state == RecipientState.PENDING,
            )
            .order_by(CampaignRecipient.id)
            .limit(limit)
        )
        return [(r[0], r[1]) for r in rows]

    def _compose(
        self,
        tenant_id: str,
        campaign: Campaign,
        version: TemplateVersion,
        recipients: list[tuple[CampaignRecipient, Contact]],
    ) -> tuple[list[NewMessage], dict[str, str]]:
        composer = self._composer(tenant_id, campaign, version)
        suppressed = self._suppressed(
            tenant_id, [c.email for _, c in recipients], campaign.mail_class
        )
        now = self._clock.now()
        messages: list[NewMessage] = []
        failures: dict[str, str] = {}
        for recipient, contact in recipients:
            if contact.email in suppressed:
                failures[recipient.id] = "suppressed"
                continue
            if contact.restricted:
                # Restricted (GDPR Art. 18) after this recipient was resolved.
                failures[recipient.id] = "restricted"
                continue
            try:
                body = composer.compose(recipient_of(recipient.id, contact, version), now)
            except RenderError as exc:
                failures[recipient.id] = str(exc)
                continue
            messages.append(
                NewMessage(
                    tenant_id=tenant_id,
                    message_id=recipient.id,
                    campaign_id=campaign.id,
                    contact_id=contact.id,
                    mail_from=encode_return_path(
                        self._secret_key, tenant_id, recipient.id, self._settings.return_path_domain
                    ),
                    rcpt_to=contact.email,
                    body=body,
                    transfer_ready=True,
                    mail_class=campaign.mail_class.value,
                )
            )
        return messages, failures

    def _composer(self, tenant_id: str, campaign: Campaign, version: TemplateVersion) -> Composer:
        composer = self._composers.get(tenant_id, campaign, version)
        if composer is not None:
            return composer
        with self._storage.tenant(tenant_id)() as session:
            return self._composers.build(session, tenant_id, campaign, version)

    def _suppressed(self, tenant_id: str, emails: list[str], mail_class: MailClass) -> set[str]:
        hashes = {tenant_address_hash(self._secret_key, tenant_id, e): e for e in emails}
        query = select(Suppression.address_hash).where(Suppression.address_hash.in_(hashes))
        if mail_class is MailClass.TRANSACTIONAL:
            # An unsubscribe ends marketing only: the receipt or password reset
            # a person asked for still reaches them. Hard bounces, complaints
            # and an operator's suppression stop every class of mail.
            # An objection to direct marketing (GDPR Art. 21(3)) is the same.
            query = query.where(
                Suppression.reason.not_in(
                    (SuppressionReason.UNSUBSCRIBE, SuppressionReason.OBJECTION)
                )
            )
        with self._storage.tenant(tenant_id)() as session:
            return {hashes[h] for h in session.scalars(query)}

    def _mark_queued(
        self,
        tenant_id: str,
        campaign: Campaign,
        messages: list[NewMessage],
        failures: dict[str, str],
    ) -> int:
        now = self._clock.now()
        events = [
            NewEvent(
                type=EventType.QUEUED,
                occurred_at=now,
                campaign_id=campaign.id,
                message_id=m.message_id,
                contact_id=m.contact_id,
                dedupe_key=f"{m.message_id}:queued",
            )
            for m in messages
        ]
        skipped = 0
        with transaction(self._storage.tenant(tenant_id)) as session:
            # One statement per chunk, not a load and flush per recipient (bench/audience.py).
            queued = [m.message_id for m in messages]
            for at in range(0, len(queued), _MARK_CHUNK):
                session.execute(
                    update(CampaignRecipient)
                    .where(CampaignRecipient.id.in_(queued[at : at + _MARK_CHUNK]))
                    .values(state=RecipientState.QUEUED)
                )
            for message_id, reason in failures.items():
                row = session.get(CampaignRecipient, message_id)
                assert row is not None
                kind = (
                    EventType.SKIPPED
                    if reason in ("suppressed", "restricted")
                    else EventType.FAILED
                )
                skipped += kind is EventType.SKIPPED
                row.state = (
                    RecipientState.SKIPPED if kind is EventType.SKIPPED else RecipientState.FAILED
                )
                row.reason = reason
                events.append(
                    NewEvent(
                        type=kind,
                        occurred_at=now,
                        campaign_id=campaign.id,
                        message_id=message_id,
                        contact_id=row.contact_id,
                        detail={"reason": reason},
                        dedupe_key=f"{message_id}:{kind.value}",
                    )
                )
            record_events(session, events)
        return skipped

    def _finish(self, tenant_id: str, campaign_id: str) -> None:
        with transaction(self._storage.tenant(tenant_id)) as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is not None and campaign.status is CampaignStatus.SENDING:
                check_transition(campaign.status, CampaignStatus.SENT)
                campaign.status = CampaignStatus.SENT
                campaign.finished_at = self._clock.now()


class ComposerCache:
    """Composers compiled once per (tenant, campaign, frozen version).

    Template, links, static headers, MIME skeleton and DKIM keys are reused
    by every batch of a campaign and every send of a workflow step; past
    `size` entries the oldest is dropped.
    """

    def __init__(
        self, settings: Settings, secret_key: bytes, dkim_keys: DkimKeyService, size: int
    ) -> None:
        self._settings = settings
        self._secret_key = secret_key
        self._dkim = dkim_keys
        self._size = size
        self._composers: dict[tuple[str, str, str], Composer] = {}

    def get(self, tenant_id: str, campaign: Campaign, version: TemplateVersion) -> Composer | None:
        """The composer already compiled for this campaign version, if any."""
        return self._composers.get((tenant_id, campaign.id, version.id))

    def build(
        self, session: Session, tenant_id: str, campaign: Campaign, version: TemplateVersion
    ) -> Composer:
        """Compile the composer of this campaign version and keep it."""
        composer = campaign_composer(
            session,
            self._settings,
            self._secret_key,
            tenant_id,
            campaign,
            version,
            self._dkim.signers(tenant_id, campaign.from_email.rpartition("@")[2]),
        )
        if len(self._composers) >= self._size:
            self._composers.pop(next(iter(self._composers)))
        self._composers[(tenant_id, campaign.id, version.id)] = composer
        return composer


def campaign_composer(  # noqa: PLR0917 (the parts of one campaign's send)
    session: Session,
    settings: Settings,
    secret_key: bytes,
    tenant_id: str,
    campaign: Campaign,
    version: TemplateVersion,
    signers: Sequence[DkimSigner],
) -> Composer:
    """The composer of a campaign's messages: its sender, first list and tracking choice."""
    lists = session.scalars(
        select(MailingList)
        .join(CampaignList, CampaignList.list_id == MailingList.id)
        .where(CampaignList.campaign_id == campaign.id)
        .order_by(MailingList.id)
    ).all()
    first = lists[0] if lists else None
    return Composer(
        version,
        Sender(
            email=campaign.from_email,
            name=campaign.from_name,
            return_path_domain=settings.return_path_domain,
        ),
        SendContext(
            tenant_id=tenant_id,
            public_url=settings.public_url,
            secret_key=secret_key,
            campaign_id=campaign.id,
            list_id=first.id if first else None,
            campaign={"name": campaign.name},
            mailing_list={"name": first.name, "purpose": first.purpose} if first else {},
            marketing=campaign.mail_class is MailClass.MARKETING,
            tracking=campaign.tracking and all(m.tracking for m in lists),
        ),
        signers,
    )


def recipient_of(message_id: str, contact: Contact, version: TemplateVersion) -> Recipient:
    """The `Recipient` a contact is composed as: only what a template may use;
    ids and internals stay out of reach."""
    values = {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "language": contact.language,
        "timezone": contact.timezone,
    }
    return Recipient(
        message_id=message_id,
        email=contact.email,
        name=" ".join(p for p in (contact.first_name, contact.last_name) if p),
        contact=contact_context(values, contact.properties, version.defaults),
        language=contact.language,
        timezone=contact.timezone,
        tracking=not contact.no_tracking,
    )
