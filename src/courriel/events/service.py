"""The event query use case: a tenant's event log, filtered and paginated."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Select, select, table
from sqlalchemy import column as sql_column

from courriel.core.audit import record_entry
from courriel.core.clock import Clock, SystemClock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError
from courriel.core.masking import mask_addresses_in
from courriel.core.pagination import Page, check_limit
from courriel.core.principal import Capability, FieldAccess, Principal
from courriel.core.storage import Storage
from courriel.events.models import Event, EventType


@dataclass(frozen=True)
class EventFilter:
    """What to look for; every field is optional."""

    type: EventType | None = None
    campaign_id: str | None = None
    contact_id: str | None = None
    message_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None


class EventService:
    """Reads the append-only event log, oldest first, by keyset pages."""

    def __init__(self, storage: Storage, clock: Clock | None = None) -> None:
        self._storage = storage
        self._clock = clock or SystemClock()

    def query(
        self, principal: Principal, where: EventFilter, cursor: str | None, limit: int
    ) -> Page[Event]:
        """One page of the tenant's events matching `where`, after `cursor`."""
        principal.require(Capability.EVENTS_READ)
        check_limit(limit)
        statement = select(Event)
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 19:
                raise InvalidInputError("cursor", "is not a cursor from a previous page")
            statement = statement.where(Event.seq > int(cursor))
        for name in ("since", "until"):
            value = getattr(where, name)
            if value is not None and value.tzinfo is None:
                raise InvalidInputError(name, "must carry a time zone (e.g. Z)")
        if where.since is not None and where.until is not None and where.until < where.since:
            raise InvalidInputError("until", "must not be before since")
        statement = _within_lists(_filtered(statement, where), principal)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            rows = list(session.scalars(statement.order_by(Event.seq).limit(limit + 1)))
            if where.contact_id is not None:
                # One person's history is a read of their personal data.
                record_entry(
                    session,
                    self._clock.now(),
                    principal,
                    "events.viewed",
                    f"contact:{where.contact_id}",
                    {"masked": principal.masks},
                )
        more = len(rows) > limit
        rows = [_shown(principal, e) for e in rows[:limit]]
        return Page(items=rows, next_cursor=str(rows[-1].seq) if more and rows else None)


# The audience's subscriptions, named here as a bare table: events sit below
# the audience and never import it, but a principal limited to some lists
# reaches only the events of contacts on them.
_SUBSCRIPTIONS = table("subscriptions", sql_column("contact_id"), sql_column("list_id"))


def _within_lists(statement: Select[Event], principal: Principal) -> Select[Event]:
    if principal.lists is None:
        return statement
    on_lists = select(_SUBSCRIPTIONS.c.contact_id).where(
        _SUBSCRIPTIONS.c.list_id.in_(sorted(principal.lists))
    )
    return statement.where(Event.contact_id.in_(on_lists))


def _shown(principal: Principal, event: Event) -> Event:
    """The event as the principal may see it: addresses in its detail masked."""
    if principal.access("email") is not FieldAccess.HIDDEN or not event.detail:
        return event
    copy = Event(**{c.key: getattr(event, c.key) for c in Event.__table__.columns})
    copy.detail = mask_addresses_in(event.detail)  # type: ignore[assignment]
    return copy


def _filtered(statement: Select[Event], where: EventFilter) -> Select[Event]:
    equal = {
        Event.type: where.type,
        Event.campaign_id: where.campaign_id,
        Event.contact_id: where.contact_id,
        Event.message_id: where.message_id,
    }
    for column, value in equal.items():
        if value is not None:
            statement = statement.where(column == value)
    if where.since is not None:
        statement = statement.where(Event.occurred_at >= where.since)
    if where.until is not None:
        statement = statement.where(Event.occurred_at < where.until)
    return statement
