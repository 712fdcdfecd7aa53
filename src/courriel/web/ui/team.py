"""The team: users (invite, disable, enable, role, lists, second factor) and roles.

For admins (users:manage; roles:manage for defining roles). Every action
goes through the same services as the API (accounts/users, invitations,
roles), so their checks hold: a custom role never exceeds its maker, the
owner changes only by transfer, another team's users and roles are not
found. Built-in roles are set with `UserService.set_role`, custom ones with
`RoleService.assign`.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from courriel.accounts.roles import BUILTIN, Role
from courriel.accounts.users import OWNER
from courriel.core.errors import ConflictError, InvalidInputError
from courriel.core.principal import Capability, FieldAccess
from courriel.web.deps import ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

# The contact's own personal fields, whose access a role sets one by one.
PERSONAL_FIELDS = ("email", "first_name", "last_name", "phone")
ACCESS = tuple(a.value for a in FieldAccess)
# Lists offered as checkboxes on a user's page (a first page; chosen ones are kept).
LISTS_SHOWN = 200
# Statuses and access levels are shown translated (the templates pass them to `_`).
SHOWN_VALUES = (
    N_("active"),
    N_("invited"),
    N_("disabled"),
    N_("hidden"),
    N_("visible"),
    N_("editable"),
)


def _go(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)


def router() -> APIRouter:  # noqa: C901, PLR0915 (one route per page action)
    """The team pages."""
    pages = APIRouter(prefix="/app/team", include_in_schema=False)

    # -- the team --------------------------------------------------------------

    def team_page(
        request: Request, viewer: Viewer, services: ServicesDep, status: int = 200, **form: Any
    ) -> HTMLResponse:
        principal = viewer.principal
        manages_users = viewer.can(Capability.USERS_MANAGE)
        form.setdefault("invite", {"email": "", "name": "", "role": "marketer"})
        form.setdefault("errors", {})
        return render(
            request,
            viewer,
            "team/index.html",
            status,
            title=N_("Team"),
            users=services.users.list(principal) if manages_users else [],
            roles=services.roles.list(principal) if manages_users else [],
            builtin_roles=[r for r in BUILTIN if r != OWNER],
            manages_users=manages_users,
            manages_roles=viewer.can(Capability.ROLES_MANAGE),
            invited=request.query_params.get("invited", "")[:320],
            saved_role=request.query_params.get("role", "")[:60],
            **form,
        )

    @pages.get("", response_class=HTMLResponse)
    def team(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
        return team_page(request, viewer, services)

    @pages.post("/invite", response_model=None)
    def invite(
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        *,
        email: Annotated[str, Form(max_length=320)] = "",
        name: Annotated[str, Form(max_length=200)] = "",
        role: Annotated[str, Form(max_length=60)] = "",
    ) -> HTMLResponse | RedirectResponse:
        entered = {"email": email, "name": name, "role": role}
        try:
            invited = services.invitations.invite(viewer.principal, email, role, name)
        except (InvalidInputError, ConflictError) as exc:
            field = exc.field if isinstance(exc, InvalidInputError) else "email"
            message = exc.reason if isinstance(exc, InvalidInputError) else exc.detail
            return team_page(
                request, viewer, services, 422, invite=entered, errors={field: message}
            )
        return _go(f"/app/team?invited={quote(invited.user.email)}")

    # -- one user --------------------------------------------------------------

    def user_page(
        request: Request, viewer: Viewer, services: ServicesDep, user_id: str, status: int = 200,
        **extra: Any,
    ) -> HTMLResponse:  # fmt: skip
        principal = viewer.principal
        user = services.users.get(principal, user_id)
        rights = services.roles.rights_of(principal, user_id)
        lists = (
            services.audience.list_lists(principal, None, LISTS_SHOWN).items
            if viewer.can(Capability.LISTS_READ)
            else []
        )
        chosen = None if rights is None or rights.lists is None else set(rights.lists)
        shown = {item.id for item in lists}
        extra.setdefault("error", "")
        return render(
            request,
            viewer,
            "team/user.html",
            status,
            title=N_("Team member"),
            member=user,
            roles=[r for r in services.roles.list(principal) if r.name != OWNER],
            lists=lists,
            chosen=chosen,
            # Chosen lists beyond the first page are kept as they are.
            kept=sorted(chosen - shown) if chosen is not None else [],
            saved=request.query_params.get("saved", "")[:20],
            **extra,
        )

    @pages.get("/users/{user_id}", response_class=HTMLResponse)
    def member(
        request: Request, viewer: ViewerDep, services: ServicesDep, user_id: str
    ) -> HTMLResponse:
        return user_page(request, viewer, services, user_id[:64])

    @pages.post("/users/{user_id}/role", response_model=None)
    def set_role(
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        user_id: str,
        role: Annotated[str, Form(max_length=60)] = "",
    ) -> HTMLResponse | RedirectResponse:
        try:
            if role in BUILTIN:
                services.users.set_role(viewer.principal, user_id, role)
            else:
                services.roles.assign(viewer.principal, user_id, role)
        except InvalidInputError as exc:
            return user_page(request, viewer, services, user_id, 422, error=exc.reason)
        return _go(f"/app/team/users/{user_id}?saved=role")

    @pages.post("/users/{user_id}/lists", response_model=None)
    async def set_lists(
        request: Request, viewer: ViewerDep, services: ServicesDep, user_id: str
    ) -> HTMLResponse | RedirectResponse:
        form = await request.form()
        every = form.get("scope") != "some"
        chosen = [str(v)[:40] for v in form.getlist("lists")[:1000]]
        current = services.roles.rights_of(viewer.principal, user_id)
        fields = current.field_rights if current is not None else {}
        try:
            services.roles.set_rights(viewer.principal, user_id, None if every else chosen, fields)
        except InvalidInputError as exc:
            return user_page(request, viewer, services, user_id, 422, error=exc.reason)
        return _go(f"/app/team/users/{user_id}?saved=lists")

    @pages.post("/users/{user_id}/disable", response_model=None)
    def disable(viewer: ViewerDep, services: ServicesDep, user_id: str) -> RedirectResponse:
        services.users.disable(viewer.principal, user_id)
        return _go(f"/app/team/users/{user_id}?saved=status")

    @pages.post("/users/{user_id}/enable", response_model=None)
    def enable(viewer: ViewerDep, services: ServicesDep, user_id: str) -> RedirectResponse:
        services.users.enable(viewer.principal, user_id)
        return _go(f"/app/team/users/{user_id}?saved=status")

    @pages.post("/users/{user_id}/second-factor", response_model=None)
    def reset_second_factor(
        viewer: ViewerDep, services: ServicesDep, user_id: str
    ) -> RedirectResponse:
        services.users.reset_second_factor(viewer.principal, user_id)
        return _go(f"/app/team/users/{user_id}?saved=second-factor")

    # -- roles -----------------------------------------------------------------

    def role_page(
        request: Request, viewer: Viewer, role: dict[str, Any], *, new: bool,
        status: int = 200, errors: dict[str, str] | None = None,
    ) -> HTMLResponse:  # fmt: skip
        return render(
            request,
            viewer,
            "team/role.html",
            status,
            title=N_("New role") if new else N_("Edit role"),
            role=role,
            new=new,
            errors=errors or {},
            capabilities=[c.value for c in Capability],
            personal_fields=PERSONAL_FIELDS,
            access_levels=ACCESS,
        )

    @pages.get("/roles/new", response_class=HTMLResponse)
    def new_role(request: Request, viewer: ViewerDep) -> HTMLResponse:
        viewer.principal.require(Capability.ROLES_MANAGE)
        blank = {"name": "", "capabilities": [], "field_default": "visible", "fields": {}}
        return role_page(request, viewer, blank, new=True)

    @pages.get("/roles/{name}", response_class=HTMLResponse)
    def edit_role(
        request: Request, viewer: ViewerDep, services: ServicesDep, name: str
    ) -> HTMLResponse:
        viewer.principal.require(Capability.ROLES_MANAGE)
        role = services.roles.role(viewer.principal.tenant_id, name[:60])
        if role.builtin:
            raise ConflictError(f"{role.name!r} is a built-in role; it cannot change")
        return role_page(request, viewer, _role_form(role), new=False)

    async def submitted_role(request: Request) -> dict[str, Any]:
        form = await request.form()
        fields = {}
        for field in PERSONAL_FIELDS:
            value = str(form.get(f"field.{field}", ""))[:10]
            if value:
                fields[field] = value
        return {
            "name": str(form.get("name", ""))[:80],
            "capabilities": [str(c)[:40] for c in form.getlist("capabilities")[:100]],
            "field_default": str(form.get("field_default", "visible"))[:10],
            "fields": fields,
        }

    def role_errors(exc: InvalidInputError | ConflictError) -> dict[str, str]:
        if isinstance(exc, ConflictError):
            return {"name": exc.detail}
        field = exc.field.split(".", 1)[0] if exc.field.startswith("capabilities") else exc.field
        return {field: exc.reason}

    @pages.post("/roles", response_model=None)
    async def create_role(
        request: Request, viewer: ViewerDep, services: ServicesDep
    ) -> HTMLResponse | RedirectResponse:
        role = await submitted_role(request)
        try:
            made = services.roles.create(
                viewer.principal, role["name"], role["capabilities"], role["field_default"],
                role["fields"],
            )  # fmt: skip
        except (InvalidInputError, ConflictError) as exc:
            return role_page(request, viewer, role, new=True, status=422, errors=role_errors(exc))
        return _go(f"/app/team?role={made.name}")

    @pages.post("/roles/{name}", response_model=None)
    async def update_role(
        request: Request, viewer: ViewerDep, services: ServicesDep, name: str
    ) -> HTMLResponse | RedirectResponse:
        role = {**(await submitted_role(request)), "name": name[:60]}
        try:
            services.roles.update(
                viewer.principal, role["name"], role["capabilities"], role["field_default"],
                role["fields"],
            )  # fmt: skip
        except InvalidInputError as exc:
            return role_page(request, viewer, role, new=False, status=422, errors=role_errors(exc))
        return _go(f"/app/team?role={role['name']}")

    @pages.post("/roles/{name}/delete", response_model=None)
    def delete_role(viewer: ViewerDep, services: ServicesDep, name: str) -> RedirectResponse:
        services.roles.delete(viewer.principal, name[:60])
        return _go("/app/team")

    return pages


def _role_form(role: Role) -> dict[str, Any]:
    """A role as the form shows it."""
    return {
        "name": role.name,
        "capabilities": sorted(c.value for c in role.capabilities),
        "field_default": role.fields.default.value,
        "fields": role.fields.as_dict(),
    }
