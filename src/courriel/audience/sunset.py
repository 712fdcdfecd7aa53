"""Sunset policy: subscribers who no longer open or click are left out of marketing.

Mailbox providers judge a sender by how its recipients react; mail that goes
on landing, unread, in inboxes that stopped caring drags the whole list into
spam. So each list has `sunset_months`: a contact subscribed to it for longer
than that, with no open and no click of any mail in that time, is "sunset"
on the list, and marketing campaigns leave it out by default (campaign
audience resolution). A campaign may include them again (its plan's
`include_sunset`): that is the re-engagement step, aimed at the segment
``sunset "<list id>"`` (audience/sunset_policy.py saves it).

Why on by default, and why not for old lists: a demanding sender expects the
safe behaviour without having to know about it, so lists created from now on
start at `DEFAULT_MONTHS`; lists that existed before keep what they did (the
migration leaves them off), since leaving people out of a campaign nobody
changed would surprise their owner. Either can be changed per list.

Engagement is only seen where it can be: a list whose mail is not tracked,
or a contact who objected to tracking (GDPR Art. 21), is never sunset. A
month here is 30 days, as in the segment language (``opened within 360 days``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact, MailingList
from courriel.events.models import Event, EventType

DEFAULT_MONTHS = 12
MAX_MONTHS = 120
DAYS_PER_MONTH = 30


def cutoff(now: dt.datetime, months: int) -> dt.datetime:
    """The instant before which no open or click means sunset."""
    return now - dt.timedelta(days=DAYS_PER_MONTH * months)


def sunset_subscription(sub: Any, months: int, now: dt.datetime) -> ColumnElement[bool]:
    """`sub` (a Subscription, or an alias of it) belongs to a contact sunset after `months`.

    Correlated on the outer `Contact`: subscribed (or re-subscribed) before
    the cutoff, no open or click since, and tracking not refused.
    """
    since = cutoff(now, months)
    engaged = exists().where(
        Event.contact_id == sub.contact_id,
        Event.type.in_([EventType.OPENED, EventType.CLICKED]),
        Event.occurred_at >= since,
    )
    return and_(sub.updated_at < since, Contact.no_tracking.is_(false()), ~engaged)


def sunset_on_lists(sub: Any, months: Mapping[str, int], now: dt.datetime) -> ColumnElement[bool]:
    """`sub` is on one of these lists (id → months) and sunset there."""
    parts = [
        and_(sub.list_id == list_id, sunset_subscription(sub, n, now))
        for list_id, n in months.items()
    ]
    return or_(*parts) if parts else false()


def list_months(session: Session, list_ids: Any) -> dict[str, int]:
    """The sunset months of those of `list_ids` (ids or a subquery) where the policy is on.

    A list whose mail is not tracked has no opens to go by: never sunset.
    """
    rows = session.execute(
        select(MailingList.id, MailingList.sunset_months).where(
            MailingList.id.in_(list_ids),
            MailingList.sunset_months.is_not(None),
            MailingList.tracking.is_(True),
        )
    )
    return {list_id: int(months or 0) for list_id, months in rows}
