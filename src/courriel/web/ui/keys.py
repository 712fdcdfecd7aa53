"""API keys: the tenant's keys (never their secrets), a new key within the
viewer's own rights (capabilities, lists, field access), its secret shown once,
and revocation, which takes effect at once."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from courriel.core.errors import InvalidInputError
from courriel.core.principal import Capability, FieldAccess
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep
from courriel.web.ui.wording import said

# The lists offered as limits: one page of them (a tenant has a few dozen).
LISTS_OFFERED = 200
ACCESS = (
    ("", N_("As mine")),
    (FieldAccess.HIDDEN.value, N_("Hidden (masked)")),
    (FieldAccess.VISIBLE.value, N_("Visible")),
    (FieldAccess.EDITABLE.value, N_("Editable")),
)
NO_STORE = {"Cache-Control": "no-store"}


def _field(name: str) -> str:
    """The form field an error of the service is about (`capabilities.3` → `capabilities`)."""
    return name.partition(".")[0]


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
    principal = viewer.principal
    lists = []
    if viewer.can(Capability.LISTS_READ):
        lists = list(services.audience.list_lists(principal, None, LISTS_OFFERED).items)
    mine = [c.value for c in Capability if c in principal.capabilities]
    return render(
        request,
        viewer,
        "admin/keys.html",
        status=status,
        title=N_("API keys"),
        keys=services.api_keys.list(principal),
        capabilities=mine,
        lists=lists,
        list_names={row.id: row.name for row in lists},
        access=ACCESS,
        form=form or {"name": "", "capabilities": mine, "lists": [], "field_default": ""},
        errors=errors or {},
        notice=notice,
    )


def router() -> APIRouter:
    """The API-key pages."""
    pages = APIRouter(prefix="/app/keys", include_in_schema=False)

    @pages.get("", response_class=HTMLResponse)
    def keys(
        *, request: Request, viewer: ViewerDep, services: ServicesDep, done: str = ""
    ) -> HTMLResponse:
        notice = N_("The key is revoked: it no longer works.") if done == "revoked" else ""
        return _listing(request, viewer, services, notice=notice)

    @pages.post("", response_model=None)
    def create(
        *,
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        name: Annotated[str, Form(max_length=200)] = "",
        capabilities: Annotated[list[str] | None, Form()] = None,
        limit_lists: Annotated[str, Form(max_length=5)] = "",
        lists: Annotated[list[str] | None, Form()] = None,
        field_default: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        chosen = list(capabilities or [])
        limited = limit_lists == "true"
        form = {
            "name": name,
            "capabilities": chosen,
            "limit_lists": limited,
            "lists": list(lists or []),
            "field_default": field_default,
        }
        if not chosen:
            errors = {"capabilities": said(viewer, N_("Choose at least one capability."))}
            return _listing(request, viewer, services, status=422, form=form, errors=errors)
        try:
            created = services.api_keys.create(
                viewer.principal,
                name,
                chosen,
                list(lists or []) if limited else None,
                field_default or None,
            )
        except InvalidInputError as bad:
            errors = {_field(bad.field): bad.reason}
            return _listing(request, viewer, services, status=422, form=form, errors=errors)
        # The secret exists only in this answer (it is never stored): no redirect
        # could carry it safely, and nothing may keep a copy of the page.
        response = render(
            request,
            viewer,
            "admin/key_created.html",
            status=201,
            title=N_("API key created"),
            key=created,
        )
        response.headers.update(NO_STORE)
        return response

    @pages.post("/{key_id}/revoke", response_model=None)
    def revoke(key_id: str, viewer: ViewerDep, services: ServicesDep) -> Response:
        services.api_keys.revoke(viewer.principal, key_id)
        return RedirectResponse("/app/keys?done=revoked", status_code=303)

    return pages
