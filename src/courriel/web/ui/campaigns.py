"""Campaigns: the list, a new campaign, one campaign with its pre-send checks,
its schedule in a time zone, send, live progress, pause / resume / cancel.

The A/B/n set-up lives in `campaign_ab.py`; both render `campaigns/detail.html`
through `detail_page` here. Every action is a POST that redirects back to the
campaign (post/redirect/get); a refused action re-renders the page with 422 or
409 and the reason, the user's input kept.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.campaigns.models import Campaign, CampaignStatus
from courriel.core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from courriel.core.principal import Capability
from courriel.web.deps import ServicesDep
from courriel.web.ui.campaign_links import DONE as LINK_CHECK_DONE
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

PAGE = 25
# Choices offered on a form (templates, lists): the first page of each.
CHOICES = 100
# A campaign whose messages have all found their outcome stops polling its progress.
_FINAL = (CampaignStatus.SENT, CampaignStatus.CANCELLED)
_ACTIONS = {
    "send": N_("Sending started."),
    "pause": N_("Paused: waiting messages left the queue."),
    "resume": N_("Sending resumed."),
    "cancel": N_("Cancelled: nothing more will be sent."),
    "unschedule": N_("The schedule is removed: the campaign is a draft again."),
    "schedule": N_("Scheduled."),
    "ab": N_("The A/B test is set up: start it when ready."),
    "ab-start": N_("The A/B test started: the winner goes to the rest after the wait."),
}

# Words the pages show for statuses and checks, marked here to be translated.
WORDS = (
    N_("draft"),
    N_("scheduled"),
    N_("sending"),
    N_("paused"),
    N_("sent"),
    N_("cancelled"),
    N_("testing"),
    N_("decided"),
    N_("ok"),
    N_("warning"),
    N_("limited"),
    N_("suspended"),
    N_("opens"),
    N_("clicks"),
)
# The content checklist's items, named for people.
CHECKS = {
    "unsubscribe_link": N_("Unsubscribe link"),
    "sender_identification": N_("Sender named"),
    "text_image_ratio": N_("Text and images"),
    "spammy_phrases": N_("Spam-like phrases"),
    "forbidden_content": N_("Forbidden content"),
    "spamassassin": N_("SpamAssassin score"),
    "links": N_("Links"),
    "subject_length": N_("Subject length"),
    "link_check": N_("Links fetched"),
    "link_redirects": N_("Links leaving their domain"),
    "sunset": N_("Left out by sunset"),
}


@functools.cache
def zones() -> list[str]:
    """Every IANA time zone this system knows, sorted."""
    return sorted(zoneinfo.available_timezones())


def router() -> APIRouter:
    """The campaign pages."""
    pages = APIRouter(prefix="/app/campaigns", include_in_schema=False)
    html = HTMLResponse
    pages.add_api_route("", campaigns, methods=["GET"], response_class=html)
    pages.add_api_route("/new", new, methods=["GET"], response_class=html)
    pages.add_api_route("/new", create, methods=["POST"], response_model=None)
    pages.add_api_route("/{campaign_id}", campaign, methods=["GET"], response_class=html)
    pages.add_api_route("/{campaign_id}/progress", progress, methods=["GET"], response_class=html)
    pages.add_api_route("/{campaign_id}/schedule", schedule, methods=["POST"], response_model=None)
    pages.add_api_route("/{campaign_id}/{action}", act, methods=["POST"], response_model=None)
    return pages


def campaigns(
    request: Request, viewer: ViewerDep, services: ServicesDep, cursor: str | None = None
) -> HTMLResponse:
    """The tenant's campaigns, a page at a time."""
    page = services.campaigns.list(viewer.principal, cursor, PAGE)
    return render(
        request,
        viewer,
        "campaigns/list.html",
        title=N_("Campaigns"),
        campaigns=page.items,
        next_url=f"/app/campaigns?cursor={page.next_cursor}" if page.next_cursor else None,
        first_url="/app/campaigns" if cursor else None,
    )


