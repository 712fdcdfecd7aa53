"""HTTP routes of the audience: thin adapters over `AudienceService`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field

from courriel.audience.consent import ConsentProofs
from courriel.audience.models import ConsentSource, SignupForm
from courriel.audience.schemas import (
    ConsentOut,
    ContactIn,
    ContactOut,
    ListIn,
    ListOut,
    ListPurposeIn,
    ListRoleAddressesIn,
    ListTrackingIn,
    PropertyIn,
    PropertyOut,
    SubscribeOut,
    SuppressionIn,
    SuppressionOut,
    UnsubscribeOut,
)
from courriel.audience.search import ContactSearch, parse_property
from courriel.audience.service import ConsentInput, ContactInput
from courriel.core.principal import Principal
from courriel.core.schemas import Input, PageOut
from courriel.web.api.audit import record_view
from courriel.web.api.imports import router as imports_router
from courriel.web.api.segments import router as segments_router
from courriel.web.deps import (
    DEFAULT_PAGE,
    CursorQuery,
    LimitQuery,
    PrincipalDep,
    RowIdPath,
    Services,
    ServicesDep,
)

router = APIRouter(tags=["audience"])
router.include_router(imports_router)
router.include_router(segments_router)


@router.post("/lists", status_code=201)
def create_list(body: ListIn, services: ServicesDep, principal: PrincipalDep) -> ListOut:
    """Create a list."""
    created = services.audience.create_list(
        principal,
        body.name,
        body.purpose,
        body.double_opt_in,
        body.retention_days,
        tracking=body.tracking,
        role_addresses=body.role_addresses,
        sunset_months=body.sunset_months,
    )
    return ListOut.model_validate(created, from_attributes=True)


@router.put("/lists/{list_id}/role-addresses")
def set_list_role_addresses(
    list_id: str, body: ListRoleAddressesIn, services: ServicesDep, principal: PrincipalDep
) -> ListOut:
    """Flag or refuse role addresses (postmaster@, noreply@…) at import and sign-up."""
    changed = services.audience.set_list_role_addresses(principal, list_id, body.role_addresses)
    return ListOut.model_validate(changed, from_attributes=True)


@router.put("/lists/{list_id}/tracking")
def set_list_tracking(
    list_id: str, body: ListTrackingIn, services: ServicesDep, principal: PrincipalDep
) -> ListOut:
    """Switch tracking of opens and clicks on or off for a list's mail."""
    changed = services.audience.set_list_tracking(principal, list_id, body.tracking)
    return ListOut.model_validate(changed, from_attributes=True)


@router.get("/lists")
def list_lists(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[ListOut]:
    """The tenant's lists."""
    page = services.audience.list_lists(principal, cursor, limit)
    return PageOut[ListOut].of(page)


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
    *,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
    email: Annotated[str | None, Query(max_length=320, description="exact address")] = None,
    email_prefix: Annotated[
        str | None, Query(max_length=320, description="address starts with")
    ] = None,
    name: Annotated[str | None, Query(max_length=320, description="in first or last name")] = None,
    property: Annotated[  # noqa: A002 - the API's word
        str | None, Query(max_length=400, description="name:value, e.g. city:Paris")
    ] = None,
) -> PageOut[ContactOut]:
    """The tenant's contacts, or those matching every search parameter given."""
    search = ContactSearch(email, email_prefix, name, parse_property(property))
    page = services.audience.list_contacts(principal, cursor, limit, search)
    return PageOut[ContactOut].of(page)


