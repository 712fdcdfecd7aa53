"""What the bulk-sender rules measure from a tenant's events for one sender domain:
spam-complaint rate per mailbox provider, and unsubscribes honoured in time.

Both read the event log of the tenant's database over the campaigns whose
From address is at the domain (the statistics counters are per campaign, not
per day and domain, so the log is the source for a 30-day window).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from courriel.audience.models import ConsentAction, ConsentRecord
from courriel.campaigns.models import Campaign, CampaignList, MailClass
from courriel.events.metrics import provider_of
from courriel.events.models import Event, EventType

# Enough unsubscribes to judge, without reading an unbounded log.
MAX_UNSUBSCRIBES = 5000


@dataclass(frozen=True)
class ProviderRate:
    """Complaints over delivered messages at one mailbox provider."""

    provider: str
    delivered: int
    complained: int

    @property
    def rate(self) -> float:
        return self.complained / self.delivered if self.delivered else 0.0


def campaigns_from(session: Session, domain: str) -> list[str]:
    """The ids of the tenant's campaigns whose From address is at `domain`."""
    return list(
        session.scalars(
            select(Campaign.id).where(func.lower(Campaign.from_email).like(f"%@{domain}"))
        )
    )


def complaint_rates(
    session: Session, campaigns: list[str], since: dt.datetime
) -> list[ProviderRate]:
    """Per provider: messages delivered and complaints since `since`, most complained first."""
    if not campaigns:
        return []
    delivered: Counter[str] = Counter()
    complained: Counter[str] = Counter()
    rows = session.execute(
        select(Event.lane, func.count())
        .where(
            Event.type == EventType.DELIVERED,
            Event.campaign_id.in_(campaigns),
            Event.occurred_at >= since,
        )
        .group_by(Event.lane)
    )
    for found, count in rows:
        delivered[provider_of(found)] += count
    # A complaint comes back through a feedback loop, not from the lane; it
    # counts at the provider that delivered its message.
    sent = aliased(Event)
    delivered_lane = (
        select(sent.lane)
        .where(sent.message_id == Event.message_id, sent.type == EventType.DELIVERED)
        .limit(1)
        .scalar_subquery()
    )
    rows = session.execute(
        select(func.coalesce(Event.lane, delivered_lane), func.count())
        .where(
            Event.type == EventType.COMPLAINED,
            Event.campaign_id.in_(campaigns),
            Event.occurred_at >= since,
        )
        .group_by(func.coalesce(Event.lane, delivered_lane))
    )
    for complaint_lane, count in rows:
        complained[provider_of(complaint_lane)] += count
    rates = [ProviderRate(p, delivered[p], complained[p]) for p in set(delivered) | set(complained)]
    return sorted(rates, key=lambda r: (-r.rate, r.provider))


def late_unsubscribes(
    session: Session, campaigns: list[str], since: dt.datetime, grace: dt.timedelta
) -> tuple[int, int]:
    """(unsubscribes since `since`, those followed by marketing mail after `grace`).

    A contact who unsubscribed through a campaign of the domain and was later
    queued marketing mail of the domain to one of the same lists, more than
    `grace` after, without giving consent again in between, was not honoured.
    """
    if not campaigns:
        return 0, 0
    unsubscribes = session.execute(
        select(Event.contact_id, Event.campaign_id, Event.occurred_at)
        .where(
            Event.type == EventType.UNSUBSCRIBED,
            Event.campaign_id.in_(campaigns),
            Event.contact_id.is_not(None),
            Event.occurred_at >= since,
        )
        .order_by(Event.occurred_at)
        .limit(MAX_UNSUBSCRIBES)
    ).all()
    marketing = set(
        session.scalars(
            select(Campaign.id).where(
                Campaign.id.in_(campaigns), Campaign.mail_class == MailClass.MARKETING
            )
        )
    )
    late = 0
    for contact_id, campaign_id, at in unsubscribes:
        lists = select(CampaignList.list_id).where(CampaignList.campaign_id == campaign_id)
        later = select(CampaignList.campaign_id).where(CampaignList.list_id.in_(lists))
        queued = session.scalar(
            select(func.min(Event.occurred_at)).where(
                Event.type == EventType.QUEUED,
                Event.contact_id == contact_id,
                Event.campaign_id.in_(later),
                Event.campaign_id.in_(marketing),
                Event.occurred_at > at + grace,
            )
        )
        if queued is None:
            continue
        renewed = session.scalar(
            select(func.count()).where(
                ConsentRecord.contact_id == contact_id,
                ConsentRecord.action.in_(
                    [ConsentAction.GIVEN, ConsentAction.CONFIRMED, ConsentAction.RECONFIRMED]
                ),
                ConsentRecord.occurred_at > at,
                ConsentRecord.occurred_at <= queued,
            )
        )
        late += not renewed
    return len(unsubscribes), late
