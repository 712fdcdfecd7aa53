"""One-click unsubscribe (RFC 8058): the recipient of a message leaves its lists.

The message (a campaign recipient) names the contact and the campaign, the
campaign names its lists. Each subscription of the contact to those lists
moves to `unsubscribed` through the transition table, with a `withdrawn`
entry in the consent ledger, and one `unsubscribed` event is recorded for
the message. Doing it twice changes nothing more: mail clients retry the
POST, and a person may click twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
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
from courriel.audience.subscriptions import can_move, check_move
from courriel.campaigns.models import CampaignList, CampaignRecipient
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events

ONE_CLICK_FORM = "one-click-unsubscribe"
_HOW = {
    "one-click": "One-click unsubscribe (RFC 8058)",
    "mailto": "Unsubscribe by mail to the List-Unsubscribe address (RFC 2369)",
}


@dataclass(frozen=True)
class UnsubscribeOutcome:
    """What an unsubscribe did: the lists left now (empty when already done)."""

    message_id: str
    lists_left: tuple[str, ...]
    event_recorded: bool


def lists_of_message(session: Session, message_id: str) -> list[MailingList] | None:
    """The lists the message was sent to (None: no such message)."""
    recipient = session.get(CampaignRecipient, message_id)
    if recipient is None:
        return None
    return list(
        session.scalars(
            select(MailingList)
            .join(CampaignList, CampaignList.list_id == MailingList.id)
            .where(CampaignList.campaign_id == recipient.campaign_id)
            .order_by(MailingList.name)
        )
    )


def language_of_message(session: Session, message_id: str) -> str:
    """The language of the person a campaign message went to ("" when unknown)."""
    recipient = session.get(CampaignRecipient, message_id)
    if recipient is None or recipient.contact_id is None:
        return ""
    language = session.scalar(select(Contact.language).where(Contact.id == recipient.contact_id))
    return language or ""


def unsubscribe_recipient(
    session: Session,
    *,
    message_id: str,
    now: dt.datetime,
    ip: str | None = None,
    user_agent: str | None = None,
    method: str = "one-click",
) -> UnsubscribeOutcome | None:
    """Unsubscribe the contact of a message from the message's lists (None: no such message).

    `method` says how the person asked: "one-click" (RFC 8058 POST) or
    "mailto" (a mail to the List-Unsubscribe address, RFC 2369)."""
    recipient = session.get(CampaignRecipient, message_id)
    if recipient is None:
        return None
    left: list[str] = []
    if recipient.contact_id is not None:
        subscriptions = session.scalars(
            select(Subscription)
            .join(CampaignList, CampaignList.list_id == Subscription.list_id)
            .where(
                CampaignList.campaign_id == recipient.campaign_id,
                Subscription.contact_id == recipient.contact_id,
            )
            .order_by(Subscription.list_id)
        )
        for subscription in subscriptions:
            # Already unsubscribed (or bounced, suppressed…): nothing to undo or redo.
            if subscription.status is S.UNSUBSCRIBED or not can_move(
                subscription.status, S.UNSUBSCRIBED
            ):
                continue
            check_move(subscription.status, S.UNSUBSCRIBED)
            subscription.status = S.UNSUBSCRIBED
            subscription.updated_at = now
            left.append(subscription.list_id)
            session.add(
                ConsentRecord(
                    contact_id=recipient.contact_id,
                    list_id=subscription.list_id,
                    action=ConsentAction.WITHDRAWN,
                    source=ConsentSource.FORM,
                    legal_basis="consent",
                    purpose_text=f"{_HOW.get(method, method)} from message {message_id}",
                    form_id=ONE_CLICK_FORM,
                    ip=ip,
                    user_agent=(user_agent or "")[:500] or None,
                    principal="recipient",
                    occurred_at=now,
                )
            )
    stored = record_events(
        session,
        [
            NewEvent(
                type=EventType.UNSUBSCRIBED,
                occurred_at=now,
                campaign_id=recipient.campaign_id,
                message_id=message_id,
                contact_id=recipient.contact_id,
                detail={"method": method, "lists": left},
                dedupe_key=f"{message_id}:unsubscribed",
            )
        ],
    )
    return UnsubscribeOutcome(
        message_id=message_id, lists_left=tuple(left), event_recorded=bool(stored)
    )
