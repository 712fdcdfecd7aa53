"""Recording events: append to the log, bump the campaign counters, react.

Counters are kept in the same transaction as the events they count, so the
statistics of a campaign are read from a handful of rows, never by scanning
its events, and always equal the events they summarize.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from courriel.core.ids import new_id
from courriel.tracking.models import CampaignCounter, Event, EventType


@dataclass(frozen=True)
class NewEvent:
    """An event about to be recorded."""

    type: EventType
    occurred_at: dt.datetime
    campaign_id: str | None = None
    message_id: str | None = None
    contact_id: str | None = None
    lane: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    dedupe_key: str | None = None


Reaction = Callable[[Session, Event], None]


def record_events(
    session: Session, events: Sequence[NewEvent], reactions: Sequence[Reaction] = ()
) -> list[Event]:
    """Append events not yet recorded (by dedupe key) and update counters; return the new ones."""
    keys = [e.dedupe_key for e in events if e.dedupe_key is not None]
    seen: set[str] = set()
    if keys:
        seen = set(session.scalars(select(Event.dedupe_key).where(Event.dedupe_key.in_(keys))))
    stored: list[Event] = []
    counts: Counter[tuple[str, EventType]] = Counter()
    for new in events:
        if new.dedupe_key is not None:
            if new.dedupe_key in seen:
                continue
            seen.add(new.dedupe_key)
        event = Event(
            id=new_id("evt"),
            type=new.type,
            campaign_id=new.campaign_id,
            message_id=new.message_id,
            contact_id=new.contact_id,
            lane=new.lane,
            detail=new.detail,
            dedupe_key=new.dedupe_key,
            occurred_at=new.occurred_at,
        )
        session.add(event)
        stored.append(event)
        if new.campaign_id is not None:
            counts[(new.campaign_id, new.type)] += 1
    session.flush()
    _bump_counters(session, counts)
    for event in stored:
        for react in reactions:
            react(session, event)
    return stored


def _bump_counters(session: Session, counts: Counter[tuple[str, EventType]]) -> None:
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    for (campaign_id, event_type), count in counts.items():
        statement = insert(CampaignCounter).values(
            campaign_id=campaign_id, type=event_type, count=count
        )
        statement = statement.on_conflict_do_update(
            index_elements=[CampaignCounter.campaign_id, CampaignCounter.type],
            set_={"count": CampaignCounter.count + statement.excluded.count},
        )
        session.execute(statement)
