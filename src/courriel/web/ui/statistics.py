"""Statistics: the tenant's figures per day and the campaigns to pick, then one
campaign over time, per provider, per link and per day, its A/B variants side
by side, and its figures as CSV.

Everything is read from counters (`StatsService`): a few rows per campaign
whatever its audience, never a scan of events or recipients.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from courriel.core.errors import ForbiddenError
from courriel.core.principal import Capability
from courriel.events.metrics import FIGURES
from courriel.tracking.service import Figures
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

DAYS = 30
PAGE = 25
# What the charts and tables show, in this order (the CSV has every figure).
SHOWN = (
    (N_("Delivered"), "delivered"),
    (N_("Unique opens"), "unique_opens"),
    (N_("Clicks"), "clicks"),
    (N_("Unique clicks"), "unique_clicks"),
    (N_("Bounced"), "bounced"),
    (N_("Unsubscribed"), "unsubscribed"),
    (N_("Complaints"), "complained"),
)
# A link is only clicked: its other figures are the campaign's.
LINK_SHOWN = ((N_("Clicks"), "clicks"), (N_("Unique clicks"), "unique_clicks"))
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def router() -> APIRouter:
    """The statistics pages."""
    pages = APIRouter(prefix="/app/statistics", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def overview(
        request: Request, viewer: ViewerDep, services: ServicesDep, cursor: str | None = None
    ) -> HTMLResponse:
        principal = viewer.principal
        principal.require(Capability.STATS_READ)
        end = services.clock.now().date()
        try:
            days = services.stats.tenant_days(principal, end - dt.timedelta(days=DAYS - 1), end)
        except ForbiddenError:
            # A user limited to some lists sees its campaigns, not the tenant's totals.
            days = []
        page = (
            services.campaigns.list(principal, cursor, PAGE)
            if viewer.can(Capability.CAMPAIGNS_READ)
            else None
        )
        return render(
            request,
            viewer,
            "statistics/overview.html",
            title=N_("Statistics"),
            days=[d.key for d in days],
            series=_series(days),
            totals={key: sum(d.figures.get(key, 0) for d in days) for _, key in SHOWN},
            shown=SHOWN,
            campaigns=page.items if page else [],
            next_url=f"/app/statistics?cursor={page.next_cursor}"
            if page and page.next_cursor
            else None,
            first_url="/app/statistics" if cursor else None,
        )

    @pages.get("/{campaign_id}.csv", response_model=None)
    def download(viewer: ViewerDep, services: ServicesDep, campaign_id: str) -> Response:
        found = _campaign_figures(viewer, services, campaign_id)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["dimension", "key", *FIGURES])
        writer.writerow(
            ["campaign", campaign_id, *(found["stats"].figures.get(f, 0) for f in FIGURES)]
        )
        for dimension in ("day", "provider", "link"):
            for row in found[dimension]:
                writer.writerow(
                    [dimension, _cell(row.key), *(row.figures.get(f, 0) for f in FIGURES)]
                )
        return Response(
            out.getvalue(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="campaign-{campaign_id}.csv"'},
        )

    @pages.get("/{campaign_id}", response_class=HTMLResponse)
    def campaign(
        request: Request, viewer: ViewerDep, services: ServicesDep, campaign_id: str
    ) -> HTMLResponse:
        return render(
            request,
            viewer,
            "statistics/campaign.html",
            title=N_("Campaign statistics"),
            **_campaign_figures(viewer, services, campaign_id),
        )

    @pages.get("/{campaign_id}/figures", response_class=HTMLResponse)
    def figures(
        request: Request, viewer: ViewerDep, services: ServicesDep, campaign_id: str
    ) -> HTMLResponse:
        return render(
            request,
            viewer,
            "statistics/figures.html",
            title=N_("Campaign statistics"),
            **_campaign_figures(viewer, services, campaign_id),
        )

    return pages


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA) else text


def _series(rows: list[Figures]) -> list[dict[str, Any]]:
    return [
        {"label": label, "values": [r.figures.get(key, 0) for r in rows]} for label, key in SHOWN
    ]


def _campaign_figures(viewer: Viewer, services: ServicesDep, campaign_id: str) -> dict[str, Any]:
    principal = viewer.principal
    stats = services.stats
    campaign = services.campaigns.get(principal, campaign_id)
    summary = stats.campaign(principal, campaign_id)
    days = stats.campaign_breakdown(principal, campaign_id, "day")
    found: dict[str, Any] = {
        "campaign": campaign,
        "stats": summary,
        "day": days,
        "provider": stats.campaign_breakdown(principal, campaign_id, "provider"),
        "link": stats.campaign_breakdown(principal, campaign_id, "link"),
        "x": [d.key for d in days],
        "breakdowns": {},
        "series": _series(days),
        "shown": SHOWN,
        "link_shown": LINK_SHOWN,
        "variants": [],
        "test": None,
        "polling": summary.status in ("scheduled", "sending", "paused", "sent"),
    }
    found["breakdowns"] = {k: found[k] for k in ("provider", "link", "day")}
    test = services.ab_tests.of_campaign(principal, campaign_id)
    if test is not None:
        found["test"] = test[0]
        found["variants"] = [
            (v.label, v.campaign_id, stats.campaign(principal, v.campaign_id)) for v in test[1]
        ]
    return found
