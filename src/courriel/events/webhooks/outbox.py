"""The webhook outbox: one row per (event, endpoint), written with the event itself.

The payload is built once and stored, so every attempt (and a replay) sends
the same JSON with the same stable event id.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.core.ids import new_id
from courriel.events.metrics import provider_of
from courriel.events.models import EventType
from courriel.events.webhooks.models import (
    DeliveryStatus,
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

ALL_TYPES = "*"
FORMATS = frozenset({"courriel", "mailjet"})
# Mailjet's event names for ours; an endpoint in Mailjet's format is sent
# these only (Mailjet has no queued, deferred or policy events). A message
# held before sending (suppressed) is Mailjet's "blocked" too.
MAILJET_EVENTS = {
    EventType.DELIVERED: "sent",
    EventType.OPENED: "open",
    EventType.CLICKED: "click",
    EventType.BOUNCED: "bounce",
    EventType.EXPIRED: "bounce",
    EventType.BLOCKED: "blocked",
    EventType.SKIPPED: "blocked",
    EventType.COMPLAINED: "spam",
    EventType.UNSUBSCRIBED: "unsub",
}


class EventLike(Protocol):
    """What the outbox reads of an event (a log row or a just-recorded event)."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> EventType: ...
    @property
    def occurred_at(self) -> dt.datetime: ...
    @property
    def campaign_id(self) -> str | None: ...
    @property
    def message_id(self) -> str | None: ...
    @property
    def contact_id(self) -> str | None: ...
    @property
    def lane(self) -> str | None: ...
    @property
    def detail(self) -> dict[str, Any]: ...


def event_payload(event: EventLike) -> str:
    """The JSON body announcing one event (compact, keys sorted: stable bytes)."""
    body = {
        "id": event.id,
        "type": event.type.value,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "campaign_id": event.campaign_id,
        "message_id": event.message_id,
        "contact_id": event.contact_id,
        "provider": provider_of(event.lane) if event.lane else None,
        "detail": event.detail,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


def subscribes(endpoint: WebhookEndpoint, event_type: str) -> bool:
    """Whether an endpoint wants events of this type (and its format can say it)."""
    if endpoint.format == "mailjet" and EventType(event_type) not in MAILJET_EVENTS:
        return False
    return ALL_TYPES in endpoint.event_types or event_type in endpoint.event_types


def enqueue_for_endpoints(session: Session, events: Sequence[EventLike]) -> int:
    """Add an outbox row for each new event and each active endpoint subscribing to it."""
    if not events:
        return 0
    endpoints = list(
        session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.status == EndpointStatus.ACTIVE)
        )
    )
    if not endpoints:
        return 0
    added = 0
    for event in events:
        wanted = [e for e in endpoints if subscribes(e, event.type.value)]
        if not wanted:
            continue
        payload = event_payload(event)
        for endpoint in wanted:
            session.add(new_delivery(endpoint.id, event, payload, event.occurred_at))
            added += 1
    return added


def new_delivery(
    endpoint_id: str, event: EventLike, payload: str, now: dt.datetime
) -> WebhookDelivery:
    """A pending outbox row, due at once."""
    return WebhookDelivery(
        id=new_id("whd"),
        endpoint_id=endpoint_id,
        event_id=event.id,
        event_type=event.type.value,
        payload=payload,
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
