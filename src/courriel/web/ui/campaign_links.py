"""The tenant's switch for link checking, offered on a campaign's check section.

Registered before `campaigns` (routes.GROUPS): `/app/campaigns/{id}/link-check`
would otherwise be taken for one of that module's `/{id}/{action}` posts.
The switch is the tenant's (all its campaigns); it is offered where its
effect is seen, and leads back to the campaign it was used from.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from courriel.core.errors import InvalidInputError
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.viewer import ViewerDep

DONE = {
    "link-check-on": N_("Every link will be fetched before a campaign is sent."),
    "link-check-off": N_("Links are no longer fetched before a campaign is sent."),
}


def router() -> APIRouter:
    """The link-check switch."""
    pages = APIRouter(prefix="/app/campaigns", include_in_schema=False)
    pages.add_api_route("/{campaign_id}/link-check", switch, methods=["POST"], response_model=None)
    return pages


def switch(
    viewer: ViewerDep,
    services: ServicesDep,
    campaign_id: str,
    on: Annotated[str, Form(max_length=1)] = "",
) -> Response:
    """Turn the tenant's link check of campaigns on (`on=1`) or off (`on=0`)."""
    if on not in ("0", "1"):
        raise InvalidInputError("on", "must be 1 (check links) or 0 (do not)")
    # The campaign is looked up first: the redirect goes to a stored campaign
    # of this tenant, or the answer is a 404.
    campaign = services.campaigns.get(viewer.principal, campaign_id)
    services.link_check_preferences.set(viewer.principal, campaigns=on == "1")
    done = "link-check-on" if on == "1" else "link-check-off"
    return RedirectResponse(f"/app/campaigns/{campaign.id}?done={done}", status_code=303)
