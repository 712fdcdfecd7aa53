"""Every page of the application, registered on the HTTP app in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from courriel.web.ui import (
    campaign_ab,
    campaign_links,
    campaigns,
    contacts,
    dashboard,
    domains,
    imports,
    keys,
    mail_templates,
    pools,
    preferences,
    privacy,
    segments,
    settings,
    statistics,
    sunset,
    suppressions,
    team,
    webhooks,
    workflows,
)
from courriel.web.ui.errors import error_page, wants_page

# Each page group is a module with a `router()`; add new groups here.
GROUPS = (
    dashboard,
    preferences,
    sunset,
    contacts,
    imports,
    team,
    domains,
    suppressions,
    webhooks,
    keys,
    segments,
    mail_templates,
    privacy,
    pools,
    settings,
    campaign_ab,
    campaign_links,
    campaigns,
    statistics,
    workflows,
)


def page_errors(request: Request, status: int, detail: str) -> Response | None:
    """An error of a browser on /app as a page; None for API clients."""
    return error_page(request, status, detail) if wants_page(request) else None


def install(app: FastAPI) -> None:
    """Add the application's pages to `app`."""
    for group in GROUPS:
        app.include_router(group.router())
