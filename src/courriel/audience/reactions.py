"""How the audience reacts to delivery events: hard bounces and complaints suppress.

These run inside the transaction that records the event, so an event and its
suppression are stored together or not at all.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, Subscription, Suppression, SuppressionReason
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.subscriptions import TRANSITIONS
from courriel.core.addresses import tenant_address_hash


def suppress_contact(
    session: Session,
    *,
    secret_key: bytes,
    tenant_id: str,
    contact_id: str,
    reason: SuppressionReason,
    detail: str,
    now: dt.datetime,
) -> None:
    """Suppress a contact's address and move its subscriptions to match the reason."""
    contact = session.get(Contact, contact_id)
    if contact is None:
        return
    address_hash = tenant_address_hash(secret_key, tenant_id, contact.email)
    exists = session.scalar(select(Suppression.id).where(Suppression.address_hash == address_hash))
    if exists is None:
        session.add(
            Suppression(
                address_hash=address_hash,
                reason=reason,
                detail=detail,
                created_at=now,
                address=None if reason is SuppressionReason.ERASURE else contact.email,
            )
        )
    target = {
        SuppressionReason.HARD_BOUNCE: S.BOUNCED,
        SuppressionReason.COMPLAINT: S.COMPLAINED,
        SuppressionReason.UNSUBSCRIBE: S.UNSUBSCRIBED,
    }.get(reason, S.SUPPRESSED)
    movable = TRANSITIONS.into(target)
    session.execute(
        update(Subscription)
        .where(Subscription.contact_id == contact_id, Subscription.status.in_(movable))
        .values(status=target, updated_at=now)
    )
