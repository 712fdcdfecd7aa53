"""Retention and consent expiry: ask again, then act on silence.

For each list with rules (`ListGovernance`), a run does two things:

1. Requests whose deadline has passed lapse. A contact asked because its
   consent expired is suppressed for the list's marketing; one asked because
   it was inactive is removed from the list, or anonymized when the list says
   so and no other list still holds the person.
2. Subscribed contacts whose consent is older than `consent_months`, or who
   have neither opened nor clicked (nor consented again) for
   `inactive_months`, get a re-permission email with a signed link for this
   one purpose that expires at the deadline. Following it records a
   `reconfirmed` entry in the consent ledger.

A dry run (`report`) lists who each step would touch, without touching them.
Restricted contacts (GDPR Art. 18) are never mailed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    ConsentSource,
    Contact,
    MailingList,
    Subscription,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.subscriptions import check_move
from courriel.config import Settings
from courriel.core.audit import record_entry
from courriel.core.clock import Clock
from courriel.core.db import insert_for, transaction
from courriel.core.errors import NotFoundError
from courriel.core.ids import new_id
from courriel.core.models import Tenant, TenantStatus
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.core.tokens import sign
from courriel.events.models import Event, EventType
from courriel.privacy import storage_limit
from courriel.privacy.models import (
    ListGovernance,
    Repermission,
    RepermissionReason,
    RepermissionStatus,
)
from courriel.privacy.repermission_mail import RepermissionMail, RepermissionMailer
from courriel.privacy.repermission_rules import (
    anonymize_contact,
    due_requests,
    months_before,
    outcome_of,
    rules_in_force,
)

PURPOSE = "repermission"
ACTOR = "retention"
GIVEN = (ConsentAction.GIVEN, ConsentAction.CONFIRMED, ConsentAction.RECONFIRMED)


@dataclass(frozen=True)
class Affected:
    """One contact a run touches (or, in a dry run, would touch)."""

    # The list concerned; None when the whole person is (storage limitation).
    list_id: str | None
    contact_id: str
    email: str
    reason: RepermissionReason
    # send-repermission, suppress, remove or anonymize.
    action: str
    # When the contact last consented or was active (what made it due).
    since: dt.datetime | None
    deadline: dt.datetime | None


@dataclass
class RunSummary:
    """What a run did."""

    sent: int = 0
    suppressed: int = 0
    removed: int = 0
    anonymized: int = 0
    # Storage limitation: unconfirmed sign-ups forgotten, people who left reduced.
    forgotten: int = 0
    reduced: int = 0

    def add(self, other: RunSummary) -> None:
        """Fold another run's counts into this one."""
        self.sent += other.sent
        self.suppressed += other.suppressed
        self.removed += other.removed
        self.anonymized += other.anonymized
        self.forgotten += other.forgotten
        self.reduced += other.reduced


