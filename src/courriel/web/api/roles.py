"""HTTP routes of roles and users' rights: thin adapters over `RoleService`."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from courriel.accounts.roles import Role
from courriel.core.schemas import Input
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["accounts"])


class RoleIn(Input):
    name: str = Field(min_length=2, max_length=60)
    capabilities: list[str] = Field(max_length=100)
    field_default: str = Field(default="visible", max_length=10)
    fields: dict[str, str] = Field(default_factory=dict)


class RoleOut(BaseModel):
    name: str
    builtin: bool
    capabilities: list[str]
    field_default: str
    fields: dict[str, str]


class RightsIn(Input):
    lists: list[str] | None = Field(
        default=None, max_length=1000, description="The user's lists; null for every list"
    )
    fields: dict[str, str] = Field(
        default_factory=dict, description="Overrides of the role's access per personal field"
    )


class RightsOut(BaseModel):
    user_id: str
    lists: list[str] | None
    fields: dict[str, str]
    updated_at: dt.datetime | None


class AssignIn(Input):
    role: str = Field(min_length=2, max_length=60)


def _out(role: Role) -> RoleOut:
    return RoleOut(
        name=role.name,
        builtin=role.builtin,
        capabilities=sorted(c.value for c in role.capabilities),
        field_default=role.fields.default.value,
        fields=role.fields.as_dict(),
    )


@router.get("/roles")
def list_roles(services: ServicesDep, principal: PrincipalDep) -> list[RoleOut]:
    """The built-in roles and this tenant's own."""
    return [_out(r) for r in services.roles.list(principal)]


@router.post("/roles", status_code=201)
def create_role(body: RoleIn, services: ServicesDep, principal: PrincipalDep) -> RoleOut:
    """A custom role: capabilities and personal-field access, within the caller's own."""
    return _out(
        services.roles.create(
            principal, body.name, body.capabilities, body.field_default, body.fields
        )
    )


@router.delete("/roles/{name}", status_code=204)
def delete_role(name: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Remove a custom role no user holds."""
    services.roles.delete(principal, name)
    return Response(status_code=204)


@router.put("/users/{user_id}/custom-role", status_code=204)
def assign_role(
    user_id: str, body: AssignIn, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Give a user one of the tenant's custom roles."""
    services.roles.assign(principal, user_id, body.role)
    return Response(status_code=204)


@router.get("/users/{user_id}/rights")
def get_rights(user_id: str, services: ServicesDep, principal: PrincipalDep) -> RightsOut:
    """A user's lists and per-field overrides."""
    found = services.roles.rights_of(principal, user_id)
    if found is None:
        return RightsOut(user_id=user_id, lists=None, fields={}, updated_at=None)
    return RightsOut(
        user_id=user_id, lists=found.lists, fields=found.field_rights, updated_at=found.updated_at
    )


@router.put("/users/{user_id}/rights")
def set_rights(
    user_id: str, body: RightsIn, services: ServicesDep, principal: PrincipalDep
) -> RightsOut:
    """Assign a user's lists and per-field overrides (recorded in the audit trail)."""
    found = services.roles.set_rights(principal, user_id, body.lists, body.fields)
    return RightsOut(
        user_id=user_id, lists=found.lists, fields=found.field_rights, updated_at=found.updated_at
    )
