"""Fan-out: moving a sending campaign's audience into the spool, a batch at a time.

The recipe for each batch:
1. `_resume_or_resolve`: recipients left `pending` by an interrupted batch,
   or else the next contacts of the audience, written as `pending` rows
   (the unique key (campaign, contact) makes this exactly-once);
2. `_compose`: render and build each message (a failure fails that recipient);
3. hand them to the spool, which commits them durably (its own unique key
   makes a repeated step harmless);
4. `_mark_queued`: recipients become `queued`, with their events.
When a batch finds nobody left, the campaign is `sent`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from courriel.audience.addresses import tenant_address_hash
from courriel.audience.models import Contact, Subscription, Suppression
from courriel.audience.models import SubscriptionStatus as S
from courriel.campaigns.lifecycle import check_transition
from courriel.campaigns.models import (
    Campaign,
    CampaignList,
    CampaignRecipient,
    CampaignStatus,
    RecipientState,
)
from courriel.config import Settings
from courriel.content.mime import Envelope, build_message
from courriel.content.models import TemplateVersion
from courriel.content.render import CompiledTemplate, RenderError
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.ids import new_id
from courriel.core.storage import Storage
from courriel.delivery.spool import NewMessage, Spool
from courriel.delivery.verp import encode_return_path
from courriel.tracking.models import EventType
from courriel.tracking.recorder import NewEvent, record_events


@dataclass(frozen=True)
class BatchResult:
    """What one fan-out step did."""

    queued: int
    skipped: int
    failed: int
    finished: bool


class Fanout:
    """Moves recipients of sending campaigns into the spool."""

    def __init__(
        self, storage: Storage, spool: Spool, settings: Settings, clock: Clock, secret_key: bytes
    ) -> None:
        self._storage = storage
        self._spool = spool
        self._settings = settings
        self._clock = clock
        self._secret_key = secret_key
        self._compiled: dict[str, CompiledTemplate] = {}

    def run_batch(self, tenant_id: str, campaign_id: str) -> BatchResult:
        """Process one batch; `finished` once the whole audience is in the spool."""
        sessions = self._storage.tenant(tenant_id)
        with sessions() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None or campaign.status is not CampaignStatus.SENDING:
                return BatchResult(0, 0, 0, finished=True)
            version = session.get(TemplateVersion, campaign.template_version_id)
            assert version is not None
        recipients = self._resume_or_resolve(tenant_id, campaign)
        if not recipients:
            self._finish(tenant_id, campaign_id)
            return BatchResult(0, 0, 0, finished=True)
        messages, failures = self._compose(tenant_id, campaign, version, recipients)
        self._spool.enqueue(
            messages,
            now=self._clock.now(),
            lifetime=dt.timedelta(hours=self._settings.queue_lifetime_hours),
        )
        skipped = self._mark_queued(tenant_id, campaign, messages, failures)
        return BatchResult(len(messages), skipped, len(failures) - skipped, finished=False)

    def _resume_or_resolve(
        self, tenant_id: str, campaign: Campaign
    ) -> list[tuple[CampaignRecipient, Contact]]:
        batch = self._settings.fanout_batch_size
        with transaction(self._storage.tenant(tenant_id)) as session:
            pending = self._pending(session, campaign.id, batch)
            if pending:
                return pending
            on_lists = (
                select(Subscription.contact_id)
                .join(CampaignList, CampaignList.list_id == Subscription.list_id)
                .where(CampaignList.campaign_id == campaign.id, Subscription.status == S.SUBSCRIBED)
            )
            already = exists().where(
                CampaignRecipient.campaign_id == campaign.id,
                CampaignRecipient.contact_id == Contact.id,
            )
            contact_ids = list(
                session.scalars(
                    select(Contact.id)
                    .where(Contact.id.in_(on_lists), ~already)
                    .order_by(Contact.id)
                    .limit(batch)
                )
            )
            now = self._clock.now()
            session.add_all(
                CampaignRecipient(
                    id=new_id("msg"),
                    campaign_id=campaign.id,
                    contact_id=contact_id,
                    state=RecipientState.PENDING,
                    created_at=now,
                )
                for contact_id in contact_ids
            )
            session.flush()
            return self._pending(session, campaign.id, batch)

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
        compiled = self._compiled.get(version.id)
        if compiled is None:
            compiled = CompiledTemplate(version.subject, version.html, version.text)
            self._compiled[version.id] = compiled
        suppressed = self._suppressed(tenant_id, [c.email for _, c in recipients])
        now = self._clock.now()
        messages: list[NewMessage] = []
        failures: dict[str, str] = {}
        for recipient, contact in recipients:
            if contact.email in suppressed:
                failures[recipient.id] = "suppressed"
                continue
            try:
                content = compiled.render({"contact": _contact_context(contact)})
            except RenderError as exc:
                failures[recipient.id] = str(exc)
                continue
            name = " ".join(p for p in (contact.first_name, contact.last_name) if p)
            body = build_message(
                Envelope(
                    from_email=campaign.from_email,
                    from_name=campaign.from_name,
                    to_email=contact.email,
                    to_name=name,
                    message_id=recipient.id,
                    date=now,
                ),
                content,
            )
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
                )
            )
        return messages, failures

    def _suppressed(self, tenant_id: str, emails: list[str]) -> set[str]:
        hashes = {tenant_address_hash(self._secret_key, tenant_id, e): e for e in emails}
        with self._storage.tenant(tenant_id)() as session:
            found = session.scalars(
                select(Suppression.address_hash).where(Suppression.address_hash.in_(hashes))
            )
            return {hashes[h] for h in found}

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
            for m in messages:
                row = session.get(CampaignRecipient, m.message_id)
                assert row is not None
                row.state = RecipientState.QUEUED
            for message_id, reason in failures.items():
                row = session.get(CampaignRecipient, message_id)
                assert row is not None
                kind = EventType.SKIPPED if reason == "suppressed" else EventType.FAILED
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


def _contact_context(contact: Contact) -> dict[str, object]:
    # Only what a template may use; ids and internals stay out of reach.
    return {
        "email": contact.email,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "language": contact.language,
        "timezone": contact.timezone,
        **{k: v for k, v in (contact.properties or {}).items() if not k.startswith("_")},
    }
