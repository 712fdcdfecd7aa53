"""Recording events: append to the log, bump the counters, fill the webhook outbox, react.

Counters are kept in the same transaction as the events they count, so the
statistics of a campaign are read from a handful of rows, never by scanning
its events, and always equal the events they summarize. Webhook deliveries
are written to the outbox in that transaction too: an event is announced
exactly when it exists.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from courriel.core.db import insert_for
from courriel.core.ids import new_id
from courriel.events.metrics import TENANT_WIDE, Facts, link_metrics, metrics, provider_of
from courriel.events.models import (
    CampaignCounter,
    EngagementFirst,
    Event,
    EventType,
    StatCounter,
)
from courriel.events.webhooks.outbox import enqueue_for_endpoints


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
CounterKey = tuple[str, str, str, str]  # campaign id, dimension, key, metric
# campaign id, day, lane, metrics, (link, its metrics): what an event adds to.
_Kind = tuple[str | None, str, str | None, tuple[str, ...], tuple[str, tuple[str, ...]] | None]


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as appended to the log (what counters, the outbox and callers see)."""

    id: str
    type: EventType
    occurred_at: dt.datetime
    campaign_id: str | None
    message_id: str | None
    contact_id: str | None
    lane: str | None
    detail: dict[str, Any]


def record_events(
    session: Session, events: Sequence[NewEvent], reactions: Sequence[Reaction] = ()
) -> list[StoredEvent]:
    """Append events not yet recorded (by dedupe key) and update counters; return the new ones.

    Rows are written with one multi-row INSERT (no ORM objects): opens and
    clicks arrive by the thousand per second and this is their write path.
    """
    keys = [e.dedupe_key for e in events if e.dedupe_key is not None]
    seen: set[str] = set()
    if keys:
        seen = set(session.scalars(select(Event.dedupe_key).where(Event.dedupe_key.in_(keys))))
    stored: list[StoredEvent] = []
    rows: list[dict[str, Any]] = []
    for new in events:
        if new.dedupe_key is not None:
            if new.dedupe_key in seen:
                continue
            seen.add(new.dedupe_key)
        event = StoredEvent(
            id=new_id("evt"),
            type=new.type,
            occurred_at=new.occurred_at,
            campaign_id=new.campaign_id,
            message_id=new.message_id,
            contact_id=new.contact_id,
            lane=new.lane,
            detail=new.detail,
        )
        stored.append(event)
        rows.append(
            {
                "id": event.id,
                "type": new.type,
                "campaign_id": new.campaign_id,
                "message_id": new.message_id,
                "contact_id": new.contact_id,
                "lane": new.lane,
                "detail": new.detail,
                "dedupe_key": new.dedupe_key,
                "occurred_at": new.occurred_at,
            }
        )
    if not rows:
        return stored
    stored = _insert(session, rows, stored)
    counts = Counter((e.campaign_id, e.type) for e in stored if e.campaign_id is not None)
    _bump_counters(session, counts)
    _bump_stats(session, stored)
    enqueue_for_endpoints(session, stored)
    if reactions:
        for event in stored:
            row = _as_row(event)
            for react in reactions:
                react(session, row)
    return stored


def _insert(
    session: Session, rows: list[dict[str, Any]], stored: list[StoredEvent]
) -> list[StoredEvent]:
    """Write the rows; the events actually written (a dedupe key may have won a race)."""
    table = Event.metadata.tables[Event.__tablename__]
    if all(row["dedupe_key"] is None for row in rows):
        session.connection().execute(insert(table), rows)
        return stored
    # Another engine may record the same outcome between the look-up and this
    # insert (two reporters of one finished message): the first one wins, the
    # second records nothing, instead of failing its whole batch.
    statement = insert_for(session)(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    written = session.connection().execute(statement.returning(table.c.id), rows)
    inserted = set(written.scalars())
    return stored if len(inserted) == len(stored) else [e for e in stored if e.id in inserted]


def _as_row(event: StoredEvent) -> Event:
    # Reactions take the mapped class; a transient copy is enough for them.
    return Event(
        id=event.id,
        type=event.type,
        campaign_id=event.campaign_id,
        message_id=event.message_id,
        contact_id=event.contact_id,
        lane=event.lane,
        detail=event.detail,
        occurred_at=event.occurred_at,
    )


_UPSERTS: dict[tuple[str, str], Any] = {}


def _adding_upsert(session: Session, table: Any) -> Any:
    """``INSERT … ON CONFLICT (primary key) DO UPDATE SET count = count + excluded.count``.

    Built once per dialect and table: building it (the `excluded` columns
    above all) cost more than executing it.
    """
    dialect = session.get_bind().dialect.name
    statement = _UPSERTS.get((dialect, table.name))
    if statement is None:
        statement = insert_for(session)(table)
        statement = statement.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={"count": table.c.count + statement.excluded.count},
        )
        _UPSERTS[(dialect, table.name)] = statement
    return statement


