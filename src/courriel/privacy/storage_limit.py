"""Storage limitation (GDPR Art. 5(1)(e)): what is no longer needed goes.

Two rules, per list, with the tenant's defaults (`RetentionDefaults`) where
a list sets none:

- `pending_days`: a sign-up never confirmed is forgotten that many days
  after it was made — its subscription and its consent records; the contact
  too when nothing else holds it (no suppression: the person never opted in,
  so there is nothing to prove and nothing to refuse later);
- `ended_months`: a person who left every list (unsubscribed, bounced,
  complained, expired or suppressed) is reduced, that many months after the
  last of these, to what the law needs to keep: the suppression hash (so the
  address is never mailed again) and the consent ledger proving the opt-in
  and the opt-out, on a contact that no longer has an address, a name or
  properties.

The engine runs both with the other retention rules (`Repermissions`), and
the dry run names who each would touch.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from courriel.audience.models import (
    ConsentRecord,
    Contact,
    MailingList,
    Subscription,
    Suppression,
    SuppressionReason,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.core.addresses import tenant_address_hash
from courriel.events.models import Event
from courriel.privacy.models import ListGovernance, RetentionDefaults
from courriel.privacy.repermission_rules import ANONYMOUS_DOMAIN, anonymize_contact, months_before

_ENDED = (S.UNSUBSCRIBED, S.BOUNCED, S.COMPLAINED, S.SUPPRESSED)
# The suppression a reduced person keeps, by what ended their subscriptions.
_REASON = {
    S.COMPLAINED: SuppressionReason.COMPLAINT,
    S.BOUNCED: SuppressionReason.HARD_BOUNCE,
}


@dataclass(frozen=True)
class Due:
    """One person a storage-limitation run forgets or reduces."""

    list_id: str | None
    contact_id: str
    email: str
    action: str  # "forget" or "reduce"
    since: dt.datetime


@dataclass(frozen=True)
class Limits:
    """Each list's limits, its own or the tenant's default."""

    pending_days: dict[str, int]
    ended_months: dict[str, int]


def limits(session: Session) -> Limits:
    """The limits in force for every list of the tenant."""
    default = session.get(RetentionDefaults, 1)
    rules = {r.list_id: r for r in session.scalars(select(ListGovernance))}
    pending: dict[str, int] = {}
    ended: dict[str, int] = {}
    for mailing_list in session.scalars(select(MailingList)):
        row = rules.get(mailing_list.id)
        days = (
            (row.pending_days if row else None)
            or mailing_list.retention_days
            or (default.pending_days if default else None)
        )
        months = (row.ended_months if row else None) or (default.ended_months if default else None)
        if days:
            pending[mailing_list.id] = days
        if months:
            ended[mailing_list.id] = months
    return Limits(pending, ended)


def due(session: Session, now: dt.datetime) -> list[Due]:
    """Everyone a run now would forget or reduce."""
    found = limits(session)
    return [*_unconfirmed(session, found, now), *_ended(session, found, now)]


def _unconfirmed(session: Session, found: Limits, now: dt.datetime) -> Iterator[Due]:
    for list_id, days in sorted(found.pending_days.items()):
        rows = session.execute(
            select(Subscription.contact_id, Contact.email, Subscription.updated_at)
            .join(Contact, Contact.id == Subscription.contact_id)
            .where(
                Subscription.list_id == list_id,
                Subscription.status == S.PENDING,
                Subscription.updated_at < now - dt.timedelta(days=days),
            )
            .order_by(Subscription.contact_id)
        )
        for contact_id, email, since in rows:
            yield Due(list_id, contact_id, email, "forget", since)


def _ended(session: Session, found: Limits, now: dt.datetime) -> Iterator[Due]:
    if not found.ended_months:
        return
    subscriptions: dict[str, list[tuple[str, S, dt.datetime]]] = defaultdict(list)
    rows = session.execute(
        select(
            Subscription.contact_id,
            Subscription.list_id,
            Subscription.status,
            Subscription.updated_at,
        )
        .join(Contact, Contact.id == Subscription.contact_id)
        .where(Contact.email_domain != ANONYMOUS_DOMAIN)
    )
    for contact_id, list_id, status, updated in rows:
        subscriptions[contact_id].append((list_id, status, updated))
    for contact_id, subs in sorted(subscriptions.items()):
        # Due only when every list is over and each one's limit has passed.
        if any(status not in _ENDED for _l, status, _u in subs):
            continue
        if not all(
            list_id in found.ended_months
            and updated < months_before(now, found.ended_months[list_id])
            for list_id, _s, updated in subs
        ):
            continue
        email = session.scalar(select(Contact.email).where(Contact.id == contact_id))
        assert email is not None
        yield Due(None, contact_id, email, "reduce", max(u for _l, _s, u in subs))


def forget(session: Session, item: Due) -> None:
    """An unconfirmed sign-up: its subscription and consent go; the contact if nothing is left."""
    session.execute(
        delete(Subscription).where(
            Subscription.list_id == item.list_id, Subscription.contact_id == item.contact_id
        )
    )
    session.execute(
        delete(ConsentRecord).where(
            ConsentRecord.list_id == item.list_id, ConsentRecord.contact_id == item.contact_id
        )
    )
    held = session.scalar(
        select(Subscription.id).where(Subscription.contact_id == item.contact_id).limit(1)
    )
    if held is None:
        session.execute(
            update(Event).where(Event.contact_id == item.contact_id).values(contact_id=None)
        )
        session.execute(delete(ConsentRecord).where(ConsentRecord.contact_id == item.contact_id))
        session.execute(delete(Contact).where(Contact.id == item.contact_id))


def reduce(
    session: Session, *, secret_key: bytes, tenant_id: str, item: Due, now: dt.datetime
) -> None:
    """A person who left: the suppression hash and the consent ledger stay, nothing else."""
    statuses = set(
        session.scalars(
            select(Subscription.status).where(Subscription.contact_id == item.contact_id)
        )
    )
    reason = next((r for s, r in _REASON.items() if s in statuses), SuppressionReason.UNSUBSCRIBE)
    digest = tenant_address_hash(secret_key, tenant_id, item.email)
    if session.scalar(select(Suppression.id).where(Suppression.address_hash == digest)) is None:
        session.add(
            Suppression(
                address_hash=digest,
                reason=reason,
                # Where the evidence is: the ledger of this (address-less) contact.
                detail=f"consent ledger: contact {item.contact_id}",
                created_at=now,
            )
        )
    anonymize_contact(session, item.contact_id, now)