@router.get("/contacts/{contact_id}")
def get_contact(
    request: Request, contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> ContactOut:
    """One contact (the view is recorded in the audit trail)."""
    found = services.audience.get_contact(principal, contact_id)
    record_view(services, principal, request, "contact.viewed", f"contact:{contact_id}")
    return ContactOut.model_validate(found, from_attributes=True)


@router.get("/contacts/{contact_id}/consent")
def consent(
    request: Request, contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> list[ConsentOut]:
    """The consent ledger of one contact (the view is recorded in the audit trail)."""
    found = services.audience.consent_history(principal, contact_id)
    record_view(services, principal, request, "consent.viewed", f"contact:{contact_id}")
    return [ConsentOut.model_validate(r, from_attributes=True) for r in found]


@router.put("/lists/{list_id}/purpose")
def change_purpose(
    list_id: str, body: ListPurposeIn, services: ServicesDep, principal: PrincipalDep
) -> ListOut:
    """Change the purpose text shown to people (a new version in the ledger)."""
    changed = services.audience.change_purpose(principal, list_id, body.purpose)
    return ListOut.model_validate(changed, from_attributes=True)


@router.delete("/lists/{list_id}/contacts/{contact_id}")
def unsubscribe(
    list_id: str, contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> UnsubscribeOut:
    """Unsubscribe a contact from a list (recorded as a withdrawal of consent)."""
    status = services.audience.unsubscribe(principal, contact_id, list_id, ConsentSource.API)
    return UnsubscribeOut(list_id=list_id, status=status.value)


@router.get("/contacts/{contact_id}/subscriptions")
def subscriptions(
    contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, str]:
    """The lists a contact is on, with its status on each."""
    found = services.audience.subscriptions_of(principal, contact_id)
    return {k: v.value for k, v in found.items()}


@router.get("/contacts/{contact_id}/consent/proof")
def consent_proof(
    request: Request, contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> JSONResponse:
    """Proof of consent as JSON: subscriptions and the whole ledger (a download)."""
    proofs = ConsentProofs(services.storage)
    proof = proofs.proof(principal, contact_id, services.clock.now())
    record_view(services, principal, request, "consent.proof_viewed", f"contact:{contact_id}")
    return JSONResponse(
        proof,
        headers={"Content-Disposition": f'attachment; filename="consent-{contact_id}.json"'},
    )


@router.get("/contacts/{contact_id}/consent/proof.html", response_class=HTMLResponse)
def consent_proof_html(
    request: Request, contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> HTMLResponse:
    """Proof of consent as a readable HTML page."""
    proofs = ConsentProofs(services.storage)
    page = proofs.proof_html(principal, contact_id, services.clock.now())
    record_view(services, principal, request, "consent.proof_viewed", f"contact:{contact_id}")
    return HTMLResponse(
        page,
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


@router.delete("/contacts/{contact_id}", status_code=204)
def erase_contact(contact_id: str, services: ServicesDep, principal: PrincipalDep) -> Response:
    """Erase a contact: its data goes, a keyed hash of the address stays suppressed."""
    # The full erasure (privacy/erasure.py), recorded as a request.
    services.privacy_rights.erase_now(principal, contact_id)
    return Response(status_code=204)


@router.post("/properties", status_code=201)
def define_property(
    body: PropertyIn, services: ServicesDep, principal: PrincipalDep
) -> PropertyOut:
    """Declare a typed custom contact property."""
    created = services.audience.properties.define(principal, body.name, body.kind, body.choices)
    return PropertyOut.model_validate(created, from_attributes=True)


@router.get("/properties")
def list_properties(services: ServicesDep, principal: PrincipalDep) -> list[PropertyOut]:
    """The tenant's custom properties."""
    return [
        PropertyOut.model_validate(p, from_attributes=True)
        for p in services.audience.properties.list(principal)
    ]


@router.get("/suppressions")
def list_suppressions(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[SuppressionOut]:
    """The tenant's suppressions (keyed hashes, reasons)."""
    page = services.audience.suppressions.list(principal, cursor, limit)
    out = PageOut[SuppressionOut].of(page)
    for row in out.data:
        # An address is personal data: masked for a caller the email field is hidden from.
        row.address = _shown_address(principal, row.address)
    return out


@router.post("/suppressions", status_code=201)
def add_suppression(
    body: SuppressionIn, services: ServicesDep, principal: PrincipalDep
) -> SuppressionOut:
    """Suppress an address by hand."""
    row = services.audience.suppressions.add(principal, body.address, body.reason, body.detail)
    out = SuppressionOut.model_validate(row, from_attributes=True)
    out.address = _shown_address(principal, out.address)
    return out


def _shown_address(principal: Principal, address: str | None) -> str | None:
    shown = principal.shown("email", address)
    return shown if isinstance(shown, str) else None


@router.delete("/suppressions/{suppression_id}", status_code=204)
def remove_suppression(
    suppression_id: RowIdPath, services: ServicesDep, principal: PrincipalDep
) -> Response:
    """Lift a manual suppression."""
    services.audience.suppressions.remove(principal, suppression_id)
    return Response(status_code=204)


class FormIn(Input):
    title: str = Field(min_length=1, max_length=200)
    consent_text: str = Field(
        min_length=1, max_length=2000, description="Label of the unticked consent checkbox"
    )


class FormOut(BaseModel):
    id: str
    list_id: str
    title: str
    consent_text: str
    hosted_url: str
    snippet: str


def _form_out(services: Services, tenant_id: str, form: SignupForm) -> FormOut:
    signup = services.signups
    return FormOut(
        id=form.id,
        list_id=form.list_id,
        title=form.title,
        consent_text=form.consent_text,
        hosted_url=signup.hosted_url(tenant_id, form.id),
        snippet=signup.snippet(tenant_id, form.id),
    )


@router.post("/lists/{list_id}/forms", status_code=201)
def create_form(
    list_id: str, body: FormIn, services: ServicesDep, principal: PrincipalDep
) -> FormOut:
    """A public sign-up form for a list: hosted page and embeddable snippet."""
    form = services.signups.create_form(principal, list_id, body.title, body.consent_text)
    return _form_out(services, principal.tenant_id, form)


@router.get("/forms/{form_id}")
def get_form(form_id: str, services: ServicesDep, principal: PrincipalDep) -> FormOut:
    """One sign-up form, with its hosted URL and snippet."""
    form = services.signups.get_form(principal, form_id)
    return _form_out(services, principal.tenant_id, form)


@router.post("/lists/{list_id}/contacts/{contact_id}/confirmation", status_code=202)
def resend_confirmation(
    list_id: str, contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> dict[str, str]:
    """Send a pending contact the double opt-in email again."""
    services.signups.resend(principal, list_id, contact_id)
    return {"status": "sent"}


@router.post("/lists/{list_id}/retention")
def apply_retention(list_id: str, services: ServicesDep, principal: PrincipalDep) -> dict[str, int]:
    """Expire pending subscriptions older than the list's retention period."""
    return {"expired": services.audience.retention.apply(principal, list_id)}
