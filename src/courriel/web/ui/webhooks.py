"""Webhooks: endpoints (the SSRF guard of events/webhooks checks every URL),
their signing secret shown once, the delivery log of each, disable, replay, delete."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.core.errors import InvalidInputError
from courriel.core.masking import mask_addresses
from courriel.events.models import EventType
from courriel.events.webhooks.outbox import ALL_TYPES
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

PAGE = 50
EVENT_TYPES = [t.value for t in EventType]
FORMATS = (("courriel", N_("Courriel's fields")), ("mailjet", N_("Mailjet's event API fields")))
IdPath = Annotated[str, "an endpoint id"]
NO_STORE = {"Cache-Control": "no-store"}


def _field(name: str) -> str:
    """The form field an error of the service is about (`event_types.2` → `event_types`)."""
    return name.partition(".")[0] if name.startswith("event_types") else name


def _listing(
    request: Request,
    viewer: Viewer,
    services: ServicesDep,
    *,
    status: int = 200,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
) -> HTMLResponse:
    return render(
        request,
        viewer,
        "admin/webhooks.html",
        status=status,
        title=N_("Webhooks"),
        endpoints=services.webhooks.list(viewer.principal),
        event_types=EVENT_TYPES,
        formats=FORMATS,
        form=form or {"url": "", "description": "", "events": [ALL_TYPES], "format": "courriel"},
        errors=errors or {},
        notice=notice,
    )


def router() -> APIRouter:
    """The webhook pages."""
    pages = APIRouter(prefix="/app/webhooks", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def webhooks(
        *,
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        done: Annotated[str, Query(max_length=10)] = "",
    ) -> HTMLResponse:
        notice = N_("The endpoint is deleted.") if done == "deleted" else ""
        return _listing(request, viewer, services, notice=notice)

    @pages.post("", response_model=None)
    def create(
        *,
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        url: Annotated[str, Form(max_length=2048)] = "",
        description: Annotated[str, Form(max_length=200)] = "",
        events: Annotated[list[str] | None, Form()] = None,
        style: Annotated[str, Form(alias="format", max_length=20)] = "courriel",
    ) -> Response:
        chosen = list(events or [])
        form = {"url": url, "description": description, "events": chosen, "format": style}
        try:
            created = services.webhooks.create(
                viewer.principal, url.strip(), chosen, description, style=style
            )
        except InvalidInputError as bad:
            errors = {_field(bad.field): bad.reason}
            return _listing(request, viewer, services, status=422, form=form, errors=errors)
        # The secret exists only in this answer: no redirect could carry it safely,
        # and nothing may keep a copy of the page.
        response = render(
            request,
            viewer,
            "admin/webhook_created.html",
            status=201,
            title=N_("Endpoint created"),
            endpoint=created.endpoint,
            secret=created.secret,
        )
        response.headers.update(NO_STORE)
        return response

    @pages.get("/{endpoint_id}", response_class=HTMLResponse)
    def one(
        *,
        request: Request,
        endpoint_id: IdPath,
        viewer: ViewerDep,
        services: ServicesDep,
        cursor: Annotated[str | None, Query(max_length=40)] = None,
        done: Annotated[str, Query(max_length=10)] = "",
    ) -> HTMLResponse:
        endpoint = services.webhooks.get(viewer.principal, endpoint_id)
        page = services.webhooks.deliveries(viewer.principal, endpoint.id, cursor, PAGE)
        base = f"/app/webhooks/{endpoint.id}"
        next_url = (
            base + "?" + urlencode({"cursor": page.next_cursor}) if page.next_cursor else None
        )
        masks = viewer.principal.masks
        deliveries = [
            {
                "row": d,
                "error": mask_addresses(d.last_error) if masks else d.last_error,
            }
            for d in page.items
        ]
        notices = {
            "disabled": N_("The endpoint is disabled: it receives nothing until enabled again."),
            "enabled": N_("The endpoint is enabled."),
        }
        return render(
            request,
            viewer,
            "admin/webhook.html",
            title=N_("Webhook endpoint"),
            endpoint=endpoint,
            deliveries=deliveries,
            next_url=next_url,
            first_url=base if cursor else None,
            notice=notices.get(done, ""),
            replayed=int(done[7:]) if done.startswith("replay-") and done[7:].isdigit() else None,
        )

    @pages.post("/{endpoint_id}/active", response_model=None)
    def set_active(
        endpoint_id: IdPath,
        viewer: ViewerDep,
        services: ServicesDep,
        active: Annotated[str, Form(max_length=5)] = "",
    ) -> Response:
        on = active == "true"
        endpoint = services.webhooks.update(viewer.principal, endpoint_id, active=on)
        done = "enabled" if on else "disabled"
        return RedirectResponse(f"/app/webhooks/{endpoint.id}?done={done}", status_code=303)

    @pages.post("/{endpoint_id}/replay", response_model=None)
    def replay(endpoint_id: IdPath, viewer: ViewerDep, services: ServicesDep) -> Response:
        queued = services.webhooks.replay(viewer.principal, endpoint_id)
        return RedirectResponse(
            f"/app/webhooks/{endpoint_id}?done=replay-{queued}", status_code=303
        )

    @pages.post("/{endpoint_id}/delete", response_model=None)
    def delete(endpoint_id: IdPath, viewer: ViewerDep, services: ServicesDep) -> Response:
        services.webhooks.delete(viewer.principal, endpoint_id)
        return RedirectResponse("/app/webhooks?done=deleted", status_code=303)

    return pages
