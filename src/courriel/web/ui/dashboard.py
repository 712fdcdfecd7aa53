"""The dashboard: the sending-policy state and why, 30 days of figures, recent
campaigns, and what needs attention (unverified domains, limits drawing near)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from courriel.core.principal import Capability
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

DAYS = 30
# A finding at this share of its limit is worth a warning before it is crossed.
NEAR = 0.8
RECENT = 5
CHARTED = (
    (N_("Delivered"), "delivered"),
    (N_("Opened"), "opened"),
    (N_("Clicked"), "clicked"),
    (N_("Bounced"), "bounced"),
    (N_("Complaints"), "complained"),
    (N_("Unsubscribed"), "unsubscribed"),
)


def router() -> APIRouter:
    """The dashboard page."""
    pages = APIRouter(prefix="/app", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def dashboard(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
        return render(request, viewer, "dashboard.html", **_figures(viewer, services))

    return pages


def _figures(viewer: Viewer, services: ServicesDep) -> dict[str, Any]:
    principal = viewer.principal
    found: dict[str, Any] = {
        "title": N_("Dashboard"),
        "policy": None,
        "near": [],
        "days": [],
        "series": [],
        "totals": {},
        "campaigns": [],
        "unverified": [],
        "blocklists": [],
    }
    if viewer.can(Capability.STATS_READ):
        status = services.policy.status(principal)
        found["policy"] = status
        found["blocklists"] = services.blocklists.listings(principal)
        findings = status.current.get("findings", [])
        found["near"] = [f for f in findings if float(f.get("ratio", 0)) >= NEAR]
        end = services.clock.now().date()
        # Tenant-wide figures are refused to a user limited to some lists.
        days = (
            services.stats.tenant_days(principal, end - dt.timedelta(days=DAYS - 1), end)
            if principal.lists is None
            else []
        )
        found["days"] = [d.key for d in days]
        found["series"] = [
            {"label": label, "values": [d.figures.get(key, 0) for d in days]}
            for label, key in CHARTED
        ]
        found["totals"] = {key: sum(d.figures.get(key, 0) for d in days) for _, key in CHARTED}
    if viewer.can(Capability.CAMPAIGNS_READ):
        found["campaigns"] = services.campaigns.list(principal, None, RECENT).items
    if viewer.can(Capability.KEYS_MANAGE):
        found["unverified"] = [
            d
            for d in services.sender_domains.list_domains(principal)
            if d.status.value != "verified"
        ]
    return found