class Repermissions:
    """Runs the retention and consent-expiry rules of every list."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        secret_key: bytes,
        settings: Settings,
        mailer: RepermissionMailer,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._key = secret_key
        self._settings = settings
        self._mailer = mailer

    # The dry run --------------------------------------------------------------

    def report(self, principal: Principal, list_id: str | None = None) -> list[Affected]:
        """Who a run now would mail, suppress, remove or anonymize; changes nothing else."""
        principal.require(Capability.CONTACTS_READ)
        now = self._clock.now()
        affected: list[Affected] = []
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            if list_id is not None and session.get(MailingList, list_id) is None:
                raise NotFoundError(f"no list {list_id!r}")
            for rules in rules_in_force(session, list_id):
                affected += [
                    self._lapse_preview(session, r, rules)
                    for r in due_requests(session, rules, now)
                ]
                affected += [
                    Affected(
                        rules.list_id,
                        contact.id,
                        contact.email,
                        reason,
                        "send-repermission",
                        since,
                        now + dt.timedelta(days=rules.confirm_days),
                    )
                    for contact, reason, since in self._candidates(session, rules, now)
                ]
            if list_id is None:
                affected += [
                    Affected(
                        d.list_id,
                        d.contact_id,
                        d.email,
                        RepermissionReason.UNCONFIRMED
                        if d.action == "forget"
                        else RepermissionReason.ENDED,
                        d.action,
                        d.since,
                        None,
                    )
                    for d in storage_limit.due(session, now)
                ]
            # The report names people: looking at it is a view of personal data.
            record_entry(
                session,
                now,
                principal,
                "retention.report_viewed",
                f"list:{list_id}" if list_id else None,
                {"contacts": len(affected)},
            )
        return affected

    def _lapse_preview(
        self, session: Session, request: Repermission, rules: ListGovernance
    ) -> Affected:
        contact = session.get(Contact, request.contact_id)
        assert contact is not None
        return Affected(
            rules.list_id,
            contact.id,
            contact.email,
            request.reason,
            outcome_of(session, request, rules),
            request.sent_at,
            request.deadline,
        )

    # The run ------------------------------------------------------------------

    def run(self, principal: Principal) -> RunSummary:
        """One pass over the principal's tenant (what the periodic job does for each)."""
        principal.require(Capability.CONTACTS_WRITE)
        return self.run_tenant(principal.tenant_id)

    def run_all(self) -> RunSummary:
        """One pass over every active tenant; the retention job calls this periodically."""
        with self._storage.control() as session:
            tenants = list(
                session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE))
            )
        total = RunSummary()
        for tenant_id in tenants:
            total.add(self.run_tenant(tenant_id))
        return total

    def run_tenant(self, tenant_id: str) -> RunSummary:
        """Lapse what is due, then ask those who became due, list by list."""
        summary = RunSummary()
        factory = self._storage.tenant(tenant_id)
        with factory() as session:
            list_ids = [r.list_id for r in rules_in_force(session, None)]
        for list_id in list_ids:
            now = self._clock.now()
            with transaction(factory) as session:
                rules = session.get(ListGovernance, list_id)
                if rules is None:
                    continue
                done = [
                    self._lapse(session, r, rules, now, summary)
                    for r in due_requests(session, rules, now)
                ]
                # Recorded last: the chain head stays locked only from here to the commit.
                for action, subject, detail in filter(None, done):
                    record_entry(session, now, ACTOR, action, subject, detail)
            self._ask(tenant_id, list_id, summary)
        self._limit_storage(tenant_id, summary)
        return summary

    def _limit_storage(self, tenant_id: str, summary: RunSummary) -> None:
        now = self._clock.now()
        with transaction(self._storage.tenant(tenant_id)) as session:
            done: list[tuple[str, str, dict[str, object]]] = []
            for item in storage_limit.due(session, now):
                if item.action == "forget":
                    storage_limit.forget(session, item)
                    summary.forgotten += 1
                else:
                    storage_limit.reduce(
                        session, secret_key=self._key, tenant_id=tenant_id, item=item, now=now
                    )
                    summary.reduced += 1
                detail: dict[str, object] = {"list_id": item.list_id} if item.list_id else {}
                done.append((f"retention.{item.action}", f"contact:{item.contact_id}", detail))
            # Ids only in the trail; recorded last, as in `run_tenant`.
            for action, subject, detail in done:
                record_entry(session, now, ACTOR, action, subject, detail)

    def _ask(self, tenant_id: str, list_id: str, summary: RunSummary) -> None:
        now = self._clock.now()
        mails: list[RepermissionMail] = []
        with transaction(self._storage.tenant(tenant_id)) as session:
            rules = session.get(ListGovernance, list_id)
            mailing_list = session.get(MailingList, list_id)
            if rules is None or mailing_list is None:
                return
            deadline = now + dt.timedelta(days=rules.confirm_days)
            trail: list[tuple[str, dict[str, object]]] = []
            for contact, reason, since in self._candidates(session, rules, now):
                request_id, message_id = new_id("rpm"), new_id("msg")
                inserted = session.execute(
                    insert_for(session)(Repermission)
                    .values(
                        id=request_id,
                        list_id=list_id,
                        contact_id=contact.id,
                        reason=reason,
                        status=RepermissionStatus.PENDING,
                        open_slot="open",
                        message_id=message_id,
                        sent_at=now,
                        deadline=deadline,
                    )
                    .on_conflict_do_nothing(index_elements=["list_id", "contact_id", "open_slot"])
                )
                if not inserted.rowcount:  # type: ignore[attr-defined]
                    continue  # another run asked this contact a moment ago
                trail.append(
                    (
                        f"contact:{contact.id}",
                        {"list_id": list_id, "reason": reason.value, "since": since.isoformat()},
                    )
                )
                token = sign(self._key, PURPOSE, {"t": tenant_id, "r": request_id}, deadline)
                mails.append(
                    RepermissionMail(
                        tenant_id=tenant_id,
                        message_id=message_id,
                        contact_id=contact.id,
                        email=contact.email,
                        first_name=contact.first_name,
                        reason=reason.value,
                        confirm_url=f"{self._settings.public_url}/r/reconfirm?token={token}",
                    )
                )
            # Recorded last: the chain head stays locked only from here to the commit.
            for subject, detail in trail:
                record_entry(session, now, ACTOR, "retention.repermission_sent", subject, detail)
        # The requests are stored first: a crash before the spool leaves a
        # request that lapses without an email, never an email without a request.
        self._mailer.send(
            mails,
            list_name=mailing_list.name,
            purpose=mailing_list.purpose,
            deadline=deadline,
            now=now,
        )
        summary.sent += len(mails)

    def _candidates(
        self, session: Session, rules: ListGovernance, now: dt.datetime
    ) -> Iterator[tuple[Contact, RepermissionReason, dt.datetime]]:
        consented = (
            select(ConsentRecord.contact_id, func.max(ConsentRecord.occurred_at).label("at"))
            .where(ConsentRecord.list_id == rules.list_id, ConsentRecord.action.in_(GIVEN))
            .group_by(ConsentRecord.contact_id)
            .subquery()
        )
        active = (
            select(Event.contact_id, func.max(Event.occurred_at).label("at"))
            .where(Event.type.in_([EventType.OPENED, EventType.CLICKED]))
            .group_by(Event.contact_id)
            .subquery()
        )
        consent_at = func.coalesce(consented.c.at, Subscription.created_at, Subscription.updated_at)
        due = []
        if rules.consent_months:
            due.append(consent_at < months_before(now, rules.consent_months))
        if rules.inactive_months:
            cutoff = months_before(now, rules.inactive_months)
            due.append(and_(consent_at < cutoff, or_(active.c.at.is_(None), active.c.at < cutoff)))
        if not due:
            return
        asked = select(Repermission.contact_id).where(
            Repermission.list_id == rules.list_id,
            Repermission.status == RepermissionStatus.PENDING,
        )
        rows = session.execute(
            select(Contact, consent_at, active.c.at)
            .join(Subscription, Subscription.contact_id == Contact.id)
            .outerjoin(consented, consented.c.contact_id == Contact.id)
            .outerjoin(active, active.c.contact_id == Contact.id)
            .where(
                Subscription.list_id == rules.list_id,
                Subscription.status == S.SUBSCRIBED,
                Contact.restricted.is_(False),
                Contact.id.not_in(asked),
                or_(*due),
            )
            .order_by(Contact.id)
            .limit(self._settings.retention_batch)
        )
        for contact, consent_time, active_at in rows:
            expired = rules.consent_months and consent_time < months_before(
                now, rules.consent_months
            )
            if expired:
                yield contact, RepermissionReason.CONSENT_EXPIRED, consent_time
            else:
                yield (
                    contact,
                    RepermissionReason.INACTIVE,
                    max(consent_time, active_at or consent_time),
                )

    def _lapse(
        self,
        session: Session,
        request: Repermission,
        rules: ListGovernance,
        now: dt.datetime,
        summary: RunSummary,
    ) -> tuple[str, str, dict[str, object]] | None:
        """Let one request lapse; what to record in the trail (None: nothing happened)."""
        action = outcome_of(session, request, rules)
        request.status = RepermissionStatus.LAPSED
        request.open_slot = None
        request.resolved_at = now
        sub = session.scalar(
            select(Subscription).where(
                Subscription.list_id == request.list_id,
                Subscription.contact_id == request.contact_id,
            )
        )
        if sub is None or sub.status is not S.SUBSCRIBED:
            return None  # the person left (or was taken off) meanwhile: nothing to do
        session.add(
            ConsentRecord(
                contact_id=request.contact_id,
                list_id=request.list_id,
                action=ConsentAction.EXPIRED,
                source=ConsentSource.ADMIN,
                legal_basis=rules.legal_basis,
                purpose_text=f"not reconfirmed within {rules.confirm_days} days "
                f"({request.reason.value})",
                principal=ACTOR,
                occurred_at=now,
            )
        )
        if action == "suppress":
            check_move(sub.status, S.SUPPRESSED)
            sub.status = S.SUPPRESSED
            sub.updated_at = now
            summary.suppressed += 1
        else:
            session.delete(sub)
            if action == "anonymize":
                anonymize_contact(session, request.contact_id, now)
                summary.anonymized += 1
            else:
                summary.removed += 1
        return (
            f"retention.{action}",
            f"contact:{request.contact_id}",
            {"list_id": request.list_id, "reason": request.reason.value},
        )