def new(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
    """The form of a new campaign."""
    viewer.principal.require(Capability.CAMPAIGNS_WRITE)
    return _form(request, viewer, services, given={"lists": []}, errors={})


def create(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    *,
    name: Annotated[str, Form(max_length=400)] = "",
    template_id: Annotated[str, Form(max_length=40)] = "",
    from_email: Annotated[str, Form(max_length=400)] = "",
    from_name: Annotated[str, Form(max_length=400)] = "",
    lists: Annotated[list[str] | None, Form()] = None,
    segment_id: Annotated[str, Form(max_length=40)] = "",
    include_sunset: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    """Create a draft; a refused input shows the form again with the reason by the field."""
    chosen = [x for x in (lists or [])[:100] if x]
    given = {
        "name": name,
        "template_id": template_id,
        "from_email": from_email,
        "from_name": from_name,
        "lists": chosen,
        "segment_id": segment_id,
        "include_sunset": bool(include_sunset),
    }
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = N_("Give the campaign a name.")
    if not template_id:
        errors["template_id"] = N_("Choose a template.")
    if not chosen:
        errors["lists"] = N_("Choose at least one list.")
    if errors:
        return _form(request, viewer, services, given=given, errors=errors, status=422)
    try:
        created = services.campaigns.create(
            viewer.principal,
            name=name,
            template_id=template_id,
            list_ids=chosen,
            from_email=from_email,
            from_name=from_name,
        )
    except InvalidInputError as refused:
        field = refused.field.split(".")[0]
        errors[field if field in given else "name"] = refused.reason
        return _form(request, viewer, services, given=given, errors=errors, status=422)
    if segment_id or include_sunset:
        try:
            services.campaign_control.configure(
                viewer.principal,
                created.id,
                segment_id=segment_id or None,
                include_sunset=bool(include_sunset),
            )
        except InvalidInputError as refused:
            # The draft exists: its page says the segment was not set.
            return detail_page(
                request, viewer, services, created.id, status=422, problem=refused.reason
            )
    return RedirectResponse(f"/app/campaigns/{created.id}?created=true", status_code=303)


def campaign(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    campaign_id: str,
    *,
    done: str = "",
    created: bool = False,
) -> HTMLResponse:
    """One campaign."""
    message = (
        N_("The campaign is created as a draft.")
        if created
        else _ACTIONS.get(done) or LINK_CHECK_DONE.get(done)
    )
    return detail_page(request, viewer, services, campaign_id, done=message)


def progress(
    request: Request, viewer: ViewerDep, services: ServicesDep, campaign_id: str
) -> HTMLResponse:
    """The progress fragment, polled by htmx."""
    return render(
        request,
        viewer,
        "campaigns/progress.html",
        title=N_("Progress"),
        **_progress(viewer, services, campaign_id),
    )


def _schedule_errors(
    services: ServicesDep, local: str, zone: str
) -> tuple[dt.datetime | None, dict[str, str]]:
    """The instant meant by a wall-clock time in a zone, or why there is none."""
    errors: dict[str, str] = {}
    tz: zoneinfo.ZoneInfo | None = None
    try:
        tz = zoneinfo.ZoneInfo(zone.strip()) if zone.strip() else None
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        tz = None
    if tz is None:
        errors["zone"] = N_("Choose a known time zone, such as Europe/Paris.")
    try:
        wall = dt.datetime.fromisoformat(local) if local else None
    except ValueError:
        wall = None
    if wall is None or wall.tzinfo is not None:
        errors["local"] = N_("Give a date and a time.")
        return None, errors
    if tz is None:
        return None, errors
    at = wall.replace(tzinfo=tz)
    if at <= services.clock.now():
        errors["local"] = N_("This time has passed: choose one in the future.")
        return None, errors
    return at, errors


def schedule(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    campaign_id: str,
    *,
    local: Annotated[str, Form(max_length=40)] = "",
    zone: Annotated[str, Form(max_length=80)] = "",
) -> Response:
    """Schedule at a wall-clock time in a zone: stored in UTC, shown back in the zone."""
    given = {"local": local, "zone": zone}
    at, errors = _schedule_errors(services, local, zone)
    if at is None:
        return detail_page(
            request, viewer, services, campaign_id, status=422, schedule=given, errors=errors
        )
    try:
        services.campaign_control.schedule(
            viewer.principal, campaign_id, at=at, default_timezone=zone.strip()
        )
    except (InvalidInputError, ConflictError) as refused:
        return detail_page(
            request,
            viewer,
            services,
            campaign_id,
            status=_status(refused),
            schedule=given,
            problem=str(refused),
        )
    return RedirectResponse(f"/app/campaigns/{campaign_id}?done=schedule", status_code=303)


def act(
    request: Request, viewer: ViewerDep, services: ServicesDep, campaign_id: str, action: str
) -> Response:
    """Send, pause, resume, cancel or unschedule."""
    control = services.campaign_control
    steps = {
        "send": control.send,
        "pause": control.pause,
        "resume": control.resume,
        "cancel": control.cancel,
        "unschedule": control.unschedule,
    }
    step = steps.get(action)
    if step is None:
        raise NotFoundError(f"no action {action!r}")
    try:
        step(viewer.principal, campaign_id)
    except (InvalidInputError, ConflictError) as refused:
        return detail_page(
            request, viewer, services, campaign_id, status=_status(refused), problem=str(refused)
        )
    return RedirectResponse(f"/app/campaigns/{campaign_id}?done={action}", status_code=303)


def _status(error: Exception) -> int:
    return 409 if isinstance(error, ConflictError) else 422


def _form(
    request: Request,
    viewer: Viewer,
    services: ServicesDep,
    *,
    given: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    principal = viewer.principal
    templates = (
        services.templates.list(principal, None, CHOICES).items
        if viewer.can(Capability.TEMPLATES_READ)
        else []
    )
    lists = (
        services.audience.list_lists(principal, None, CHOICES).items
        if viewer.can(Capability.LISTS_READ)
        else []
    )
    segments = (
        services.audience.segments.names(principal) if viewer.can(Capability.CONTACTS_READ) else []
    )
    return render(
        request,
        viewer,
        "campaigns/new.html",
        status=status,
        title=N_("New campaign"),
        given=given,
        errors=errors,
        templates=templates,
        lists=lists,
        segments=segments,
    )


def _progress(viewer: Viewer, services: ServicesDep, campaign_id: str) -> dict[str, Any]:
    found = services.campaign_control.progress(viewer.principal, campaign_id)
    outcomes = found.delivered + found.bounced + found.blocked + found.expired + found.failed
    settled = found.status in _FINAL and found.pending == 0 and outcomes >= found.queued
    return {"progress": found, "polling": found.status != "draft" and not settled}


def in_zone(when: dt.datetime | None, zone: str) -> str:
    """`when` as a wall-clock time in `zone`, with the zone's name."""
    if when is None:
        return ""
    try:
        local = when.astimezone(zoneinfo.ZoneInfo(zone))
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        local = when.astimezone(dt.UTC)
    return local.strftime("%Y-%m-%d %H:%M ") + (local.tzname() or zone)


def detail_page(
    request: Request,
    viewer: Viewer,
    services: ServicesDep,
    campaign_id: str,
    *,
    status: int = 200,
    done: str | None = None,
    problem: str = "",
    schedule: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    ab: dict[str, Any] | None = None,
    ab_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    """One campaign: what it sends, its checks, schedule, progress, A/B test and actions."""
    principal = viewer.principal
    campaign = services.campaigns.get(principal, campaign_id)
    plan = services.campaign_control.plan(principal, campaign_id)
    zone = plan.default_timezone or "UTC"
    local = ""
    if plan.scheduled_at is not None:
        local = plan.scheduled_at.astimezone(zoneinfo.ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")
    test = services.ab_tests.of_campaign(principal, campaign_id)
    variant_names = (
        {v.campaign_id: services.campaigns.get(principal, v.campaign_id).name for v in test[1]}
        if test is not None
        else {}
    )
    segment = ""
    if plan.segment_id and viewer.can(Capability.CONTACTS_READ):
        names = {s.id: s.name for s in services.audience.segments.names(principal)}
        segment = names.get(plan.segment_id, plan.segment_id)
    return render(
        request,
        viewer,
        "campaigns/detail.html",
        status=status,
        title=N_("Campaign"),
        campaign=campaign,
        plan=plan,
        segment=segment or plan.segment_id or "",
        scheduled_local=in_zone(plan.scheduled_at, zone),
        checks=_checks(viewer, services, campaign),
        done=done,
        problem=problem,
        schedule=schedule or {"local": local, "zone": zone},
        errors=errors or {},
        zones=zones(),
        test=test,
        variant_names=variant_names,
        ab_given=ab or {},
        ab_errors=ab_errors or {},
        ab_templates=(
            services.templates.list(principal, None, CHOICES).items
            if test is None
            and campaign.status is CampaignStatus.DRAFT
            and viewer.can(Capability.TEMPLATES_READ)
            else []
        ),
        editable=campaign.status is CampaignStatus.DRAFT and viewer.can(Capability.CAMPAIGNS_WRITE),
        may_send=viewer.can(Capability.CAMPAIGNS_SEND),
        may_see_stats=viewer.can(Capability.STATS_READ),
        **_progress(viewer, services, campaign_id),
    )


def _checks(viewer: Viewer, services: ServicesDep, campaign: Campaign) -> dict[str, Any]:
    """What a send would be refused for, shown before it: content, policy, sender domain."""
    principal = viewer.principal
    checklist = services.content_checks.checklist(principal, campaign.id)
    policy = None
    if viewer.can(Capability.STATS_READ):
        try:
            policy = services.policy.status(principal)
        except ForbiddenError:
            policy = None
    domain_problem = services.sender_domains.sender_problem(principal, campaign.from_email)
    suspended = policy is not None and policy.state.value == "suspended"
    return {
        "items": checklist.items,
        "names": CHECKS,
        "blocking": bool(checklist.blocking) or bool(domain_problem) or suspended,
        "policy": policy,
        "suspended": suspended,
        "domain": campaign.from_email.rpartition("@")[2],
        "domain_problem": domain_problem,
        "links": services.link_check_preferences.get(principal),
    }
