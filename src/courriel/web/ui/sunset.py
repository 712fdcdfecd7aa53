"""A list's sunset policy: its months, how many subscribers it leaves out of marketing,
and the re-engagement segment of those (services: `SunsetService`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.core.errors import InvalidInputError
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep


def _page(
    request: Request,
    viewer: Viewer,
    services: ServicesDep,
    list_id: str,
    *,
    status: int = 200,
    error: str = "",
    value: str = "",
) -> HTMLResponse:
    summary = services.sunset.summary(viewer.principal, list_id)
    mailing_list = services.sunset.get_list(viewer.principal, list_id)
    return render(
        request,
        viewer,
        "contacts/sunset.html",
        status=status,
        title=N_("Sunset policy"),
        mailing_list=mailing_list,
        summary=summary,
        error=error,
        value=value or ("" if summary.months is None else str(summary.months)),
    )


def router() -> APIRouter:
    """The sunset page of a list."""
    pages = APIRouter(prefix="/app/contacts/lists/{list_id}/sunset", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def show(
        *, request: Request, list_id: str, viewer: ViewerDep, services: ServicesDep
    ) -> Response:
        return _page(request, viewer, services, list_id)

    @pages.post("", response_model=None)
    def change(
        *,
        request: Request,
        list_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        months: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        # An empty field turns the policy off; anything else must be a whole number.
        try:
            chosen = int(months) if months.strip() else None
        except ValueError:
            return _page(
                request,
                viewer,
                services,
                list_id,
                status=422,
                error=N_("Give a whole number of months, or leave the field empty to turn it off."),
                value=months,
            )
        try:
            services.sunset.set_months(viewer.principal, list_id, chosen)
        except InvalidInputError as refused:
            return _page(
                request, viewer, services, list_id, status=422, error=refused.reason, value=months
            )
        return RedirectResponse(f"/app/contacts/lists/{list_id}/sunset", status_code=303)

    @pages.post("/re-engagement", response_model=None)
    def reengage(
        *, request: Request, list_id: str, viewer: ViewerDep, services: ServicesDep
    ) -> Response:
        try:
            created = services.sunset.reengagement_segment(viewer.principal, list_id)
        except InvalidInputError as refused:
            return _page(request, viewer, services, list_id, status=422, error=refused.reason)
        return RedirectResponse(f"/app/segments/{created.segment.id}", status_code=303)

    return pages