def _bump_counters(session: Session, counts: Counter[tuple[str, EventType]]) -> None:
    if not counts:
        return
    statement = _adding_upsert(session, CampaignCounter.__table__)
    # One statement for every counter of the batch, in key order (concurrent
    # writers then lock the rows in the same order: no deadlock).
    rows = [
        {"campaign_id": campaign_id, "type": kind, "count": count}
        for (campaign_id, kind), count in sorted(counts.items())
    ]
    session.connection().execute(statement, rows)


_ENGAGEMENT = (EventType.OPENED, EventType.CLICKED)


def _bump_stats(session: Session, stored: Sequence[StoredEvent]) -> None:
    if not stored:
        return
    firsts = _Firsts(session, [e for e in stored if e.type in _ENGAGEMENT])
    # Events that add to the same counters are counted together first (a
    # batch of clicks is a few kinds of event many times), then each kind is
    # spread over its counters once.
    kinds: Counter[_Kind] = Counter()
    for event in stored:
        facts = _facts(event, firsts)
        link = None
        if event.campaign_id is not None and "link" in event.detail:
            link = (str(event.detail["link"]), tuple(link_metrics(facts)))
        day = _day(event.occurred_at)
        kinds[(event.campaign_id, day, event.lane, tuple(metrics(facts)), link)] += 1
    firsts.save()
    statement = _adding_upsert(session, StatCounter.__table__)
    rows = [
        {"campaign_id": c, "dimension": d, "key": k, "metric": m, "count": n}
        for (c, d, k, m), n in sorted(_spread(kinds).items())
    ]
    if rows:
        session.connection().execute(statement, rows)


def _spread(kinds: Counter[_Kind]) -> Counter[CounterKey]:
    """The counter increments of `kinds` (each kind of event counted `n` times)."""
    counts: Counter[CounterKey] = Counter()
    for (campaign_id, day, lane, event_metrics, link), n in kinds.items():
        provider = provider_of(lane) if lane else None
        for metric in event_metrics:
            counts[(TENANT_WIDE, "day", day, metric)] += n
            if campaign_id is None:
                continue
            counts[(campaign_id, "all", "", metric)] += n
            counts[(campaign_id, "day", day, metric)] += n
            if provider is not None:
                counts[(campaign_id, "provider", provider, metric)] += n
        if campaign_id is not None and link is not None:
            key, per_link = link
            for metric in per_link:
                counts[(campaign_id, "link", key, metric)] += n
    return counts


def _day(at: dt.datetime) -> str:
    if at.tzinfo is not dt.UTC:
        at = at.astimezone(dt.UTC)
    return f"{at.year:04d}-{at.month:02d}-{at.day:02d}"


def _facts(event: StoredEvent, firsts: _Firsts) -> Facts:
    message = event.message_id
    if message is None or event.type not in _ENGAGEMENT:
        return Facts(type=event.type, detail=event.detail)
    if event.type is EventType.OPENED:
        human = not event.detail.get("machine")
        return Facts(
            type=event.type,
            detail=event.detail,
            first_open=firsts.claim(message, "open"),
            first_human_open=human and firsts.claim(message, "human-open"),
        )
    # A scanner's click is not a person's: it is kept out of unique clicks.
    person = not event.detail.get("scanner")
    return Facts(
        type=event.type,
        detail=event.detail,
        first_click=person and firsts.claim(message, "click"),
        first_link_click=person and firsts.claim(message, f"click:{event.detail.get('link')}"),
    )


class _Firsts:
    """Which (message, kind) pairs already happened; new ones are saved with the events."""

    def __init__(self, session: Session, events: Sequence[StoredEvent]) -> None:
        self._session = session
        ids = sorted({e.message_id for e in events if e.message_id is not None})
        self._known: set[tuple[str, str]] = set()
        if ids:
            rows = session.execute(
                select(EngagementFirst.message_id, EngagementFirst.kind).where(
                    EngagementFirst.message_id.in_(ids)
                )
            )
            self._known = {(m, k) for m, k in rows}
        self._new: list[tuple[str, str]] = []

    def claim(self, message_id: str, kind: str) -> bool:
        """True the first time (message, kind) is seen, ever."""
        if (message_id, kind) in self._known:
            return False
        self._known.add((message_id, kind))
        self._new.append((message_id, kind))
        return True

    def save(self) -> None:
        self._session.add_all(EngagementFirst(message_id=m, kind=k) for m, k in self._new)
        self._session.flush()
