"""The numbers behind a policy decision: figures of the window, and the campaigns,
lists and import sources that produced them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from courriel.audience.models import ContactImport, MailingList
from courriel.campaigns.models import Campaign, CampaignList
from courriel.events.models import Event, EventType
from courriel.policy.thresholds import Figures, Finding, crossed

# Which events each rule counts.
RULE_EVENTS: dict[str, EventType] = {
    "bounce_rate": EventType.BOUNCED,
    "unsubscribe_rate": EventType.UNSUBSCRIBED,
    "block_rate": EventType.BLOCKED,
    "complaint_rate": EventType.COMPLAINED,
    "complaints_per_day": EventType.COMPLAINED,
    "spam_trap_hits": EventType.SPAM_TRAP_HIT,
}
_FINAL = (EventType.DELIVERED, EventType.BOUNCED, EventType.BLOCKED, EventType.EXPIRED)
_COUNTED = (
    *_FINAL,
    EventType.SENT,
    EventType.UNSUBSCRIBED,
    EventType.CLICKED,
    EventType.COMPLAINED,
    EventType.SPAM_TRAP_HIT,
)
TOP_CAMPAIGNS = 5


def _counts(session: Session, since: dt.datetime) -> dict[EventType, int]:
    rows = session.execute(
        select(Event.type, func.count())
        .where(Event.occurred_at >= since, Event.type.in_(_COUNTED))
        .group_by(Event.type)
    )
    return {t: int(c) for t, c in rows}


def _sent(counts: dict[EventType, int]) -> int:
    # Sent: what the delivery engine settled (delivered, bounced, blocked,
    # expired), or its `sent` events when it reports them and they are more.
    return max(counts.get(EventType.SENT, 0), sum(counts.get(t, 0) for t in _FINAL))


def figures(session: Session, window_start: dt.datetime, day_start: dt.datetime) -> Figures:
    """The tenant's figures since `window_start`, and over the day since `day_start`."""
    window = _counts(session, window_start)
    day = _counts(session, day_start)
    return Figures(
        sent=_sent(window),
        bounced=window.get(EventType.BOUNCED, 0),
        blocked=window.get(EventType.BLOCKED, 0),
        unsubscribed=window.get(EventType.UNSUBSCRIBED, 0),
        clicks=window.get(EventType.CLICKED, 0),
        spam_trap_hits=window.get(EventType.SPAM_TRAP_HIT, 0),
        sent_day=_sent(day),
        complaints_day=day.get(EventType.COMPLAINED, 0),
    )


def explanation(
    session: Session,
    window_start: dt.datetime,
    now: dt.datetime,
    numbers: Figures,
    findings: list[Finding],
) -> dict[str, Any]:
    """Figures, the rules measured, and the campaigns, lists and imports behind the breaches."""
    over = [f for f in findings if crossed(f)] or [f for f in findings if f.value > 0]
    types = sorted({RULE_EVENTS[f.rule] for f in over})
    per_campaign: dict[str, dict[str, int]] = defaultdict(dict)
    if types:
        rows = session.execute(
            select(Event.campaign_id, Event.type, func.count())
            .where(
                Event.occurred_at >= window_start,
                Event.campaign_id.is_not(None),
                Event.type.in_([*types, *_FINAL]),
            )
            .group_by(Event.campaign_id, Event.type)
        )
        for campaign_id, event_type, count in rows:
            if campaign_id is not None:
                per_campaign[campaign_id][event_type.value] = int(count)
    ranked = sorted(
        per_campaign,
        key=lambda c: -sum(per_campaign[c].get(t.value, 0) for t in types),
    )
    top = [c for c in ranked if any(per_campaign[c].get(t.value, 0) for t in types)]
    top = top[:TOP_CAMPAIGNS]
    names = dict(
        session.execute(select(Campaign.id, Campaign.name).where(Campaign.id.in_(top))).all()
    )
    lists = session.execute(
        select(CampaignList.campaign_id, MailingList.id, MailingList.name)
        .join(MailingList, MailingList.id == CampaignList.list_id)
        .where(CampaignList.campaign_id.in_(top))
        .order_by(MailingList.id)
    ).all()
    list_ids = sorted({row[1] for row in lists})
    imports = session.scalars(
        select(ContactImport)
        .where(ContactImport.list_id.in_(list_ids))
        .order_by(ContactImport.created_at)
    ).all()
    return {
        "window": {"from": window_start.isoformat(), "to": now.isoformat()},
        "figures": {
            "sent": numbers.sent,
            "bounced": numbers.bounced,
            "blocked": numbers.blocked,
            "unsubscribed": numbers.unsubscribed,
            "clicks": numbers.clicks,
            "spam_trap_hits": numbers.spam_trap_hits,
            "sent_last_24h": numbers.sent_day,
            "complaints_last_24h": numbers.complaints_day,
        },
        "findings": [f.as_dict() for f in findings],
        "campaigns": [
            {
                "id": c,
                "name": names.get(c, ""),
                "sent": sum(per_campaign[c].get(t.value, 0) for t in _FINAL),
                "counts": {t.value: per_campaign[c].get(t.value, 0) for t in types},
                "lists": [row[1] for row in lists if row[0] == c],
            }
            for c in top
        ],
        "lists": [{"id": i, "name": next(r[2] for r in lists if r[1] == i)} for i in list_ids],
        "imports": [
            {
                "id": i.id,
                "list_id": i.list_id,
                "file_name": i.file_name,
                "source": i.source,
                "imported": i.imported,
                "created_at": i.created_at.isoformat(),
            }
            for i in imports
        ],
    }
