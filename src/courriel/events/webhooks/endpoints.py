"""Webhook use cases: endpoints, their deliveries, and replays of recent events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import InvalidInputError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, check_limit
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage
from courriel.events.models import Event, EventType
from courriel.events.webhooks.models import (
    EndpointStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookTenant,
)
from courriel.events.webhooks.outbox import (
    ALL_TYPES,
    FORMATS,
    event_payload,
    new_delivery,
    subscribes,
)
from courriel.events.webhooks.signer import new_secret
from courriel.events.webhooks.ssrf import Network, Resolve, check_url, system_resolve

REPLAY_WINDOW = dt.timedelta(days=7)
MAX_ENDPOINTS = 20
_TYPES = frozenset(t.value for t in EventType)


@dataclass(frozen=True)
class CreatedEndpoint:
    """A new endpoint and its signing secret (shown this once)."""

    endpoint: WebhookEndpoint
    secret: str


def _check_types(event_types: Sequence[str]) -> list[str]:
    if not event_types:
        raise InvalidInputError("event_types", "name at least one event type, or '*'")
    for index, value in enumerate(event_types):
        if value != ALL_TYPES and value not in _TYPES:
            raise InvalidInputError(f"event_types.{index}", f"unknown event type {value!r}")
    return sorted(set(event_types))


class WebhookService:
    """Per-tenant webhook endpoints."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        allowed: Sequence[Network] = (),
        resolve: Resolve = system_resolve,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._allowed = tuple(allowed)
        self._resolve = resolve

    def create(
        self,
        principal: Principal,
        url: str,
        event_types: Sequence[str],
        description: str = "",
        *,
        style: str = "courriel",
    ) -> CreatedEndpoint:
        """Save an endpoint after the SSRF guard accepted its URL.

        `style` is the body's format: "courriel", or "mailjet" (Mailjet's
        event fields, see `outbox.MAILJET_EVENTS`).
        """
        if style not in FORMATS:
            raise InvalidInputError("format", f"one of {', '.join(sorted(FORMATS))}")
        principal.require(Capability.WEBHOOKS_MANAGE)
        types = _check_types(event_types)
        check_url(url, self._resolve, self._allowed)
        now = self._clock.now()
        secret = new_secret()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            count = len(list(session.scalars(select(WebhookEndpoint.id))))
            if count >= MAX_ENDPOINTS:
                raise InvalidInputError("url", f"a tenant has at most {MAX_ENDPOINTS} endpoints")
            endpoint = WebhookEndpoint(
                id=new_id("whk"),
                url=url,
                description=description,
                event_types=types,
                secret=secret,
                masked=principal.masks,
                status=EndpointStatus.ACTIVE,
                created_at=now,
                format=style,
            )
            session.add(endpoint)
        self._register_tenant(principal.tenant_id, now)
        return CreatedEndpoint(endpoint=endpoint, secret=secret)

    def _register_tenant(self, tenant_id: str, now: dt.datetime) -> None:
        with transaction(self._storage.control) as session:
            if session.get(WebhookTenant, tenant_id) is None:
                session.add(WebhookTenant(tenant_id=tenant_id, registered_at=now))

    def list(self, principal: Principal) -> list[WebhookEndpoint]:
        """The tenant's endpoints (at most a few dozen)."""
        principal.require(Capability.WEBHOOKS_MANAGE)
        with self._storage.tenant(principal.tenant_id)() as session:
            return list(session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id)))

    def get(self, principal: Principal, endpoint_id: str) -> WebhookEndpoint:
        """One endpoint of the tenant."""
        principal.require(Capability.WEBHOOKS_MANAGE)
        with self._storage.tenant(principal.tenant_id)() as session:
            return _endpoint(session, endpoint_id)

    def update(
        self,
        principal: Principal,
        endpoint_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> WebhookEndpoint:
        """Change an endpoint; `active=True` re-enables a disabled one."""
        principal.require(Capability.WEBHOOKS_MANAGE)
        types = _check_types(event_types) if event_types is not None else None
        if url is not None:
            check_url(url, self._resolve, self._allowed)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            endpoint = _endpoint(session, endpoint_id)
            if url is not None:
                endpoint.url = url
            if types is not None:
                endpoint.event_types = types
            if description is not None:
                endpoint.description = description
            if active is True and endpoint.status is EndpointStatus.DISABLED:
                endpoint.status = EndpointStatus.ACTIVE
                endpoint.failing_since = None
                endpoint.disabled_reason = ""
            elif active is False:
                endpoint.status = EndpointStatus.DISABLED
                endpoint.disabled_reason = "disabled by the tenant"
            return endpoint

    def delete(self, principal: Principal, endpoint_id: str) -> None:
        """Remove an endpoint and its outbox rows."""
        principal.require(Capability.WEBHOOKS_MANAGE)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            endpoint = _endpoint(session, endpoint_id)
            for delivery in session.scalars(
                select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
            ):
                session.delete(delivery)
            session.delete(endpoint)

    def deliveries(
        self, principal: Principal, endpoint_id: str, cursor: str | None, limit: int
    ) -> Page[WebhookDelivery]:
        """Deliveries of an endpoint, newest first."""
        principal.require(Capability.WEBHOOKS_MANAGE)
        check_limit(limit)
        with self._storage.tenant(principal.tenant_id)() as session:
            _endpoint(session, endpoint_id)
            statement = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
            if cursor is not None:
                statement = statement.where(WebhookDelivery.id < cursor)
            rows = list(
                session.scalars(statement.order_by(WebhookDelivery.id.desc()).limit(limit + 1))
            )
        more = len(rows) > limit
        rows = rows[:limit]
        return Page(items=rows, next_cursor=rows[-1].id if more and rows else None)

    def replay(
        self, principal: Principal, endpoint_id: str, since: dt.datetime | None = None
    ) -> int:
        """Queue again every event of the last 7 days (or since `since`) the endpoint wants."""
        principal.require(Capability.WEBHOOKS_MANAGE)
        now = self._clock.now()
        oldest = now - REPLAY_WINDOW
        if since is not None:
            if since.tzinfo is None:
                raise InvalidInputError("since", "must carry a time zone")
            if since < oldest:
                raise InvalidInputError("since", "replays reach back at most 7 days")
            oldest = since
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            endpoint = _endpoint(session, endpoint_id)
            if endpoint.status is not EndpointStatus.ACTIVE:
                raise InvalidInputError("endpoint", "re-enable the endpoint before a replay")
            events = session.scalars(
                select(Event).where(Event.occurred_at >= oldest).order_by(Event.seq)
            )
            count = 0
            for event in events:
                if subscribes(endpoint, event.type.value):
                    session.add(new_delivery(endpoint.id, event, event_payload(event), now))
                    count += 1
        return count


def _endpoint(session: Session, endpoint_id: str) -> WebhookEndpoint:
    return get_or_not_found(session, WebhookEndpoint, endpoint_id, "webhook endpoint")
