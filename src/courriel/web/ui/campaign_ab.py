"""A/B/n test of a draft campaign: its variants, the share of the audience that
tests them, what makes a variant win, and starting the test.

Registered before `campaigns` (routes.GROUPS): `/app/campaigns/{id}/ab-test`
would otherwise be taken for one of that module's `/{id}/{action}` posts.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from courriel.campaigns.abtest import MAX_VARIANTS, VariantSpec
from courriel.campaigns.models import AbMetric
from courriel.core.errors import ConflictError, InvalidInputError
from courriel.web.deps import ServicesDep
from courriel.web.ui.campaigns import detail_page
from courriel.web.ui.i18n import N_
from courriel.web.ui.viewer import ViewerDep

# Rows of the set-up form: enough for A/B/C, a test of more variants goes through the API.
ROWS = 3


def router() -> APIRouter:
    """The A/B set-up of a campaign."""
    pages = APIRouter(prefix="/app/campaigns", include_in_schema=False)
    pages.add_api_route("/{campaign_id}/ab-test", create, methods=["POST"], response_model=None)
    pages.add_api_route(
        "/{campaign_id}/ab-test/start", start, methods=["POST"], response_model=None
    )
    return pages


def create(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    campaign_id: str,
    *,
    template: Annotated[list[str] | None, Form()] = None,
    from_name: Annotated[list[str] | None, Form()] = None,
    test_share: Annotated[str, Form(max_length=10)] = "",
    metric: Annotated[str, Form(max_length=10)] = "",
    wait_minutes: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    templates = (template or [])[:MAX_VARIANTS]
    names = (from_name or [])[:MAX_VARIANTS]
    rows = max(len(templates), len(names))
    templates += [""] * (rows - len(templates))
    names += [""] * (rows - len(names))
    given = {
        "template": templates,
        "from_name": names,
        "test_share": test_share,
        "metric": metric,
        "wait_minutes": wait_minutes,
    }
    errors: dict[str, str] = {}
    specs = [
        VariantSpec(template_id=t or None, from_name=n.strip() or None)
        for t, n in zip(templates, names, strict=True)
        if t or n.strip()
    ]
    if len(specs) < 2:
        errors["variants"] = N_("Give at least two variants: a template or a sender name.")
    share = _number(test_share)
    if share is None or not 1 <= share <= 90:
        errors["test_share"] = N_("A percentage from 1 to 90.")
    wait = _number(wait_minutes)
    if wait is None or not 1 <= wait <= 10_080:
        errors["wait_minutes"] = N_("From 1 minute to 7 days (10080 minutes).")
    if metric not in {m.value for m in AbMetric}:
        errors["metric"] = N_("Choose opens or clicks.")
    if errors or share is None or wait is None:
        return detail_page(
            request, viewer, services, campaign_id, status=422, ab=given, ab_errors=errors
        )
    try:
        services.ab_tests.create(
            viewer.principal,
            campaign_id,
            specs,
            test_share=share,
            metric=AbMetric(metric),
            wait_minutes=wait,
        )
    except (InvalidInputError, ConflictError) as refused:
        return detail_page(
            request,
            viewer,
            services,
            campaign_id,
            status=409 if isinstance(refused, ConflictError) else 422,
            ab=given,
            problem=str(refused),
        )
    return RedirectResponse(f"/app/campaigns/{campaign_id}?done=ab", status_code=303)


def start(request: Request, viewer: ViewerDep, services: ServicesDep, campaign_id: str) -> Response:
    found = services.ab_tests.of_campaign(viewer.principal, campaign_id)
    if found is None:
        return detail_page(request, viewer, services, campaign_id, status=404)
    try:
        services.ab_tests.start(viewer.principal, found[0].id)
    except (InvalidInputError, ConflictError) as refused:
        return detail_page(
            request,
            viewer,
            services,
            campaign_id,
            status=409 if isinstance(refused, ConflictError) else 422,
            problem=str(refused),
        )
    return RedirectResponse(f"/app/campaigns/{campaign_id}?done=ab-start", status_code=303)


def _number(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None
