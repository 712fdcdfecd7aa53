"""HTTP routes of a tenant's team: list, invite, disable, enable (thin over the services)."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter
from pydantic import BaseModel, Field

from courriel.accounts.models import User
from courriel.core.schemas import Input
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["accounts"])


class InvitationIn(Input):
    email: str = Field(min_length=3, max_length=320)
    role: str = Field(default="marketer", min_length=2, max_length=60)
    name: str = Field(default="", max_length=200)


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    role: str
    status: str
    created_at: dt.datetime


def _out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role,
        status=user.status.value,
        created_at=user.created_at,
    )


@router.get("/users")
def list_users(services: ServicesDep, principal: PrincipalDep) -> list[UserOut]:
    """The tenant's users (users:manage)."""
    return [_out(u) for u in services.users.list(principal)]


@router.post("/users/invitations", status_code=201)
def invite_user(body: InvitationIn, services: ServicesDep, principal: PrincipalDep) -> UserOut:
    """Invite someone by email: a signed, single-use link valid `invitation_hours`.

    The link goes only to the invited address, never into this answer.
    """
    invited = services.invitations.invite(principal, body.email, body.role, body.name)
    return _out(invited.user)


@router.post("/users/{user_id}/disable")
def disable_user(user_id: str, services: ServicesDep, principal: PrincipalDep) -> UserOut:
    """Refuse the user's sign-in and end their sessions; their keys stop at once."""
    return _out(services.users.disable(principal, user_id))


@router.post("/users/{user_id}/enable")
def enable_user(user_id: str, services: ServicesDep, principal: PrincipalDep) -> UserOut:
    """Let a disabled user sign in again."""
    return _out(services.users.enable(principal, user_id))
