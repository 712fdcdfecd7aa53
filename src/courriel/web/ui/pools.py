"""Settings, IP pools: the pools mail leaves from and how their warm-up stands.

A platform administrator (`PoolService.administrator`) sees every pool, its
addresses and EHLO names, who is assigned to it, and each warm-up plan's day,
cap, mail sent today and pause, with a button to resume a paused plan. Any
other user sees which pools their own account's mail leaves from. Pools are
created and assigned with the API or `courriel pools` (docs/operations.md).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.audience.branding import LANGUAGES
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import LANGUAGES as NAMES
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import ViewerDep


def router() -> APIRouter:
    """The IP pools page under settings."""
    pages = APIRouter(prefix="/app/settings/pools", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def pools(*, request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
        principal = viewer.principal
        admin = services.pools.is_administrator(principal)
        every = services.pools.pools(services.pools.administrator(principal)) if admin else []
        return render(
            request,
            viewer,
            "settings/pools.html",
            title=N_("IP pools"),
            admin=admin,
            pools=every,
            mine=services.pools.for_tenant(principal),
            resumed=request.query_params.get("done") == "resumed",
            languages=[(code, NAMES.get(code, code)) for code in LANGUAGES],
        )

    @pages.post("/{pool}/warmup/{provider}/resume", response_model=None)
    def resume(pool: str, provider: str, viewer: ViewerDep, services: ServicesDep) -> Response:
        admin = services.pools.administrator(viewer.principal)
        services.pools.resume_warmup(admin, pool, provider)
        return RedirectResponse("/app/settings/pools?done=resumed", status_code=303)

    return pages
