"""What is checked before every step, so a person's choices take effect at once.

Before any step acts, `check_before_step` asks, in this order:

1. restricted processing (GDPR Art. 18): nothing more is done; they leave;
2. a suppression of the address: a hard bounce, a complaint, an operator's
   suppression or an erasure end every workflow; an unsubscribe or an
   objection to direct marketing (Art. 21(3)) ends those that send marketing;
3. for a workflow that sends marketing: still subscribed to its consent
   list, and the latest word on consent is not a withdrawal or an expiry;
4. the goal: when it became true they leave, converted.

Erasure needs no check: it deletes the contact, and the enrollments with it
(foreign keys, ON DELETE CASCADE).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    Subscription,
    Suppression,
    SuppressionReason,
)
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.segments.service import segment_condition
from courriel.automation.graph import Definition
from courriel.automation.models import CustomEvent, Enrollment
from courriel.core.addresses import tenant_address_hash
from courriel.core.clock import Clock

_MARKETING_ONLY = (SuppressionReason.UNSUBSCRIBE, SuppressionReason.OBJECTION)
_CONSENT_WORDS = (
    ConsentAction.GIVEN,
    ConsentAction.CONFIRMED,
    ConsentAction.RECONFIRMED,
    ConsentAction.WITHDRAWN,
    ConsentAction.EXPIRED,
)
_ENDS = (ConsentAction.WITHDRAWN, ConsentAction.EXPIRED)


@dataclass(frozen=True)
class Verdict:
    """Why the person must not go on: `converted` (the goal) or a reason to leave."""

    converted: bool
    reason: str


def check_before_step(  # noqa: PLR0917 (the facts a check reads)
    session: Session,
    enrollment: Enrollment,
    contact: Contact,
    definition: Definition,
    secret_key: bytes,
    tenant_id: str,
    clock: Clock,
) -> Verdict | None:
    """None when the person may go on to the next step; otherwise why not."""
    if contact.restricted:
        return Verdict(converted=False, reason="restricted")
    marketing = any(s.settings["mail_class"] == "marketing" for s in definition.send_steps())
    reason = session.scalar(
        select(Suppression.reason).where(
            Suppression.address_hash == tenant_address_hash(secret_key, tenant_id, contact.email)
        )
    )
    if reason is not None and (marketing or reason not in _MARKETING_ONLY):
        return Verdict(converted=False, reason=f"suppressed ({reason.value})")
    if (
        marketing
        and definition.consent_list_id
        and not _consents(session, contact.id, definition.consent_list_id)
    ):
        return Verdict(converted=False, reason="unsubscribed or consent ended")
    if definition.goal is not None and goal_reached(session, enrollment, definition.goal, clock):
        return Verdict(converted=True, reason="goal reached")
    return None


def _consents(session: Session, contact_id: str, list_id: str) -> bool:
    status = session.scalar(
        select(Subscription.status).where(
            Subscription.contact_id == contact_id, Subscription.list_id == list_id
        )
    )
    if status is not S.SUBSCRIBED:
        return False
    latest = session.scalar(
        select(ConsentRecord.action)
        .where(
            ConsentRecord.contact_id == contact_id,
            or_(ConsentRecord.list_id == list_id, ConsentRecord.list_id.is_(None)),
            ConsentRecord.action.in_(_CONSENT_WORDS),
        )
        .order_by(ConsentRecord.id.desc())
        .limit(1)
    )
    return latest not in _ENDS


def goal_reached(
    session: Session, enrollment: Enrollment, goal: dict[str, str], clock: Clock
) -> bool:
    """Whether the workflow's goal is true for the person now."""
    if "event" in goal:
        return happened(session, enrollment.contact_id, goal["event"], enrollment.entered_at)
    found = session.scalar(
        select(Contact.id).where(
            Contact.id == enrollment.contact_id,
            segment_condition(session, goal["segment"], clock),
        )
    )
    return found is not None


def happened(session: Session, contact_id: str, name: str, since: dt.datetime) -> bool:
    """Whether the contact's application reported event `name` at or after `since`."""
    return (
        session.scalar(
            select(CustomEvent.id)
            .where(
                CustomEvent.contact_id == contact_id,
                CustomEvent.name == name,
                CustomEvent.occurred_at >= since,
            )
            .limit(1)
        )
        is not None
    )
