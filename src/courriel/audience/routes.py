"""HTTP routes of the audience: thin adapters over `AudienceService`."""

from __future__ import annotations

from fastapi import APIRouter

from courriel.api.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep
from courriel.api.schemas import PageOut
from courriel.audience.schemas import (
    ConsentOut,
    ContactIn,
    ContactOut,
    ListIn,
    ListOut,
    SubscribeOut,
)
from courriel.audience.service import ConsentInput, ContactInput

router = APIRouter(tags=["audience"])


@router.post("/lists", status_code=201)
def create_list(body: ListIn, services: ServicesDep, principal: PrincipalDep) -> ListOut:
    """Create a list."""
    created = services.audience.create_list(principal, body.name, body.purpose, body.double_opt_in)
    return ListOut.model_validate(created, from_attributes=True)


@router.get("/lists")
def list_lists(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[ListOut]:
    """The tenant's lists."""
    page = services.audience.list_lists(principal, cursor, limit)
    return PageOut(
        data=[ListOut.model_validate(i, from_attributes=True) for i in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/lists/{list_id}")
def get_list(list_id: str, services: ServicesDep, principal: PrincipalDep) -> ListOut:
    """One list."""
    return ListOut.model_validate(
        services.audience.get_list(principal, list_id), from_attributes=True
    )


@router.post("/contacts", status_code=201)
def subscribe(body: ContactIn, services: ServicesDep, principal: PrincipalDep) -> SubscribeOut:
    """Add or update a contact and subscribe it to lists, with its consent."""
    result = services.audience.subscribe(
        principal,
        ContactInput(
            email=body.email,
            first_name=body.first_name,
            last_name=body.last_name,
            language=body.language,
            timezone=body.timezone,
            properties=dict(body.properties),
        ),
        body.lists,
        ConsentInput(**body.consent.model_dump()),
    )
    return SubscribeOut(
        contact=ContactOut.model_validate(result.contact, from_attributes=True),
        subscriptions={k: v.value for k, v in result.statuses.items()},
    )


@router.get("/contacts")
def list_contacts(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[ContactOut]:
    """The tenant's contacts."""
    page = services.audience.list_contacts(principal, cursor, limit)
    return PageOut(
        data=[ContactOut.model_validate(i, from_attributes=True) for i in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/contacts/{contact_id}")
def get_contact(contact_id: str, services: ServicesDep, principal: PrincipalDep) -> ContactOut:
    """One contact."""
    return ContactOut.model_validate(
        services.audience.get_contact(principal, contact_id), from_attributes=True
    )


@router.get("/contacts/{contact_id}/consent")
def consent(contact_id: str, services: ServicesDep, principal: PrincipalDep) -> list[ConsentOut]:
    """The consent ledger of one contact."""
    return [
        ConsentOut.model_validate(r, from_attributes=True)
        for r in services.audience.consent_history(principal, contact_id)
    ]
