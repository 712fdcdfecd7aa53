"""HTTP routes of the event log, statistics breakdowns and webhooks (under /v1)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query, Response

from courriel.core.schemas import PageOut
from courriel.events.models import EventType
from courriel.events.service import EventFilter
from courriel.tracking.schemas import (
    BreakdownOut,
    CreatedWebhookOut,
    EventOut,
    FiguresOut,
    ReplayIn,
    ReplayOut,
    WebhookDeliveryOut,
    WebhookIn,
    WebhookOut,
    WebhookPatch,
)
from courriel.tracking.service import Figures
from courriel.web.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep

router = APIRouter(tags=["events"])

IdQuery = Annotated[str | None, Query(max_length=40)]


@router.get("/events")
def list_events(
    services: ServicesDep,
    principal: PrincipalDep,
    *,
    type: Annotated[EventType | None, Query()] = None,  # noqa: A002 - the API's word
    campaign_id: IdQuery = None,
    contact_id: IdQuery = None,
    message_id: IdQuery = None,
    since: Annotated[dt.datetime | None, Query()] = None,
    until: Annotated[dt.datetime | None, Query()] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[EventOut]:
    """The tenant's events, oldest first, filtered by type, campaign, contact and time."""
    where = EventFilter(type, campaign_id, contact_id, message_id, since, until)
    page = services.events.query(principal, where, cursor, limit)
    return PageOut[EventOut].of(page)


def _figures(rows: list[Figures]) -> list[FiguresOut]:
    return [
        FiguresOut(key=f.key, figures=f.figures, rates=f.rates, position=f.position) for f in rows
    ]


@router.get("/campaigns/{campaign_id}/stats/{dimension}")
def campaign_breakdown(
    campaign_id: str, dimension: str, services: ServicesDep, principal: PrincipalDep
) -> BreakdownOut:
    """A campaign's figures per `link`, `provider` or `day`."""
    rows = services.stats.campaign_breakdown(principal, campaign_id, dimension)
    return BreakdownOut(campaign_id=campaign_id, dimension=dimension, data=_figures(rows))


@router.get("/stats/days")
def tenant_days(
    services: ServicesDep,
    principal: PrincipalDep,
    start: Annotated[dt.date, Query(description="First day (UTC)")],
    end: Annotated[dt.date, Query(description="Last day (UTC), included")],
) -> BreakdownOut:
    """The tenant's figures per day, every campaign together."""
    rows = services.stats.tenant_days(principal, start, end)
    return BreakdownOut(campaign_id=None, dimension="day", data=_figures(rows))


webhooks_router = APIRouter(tags=["webhooks"])


@webhooks_router.post("/webhooks", status_code=201)
def create_webhook(
    body: WebhookIn, services: ServicesDep, principal: PrincipalDep
) -> CreatedWebhookOut:
    """Add an endpoint; the URL must reach a public address (or an allowed network)."""
    created = services.webhooks.create(
        principal, body.url, body.event_types, body.description, style=body.format
    )
    out = WebhookOut.model_validate(created.endpoint, from_attributes=True)
    return CreatedWebhookOut(**out.model_dump(), secret=created.secret)


@webhooks_router.get("/webhooks")
def list_webhooks(services: ServicesDep, principal: PrincipalDep) -> PageOut[WebhookOut]:
    """The tenant's endpoints (a single page)."""
    rows = services.webhooks.list(principal)
    return PageOut(
        data=[WebhookOut.model_validate(e, from_attributes=True) for e in rows], next_cursor=None
    )


@webhooks_router.get("/webhooks/{endpoint_id}")
def get_webhook(endpoint_id: str, services: ServicesDep, principal: PrincipalDep) -> WebhookOut:
    """One endpoint, with why it was disabled if it was."""
    return WebhookOut.model_validate(
        services.webhooks.get(principal, endpoint_id), from_attributes=True
    )


@webhooks_router.patch("/webhooks/{endpoint_id}")
def update_webhook(
    endpoint_id: str, body: WebhookPatch, services: ServicesDep, principal: PrincipalDep
) -> WebhookOut:
    """Change an endpoint; `active: true` re-enables a disabled one."""
    endpoint = services.webhooks.update(
        principal,
        endpoint_id,
        url=body.url,
        event_types=body.event_types,
        description=body.description,
        active=body.active,
    )
    return WebhookOut.model_validate(endpoint, from_attributes=True)


@webhooks_router.delete("/webhooks/{endpoint_id}", status_code=204)
def delete_webhook(endpoint_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Remove an endpoint and its pending deliveries."""
    services.webhooks.delete(principal, endpoint_id)
    return Response(status_code=204)


@webhooks_router.get("/webhooks/{endpoint_id}/deliveries")
def list_deliveries(
    endpoint_id: str,
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[WebhookDeliveryOut]:
    """Deliveries of an endpoint, newest first."""
    page = services.webhooks.deliveries(principal, endpoint_id, cursor, limit)
    return PageOut[WebhookDeliveryOut].of(page)


@webhooks_router.post("/webhooks/{endpoint_id}/replay", status_code=202)
def replay_webhook(
    endpoint_id: str, body: ReplayIn, services: ServicesDep, principal: PrincipalDep
) -> ReplayOut:
    """Send again the events of the last 7 days (or since `since`) the endpoint wants."""
    return ReplayOut(queued=services.webhooks.replay(principal, endpoint_id, body.since))
