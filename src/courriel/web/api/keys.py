"""HTTP routes of API keys."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from courriel.core.schemas import Input
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["accounts"])


class ApiKeyIn(Input):
    name: str = Field(min_length=1, max_length=200)
    capabilities: list[str] | None = Field(
        default=None, description="Subset of the caller's capabilities; all of them when omitted"
    )
    lists: list[str] | None = Field(
        default=None, max_length=1000, description="Only these lists (the caller's when omitted)"
    )
    field_default: str | None = Field(
        default=None, max_length=10, description="hidden, visible or editable (the caller's)"
    )
    fields: dict[str, str] | None = Field(
        default=None, description="Access per personal field (email, first_name, properties.x)"
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    capabilities: list[str]
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    user_id: str | None = None
    lists: list[str] | None = None


class CreatedKeyOut(BaseModel):
    id: str
    name: str
    capabilities: list[str]
    key: str = Field(description="Shown once; store it now")


@router.post("/api-keys", status_code=201)
def create_key(body: ApiKeyIn, services: ServicesDep, principal: PrincipalDep) -> CreatedKeyOut:
    """Create an API key for this tenant."""
    created = services.api_keys.create(
        principal, body.name, body.capabilities, body.lists, body.field_default, body.fields
    )
    return CreatedKeyOut(
        id=created.id, name=created.name, capabilities=created.capabilities, key=created.secret
    )


@router.get("/api-keys")
def list_keys(services: ServicesDep, principal: PrincipalDep) -> list[ApiKeyOut]:
    """This tenant's keys (never their secrets)."""
    return [
        ApiKeyOut.model_validate(k, from_attributes=True) for k in services.api_keys.list(principal)
    ]


@router.delete("/api-keys/{key_id}", status_code=204)
def revoke_key(key_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Revoke a key; it stops working at once."""
    services.api_keys.revoke(principal, key_id)
    return Response(status_code=204)
