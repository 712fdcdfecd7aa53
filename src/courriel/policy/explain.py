"""The numbers behind a policy decision: figures of the window, and the campaigns,
lists and import sources that produced them.

Figures are read from the day counters the recorder keeps with the events
(`events.recorder`), and only the window's partial first day from the
event log: the status is on every dashboard view, and a window holds
every message the tenant sent in a week."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from courriel.audience.models import ContactImport, MailingList
from courriel.campaigns.models import Campaign, CampaignList
from courriel.events.metrics import TENANT_WIDE
from courriel.events.models import Event, EventType, StatCounter
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


# The day counter (`events.recorder`) each counted event adds exactly 1 to.
_METRIC: dict[EventType, str] = {
    EventType.DELIVERED: "delivered",
    EventType.BOUNCED: "bounced",
    EventType.BLOCKED: "blocked",
    EventType.EXPIRED: "expired",
    EventType.SENT: "sent",
    EventType.UNSUBSCRIBED: "unsubscribed",
    EventType.CLICKED: "clicks",
    EventType.COMPLAINED: "complained",
    EventType.SPAM_TRAP_HIT: "spam_trap_hits",
}
_TYPE_OF = {metric: kind for kind, metric in _METRIC.items()}


def _first_whole_day(since: dt.datetime) -> dt.datetime:
    """The first UTC midnight at or after `since`."""
    since = since.astimezone(dt.UTC)
    midnight = since.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight if midnight == since else midnight + dt.timedelta(days=1)


def _counts(session: Session, since: dt.datetime) -> dict[EventType, int]:
    """Events of each counted type since `since`, without reading a window of events.

    The whole days come from the tenant-wide day counters the recorder keeps
    with the events (a few rows a day); only the events of the partial first
    day are counted from the log, through its time index. A window of
    millions of events is then read in a few dozen rows.
    """
    whole = _first_whole_day(since)
    counts: dict[EventType, int] = defaultdict(int)
    rows = session.execute(
        select(Event.type, func.count())
        .where(Event.occurred_at >= since, Event.occurred_at < whole, Event.type.in_(_COUNTED))
        .group_by(Event.type)
    )
    for kind, count in rows:
        counts[kind] += int(count)
    days = session.execute(
        select(StatCounter.metric, func.sum(StatCounter.count))
        .where(
            StatCounter.campaign_id == TENANT_WIDE,
            StatCounter.dimension == "day",
            StatCounter.key >= whole.date().isoformat(),
            StatCounter.metric.in_(list(_TYPE_OF)),
        )
        .group_by(StatCounter.metric)
    )
    for metric, count in days:
        counts[_TYPE_OF[metric]] += int(count or 0)
    return dict(counts)


def _per_campaign(
    session: Session, since: dt.datetime, types: list[EventType]
) -> dict[str, dict[str, int]]:
    """Events of `types` per campaign since `since` (whole days from their day counters)."""
    whole = _first_whole_day(since)
    per_campaign: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    rows = session.execute(
        select(Event.campaign_id, Event.type, func.count())
        .where(
            Event.occurred_at >= since,
            Event.occurred_at < whole,
            Event.campaign_id.is_not(None),
            Event.type.in_(types),
        )
        .group_by(Event.campaign_id, Event.type)
    )
    for campaign_id, event_type, count in rows:
        if campaign_id is not None:
            per_campaign[campaign_id][event_type.value] += int(count)
    days = session.execute(
        select(StatCounter.campaign_id, StatCounter.metric, func.sum(StatCounter.count))
        .where(
            StatCounter.dimension == "day",
            StatCounter.key >= whole.date().isoformat(),
            StatCounter.campaign_id != TENANT_WIDE,
            StatCounter.metric.in_([_METRIC[t] for t in types]),
        )
        .group_by(StatCounter.campaign_id, StatCounter.metric)
    )
    for campaign_id, metric, count in days:
        per_campaign[campaign_id][_TYPE_OF[metric].value] += int(count or 0)
    return {c: dict(found) for c, found in per_campaign.items()}


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
    per_campaign: dict[str, dict[str, int]] = {}
    if types:
        per_campaign = _per_campaign(session, window_start, sorted({*types, *_FINAL}))
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
