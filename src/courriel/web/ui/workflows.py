"""Workflows: the list with status and figures, one workflow's steps with the
figures of each, its versions, an editor of its definition (YAML or JSON)
that shows an error at the line of the field at fault, the shipped templates,
and activate / pause / archive.

Rights are those of campaigns (a workflow sends mail like a campaign):
reading needs campaigns:read, editing campaigns:write, activating and
pausing campaigns:send, the figures stats:read.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from courriel.automation.catalogue_service import FromTemplate
from courriel.core.errors import CourrielError, InvalidInputError
from courriel.core.principal import Capability
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import ViewerDep
from courriel.web.ui.workflow_text import as_yaml, locate

PAGE = 50
MAX_DEFINITION = 100_000
Name = Annotated[str, Form(max_length=200)]
Text = Annotated[str, Form(max_length=MAX_DEFINITION)]
Short = Annotated[str, Form(max_length=320)]
ACTIONS = {"activate": N_("Activated."), "pause": N_("Paused."), "archive": N_("Archived.")}
# Figures shown per step, in the order of a person's way through it.
STEP_FIGURES = ("entered", "waiting", "done", "sent", "opened", "clicked", "converted", "left")
STEP_FIGURE_NAMES = {
    "entered": N_("Entered"),
    "waiting": N_("Waiting"),
    "done": N_("Done"),
    "sent": N_("Sent"),
    "opened": N_("Opened"),
    "clicked": N_("Clicked"),
    "converted": N_("Converted"),
    "left": N_("Left"),
    "completed": N_("Completed"),
}
STATUS_NAMES = {
    "draft": N_("draft"),
    "active": N_("active"),
    "paused": N_("paused"),
    "archived": N_("archived"),
}


def parse_text(text: str) -> Any:
    """The definition typed in the editor: JSON, else YAML (data only: the safe loader)."""
    stripped = text.strip()
    if not stripped:
        raise InvalidInputError("definition", "write the definition (YAML or JSON)")
    if stripped.startswith("{"):
        try:
            return json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                "definition", f"not JSON: {exc.msg} (line {exc.lineno})"
            ) from None
    try:
        return yaml.safe_load(stripped)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be read"
        raise InvalidInputError("definition", f"not YAML: {problem}{where}") from None


def router() -> APIRouter:  # noqa: C901 (one small route per page)
    """The workflow pages."""
    pages = APIRouter(prefix="/app/workflows", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def workflows(
        request: Request, viewer: ViewerDep, services: ServicesDep, after: str | None = None
    ) -> HTMLResponse:
        page = services.workflows.list(viewer.principal, after, PAGE)
        figures = {}
        if viewer.can(Capability.STATS_READ):
            figures = {
                w.id: services.workflows.stats(viewer.principal, w.id)[1].totals for w in page.items
            }
        return render(
            request,
            viewer,
            "workflows/list.html",
            title=N_("Workflows"),
            workflows=page.items,
            figures=figures,
            status_names=STATUS_NAMES,
            next_url=f"/app/workflows?after={page.next_cursor}" if page.next_cursor else None,
            first_url="/app/workflows" if after else None,
            can_write=viewer.can(Capability.CAMPAIGNS_WRITE),
            templates=services.workflow_templates.templates(viewer.principal),
        )

    @pages.get("/new", response_class=HTMLResponse)
    def new(
        request: Request, viewer: ViewerDep, services: ServicesDep, template: str = ""
    ) -> HTMLResponse:
        viewer.principal.require(Capability.CAMPAIGNS_WRITE)
        return _new_page(request, viewer, services, template=template)

    @pages.post("", response_model=None)
    def create(
        request: Request,
        *,
        viewer: ViewerDep,
        services: ServicesDep,
        name: Name = "",
        definition: Text = "",
    ) -> HTMLResponse | RedirectResponse:
        try:
            view = services.workflows.create(viewer.principal, name, parse_text(definition))
        except InvalidInputError as exc:
            return _new_page(
                request,
                viewer,
                services,
                name=name,
                text=definition,
                errors=_errors(exc, definition),
                status=422,
            )
        return RedirectResponse(f"/app/workflows/{view.workflow.id}?done=created", 303)

    @pages.post("/from-template", response_model=None)
    def from_template(
        request: Request,
        *,
        viewer: ViewerDep,
        services: ServicesDep,
        template: Short = "",
        list_id: Short = "",
        from_email: Short = "",
        from_name: Name = "",
        name: Name = "",
    ) -> HTMLResponse | RedirectResponse:
        filling = FromTemplate(list_id, from_email, from_name, name)
        try:
            view = services.workflow_templates.create(viewer.principal, template, filling)
        except CourrielError as exc:
            field = getattr(exc, "field", "template")
            return _new_page(
                request,
                viewer,
                services,
                template=template,
                filling=filling,
                errors={f"t-{field}": getattr(exc, "reason", exc.detail)},
                status=422 if isinstance(exc, InvalidInputError) else 404,
            )
        return RedirectResponse(f"/app/workflows/{view.workflow.id}?done=created", 303)

    @pages.get("/{workflow_id}", response_class=HTMLResponse)
    def detail(
        request: Request,
        *,
        workflow_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        done: str = "",
    ) -> HTMLResponse:
        view = services.workflows.get(viewer.principal, workflow_id)
        return _detail(request, viewer, services, workflow_id, done=done, text=as_yaml(view))

    @pages.post("/{workflow_id}", response_model=None)
    def update(
        request: Request,
        *,
        workflow_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        name: Name = "",
        definition: Text = "",
    ) -> HTMLResponse | RedirectResponse:
        try:
            services.workflows.update(
                viewer.principal,
                workflow_id,
                name=name or None,
                definition=parse_text(definition),
            )
        except InvalidInputError as exc:
            return _detail(
                request,
                viewer,
                services,
                workflow_id,
                text=definition,
                name=name,
                errors=_errors(exc, definition),
                status=422,
            )
        return RedirectResponse(f"/app/workflows/{workflow_id}?done=saved", 303)

    @pages.post("/{workflow_id}/{action}", response_model=None)
    def act(
        request: Request, *, workflow_id: str, action: str, viewer: ViewerDep, services: ServicesDep
    ) -> HTMLResponse | RedirectResponse:
        moves = {
            "activate": services.workflows.activate,
            "pause": services.workflows.pause,
            "archive": services.workflows.archive,
        }
        if action not in moves:
            return _detail(
                request, viewer, services, workflow_id, problem=N_("Unknown action."), status=404
            )
        try:
            moves[action](viewer.principal, workflow_id)
        except InvalidInputError as exc:
            return _detail(
                request,
                viewer,
                services,
                workflow_id,
                problem=f"{exc.field}: {exc.reason}",
                status=422,
            )
        return RedirectResponse(f"/app/workflows/{workflow_id}?done={action}", 303)

    return pages


def _errors(exc: InvalidInputError, text: str) -> dict[str, Any]:
    if exc.field == "name":
        return {"name": exc.reason}
    return {"definition": exc.reason, "field": exc.field, "located": locate(text, exc.field)}


def _new_page(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    *,
    name: str = "",
    text: str = "",
    template: str = "",
    filling: FromTemplate | None = None,
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    lists = services.audience.list_lists(viewer.principal, None, 200).items
    return render(
        request,
        viewer,
        "workflows/new.html",
        status=status,
        title=N_("New workflow"),
        name=name,
        text=text,
        chosen=template,
        filling=filling or FromTemplate("", ""),
        templates=services.workflow_templates.templates(viewer.principal),
        lists=lists,
        errors=errors or {},
    )


def _detail(
    request: Request,
    viewer: ViewerDep,
    services: ServicesDep,
    workflow_id: str,
    *,
    done: str = "",
    problem: str = "",
    text: str | None = None,
    name: str = "",
    errors: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    view = services.workflows.get(viewer.principal, workflow_id)
    step_figures: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    if viewer.can(Capability.STATS_READ):
        _, found = services.workflows.stats(viewer.principal, workflow_id)
        step_figures, totals = found.steps, found.totals
    messages = {"created": N_("Created."), "saved": N_("Saved."), **ACTIONS}
    return render(
        request,
        viewer,
        "workflows/detail.html",
        status=status,
        title=N_("Workflow"),
        workflow=view.workflow,
        definition=view.definition,
        steps=view.definition.get("steps", []),
        step_figures=step_figures,
        totals=totals,
        figure_keys=STEP_FIGURES,
        figure_names=STEP_FIGURE_NAMES,
        status_names=STATUS_NAMES,
        versions=services.workflows.versions(viewer.principal, workflow_id),
        done=messages.get(done, ""),
        problem=problem,
        text=as_yaml(view) if text is None else text,
        name=name or view.workflow.name,
        errors=errors or {},
        can_write=viewer.can(Capability.CAMPAIGNS_WRITE),
        can_send=viewer.can(Capability.CAMPAIGNS_SEND),
        can_stats=viewer.can(Capability.STATS_READ),
    )
