"""Lists and contacts: the tenant's lists and their sign-up forms, contact search,
and one contact's page (its lists, its consent ledger and proof, its events).

Every read goes through the audience services with the viewer's principal, so
a user limited to some lists reaches nothing of another (a 404 page, as for
another tenant's object) and a personal field the role hides arrives masked.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from courriel.audience.consent import ConsentProofs
from courriel.audience.models import ConsentSource, MailingList
from courriel.audience.models import SubscriptionStatus as S
from courriel.audience.search import ContactSearch, parse_property
from courriel.audience.service import LEGAL_BASES, ConsentInput, ContactInput
from courriel.core.addresses import is_role_address
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.principal import Capability, FieldAccess
from courriel.events.service import EventFilter
from courriel.web.api.audit import record_view
from courriel.web.deps import Services, ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

C = Capability
PAGE = 50
# The lists offered in a form's choice (a tenant has tens of lists, not thousands).
LIST_CHOICES = 200
SEARCH_FIELDS = ("address", "name", "property")
IdPath = Annotated[str, "an object's id"]
Text = Annotated[str, Form(max_length=2000)]


def _hidden(viewer: Viewer, name: str) -> bool:
    return viewer.principal.access(name) is FieldAccess.HIDDEN


def _field_error(exc: InvalidInputError) -> tuple[str, str]:
    """The form field an error is about (its first dotted part) and its message."""
    return exc.field.split(".")[0], exc.reason


def _query(base: str, **params: str | None) -> str:
    kept = {k: v for k, v in params.items() if v}
    return f"{base}?{urlencode(kept)}" if kept else base


def _lists(services: Services, viewer: Viewer) -> list[MailingList]:
    if not viewer.can(C.LISTS_READ):
        return []
    return list(services.audience.list_lists(viewer.principal, None, LIST_CHOICES).items)


def _required(value: str | None, field: str, reason: str) -> None:
    if not value:
        raise InvalidInputError(field, reason)


pages = APIRouter(prefix="/app/contacts", include_in_schema=False)


def router() -> APIRouter:
    """The pages of lists and contacts."""
    return pages


# -- the lists and the search ------------------------------------------------


@pages.get("", response_class=HTMLResponse)
def contacts(
    request: Request,
    *,
    viewer: ViewerDep,
    services: ServicesDep,
    address: str = "",
    name: str = "",
    property: str = "",  # noqa: A002 - the search form's word
    cursor: str | None = None,
    lists_cursor: str | None = None,
) -> HTMLResponse:
    principal = viewer.principal
    context: dict[str, Any] = {
        "lists": [],
        "lists_next": None,
        "found": [],
        "found_next": None,
        "errors": {},
        "searched": {"address": address, "name": name, "property": property},
        "can_search": {
            "address": not _hidden(viewer, "email"),
            "name": not (_hidden(viewer, "first_name") or _hidden(viewer, "last_name")),
            "property": True,
        },
    }
    status = 200
    if viewer.can(C.LISTS_READ):
        page = services.audience.list_lists(principal, lists_cursor, PAGE)
        context["lists"] = page.items
        if page.next_cursor:
            context["lists_next"] = _query(
                "/app/contacts", lists_cursor=page.next_cursor, address=address, name=name,
                property=property,
            )  # fmt: skip
    if viewer.can(C.CONTACTS_READ):
        try:
            search = ContactSearch(
                email_prefix=address.strip() or None,
                name=name.strip() or None,
                property_value=parse_property(property) if property.strip() else None,
            )
            found = services.audience.list_contacts(principal, cursor, PAGE, search)
        except InvalidInputError as exc:
            key = {"email_prefix": "address", "email": "address"}.get(exc.field, exc.field)
            context["errors"] = {key if key in SEARCH_FIELDS else "property": exc.reason}
            status = 422
        else:
            context["found"] = found.items
            if found.next_cursor:
                context["found_next"] = _query(
                    "/app/contacts", cursor=found.next_cursor, address=address, name=name,
                    property=property,
                )  # fmt: skip
    return render(request, viewer, "contacts/index.html", status, title=N_("Contacts"), **context)


# -- lists ------------------------------------------------------------------------


@pages.get("/lists/new", response_class=HTMLResponse)
def new_list(request: Request, viewer: ViewerDep) -> HTMLResponse:
    viewer.principal.require(C.LISTS_WRITE)
    return render(
        request, viewer, "contacts/new_list.html", title=N_("New list"), values={}, errors={}
    )


@pages.post("/lists", response_model=None)
def create_list(
    request: Request,
    *,
    viewer: ViewerDep,
    services: ServicesDep,
    name: Annotated[str, Form(max_length=400)] = "",
    purpose: Text = "",
    double_opt_in: Annotated[bool, Form()] = False,
    role_addresses: Annotated[str, Form(max_length=20)] = "flag",
) -> HTMLResponse | RedirectResponse:
    try:
        created = services.audience.create_list(
            viewer.principal,
            name,
            purpose.strip(),
            double_opt_in,
            role_addresses=role_addresses,
        )
    except InvalidInputError as exc:
        field, reason = _field_error(exc)
        values = {
            "name": name,
            "purpose": purpose,
            "double_opt_in": double_opt_in,
            "role_addresses": role_addresses,
        }
        return render(
            request,
            viewer,
            "contacts/new_list.html",
            422,
            title=N_("New list"),
            values=values,
            errors={field: reason},
        )
    return RedirectResponse(f"/app/contacts/lists/{created.id}?created=list", status_code=303)


def list_page(
    request: Request,
    viewer: ViewerDep,
    services: Services,
    list_id: str,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    found = services.audience.get_list(viewer.principal, list_id)
    forms = [
        {
            "form": form,
            "url": services.signups.hosted_url(viewer.principal.tenant_id, form.id),
            "snippet": services.signups.snippet(viewer.principal.tenant_id, form.id),
        }
        for form in services.signups.list_forms(viewer.principal, list_id)
    ]
    context: dict[str, Any] = {"values": {}, "errors": {}, "created": ""}
    context.update(extra)
    return render(
        request,
        viewer,
        "contacts/list.html",
        status,
        title=N_("List"),
        mailing_list=found,
        forms=forms,
        **context,
    )


@pages.get("/lists/{list_id}", response_class=HTMLResponse)
def show_list(
    request: Request, list_id: IdPath, viewer: ViewerDep, services: ServicesDep,
    created: str = "",
) -> HTMLResponse:  # fmt: skip
    return list_page(request, viewer, services, list_id, created=created)


@pages.post("/lists/{list_id}/role-addresses", response_model=None)
def set_role_addresses(
    request: Request,
    *,
    list_id: IdPath,
    viewer: ViewerDep,
    services: ServicesDep,
    role_addresses: Annotated[str, Form(max_length=20)] = "",
) -> HTMLResponse | RedirectResponse:
    try:
        services.audience.set_list_role_addresses(viewer.principal, list_id, role_addresses)
    except InvalidInputError as exc:
        field, reason = _field_error(exc)
        return list_page(request, viewer, services, list_id, 422, errors={field: reason})
    return RedirectResponse(
        f"/app/contacts/lists/{list_id}?created=role-addresses", status_code=303
    )


@pages.post("/lists/{list_id}/forms", response_model=None)
def create_form(
    request: Request,
    *,
    list_id: IdPath,
    viewer: ViewerDep,
    services: ServicesDep,
    title: Annotated[str, Form(max_length=400)] = "",
    consent_text: Text = "",
) -> HTMLResponse | RedirectResponse:
    try:
        form = services.signups.create_form(viewer.principal, list_id, title, consent_text)
    except InvalidInputError as exc:
        field, reason = _field_error(exc)
        values = {"title": title, "consent_text": consent_text}
        return list_page(
            request, viewer, services, list_id, 422, values=values, errors={field: reason}
        )
    return RedirectResponse(
        f"/app/contacts/lists/{list_id}?created=form#{form.id}", status_code=303
    )


# -- one contact ------------------------------------------------------------------


def contact_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    contact_id: str,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    principal = viewer.principal
    contact = services.audience.get_contact(principal, contact_id)
    record_view(services, principal, request, "contact.viewed", f"contact:{contact_id}")
    statuses = services.audience.subscriptions_of(principal, contact_id)
    names: dict[str, str] = {}
    for list_id in statuses:
        try:
            names[list_id] = services.audience.get_list(principal, list_id).name
        except NotFoundError:
            names[list_id] = list_id
    ledger = services.audience.consent_history(principal, contact_id)
    record_view(services, principal, request, "consent.viewed", f"contact:{contact_id}")
    for record in ledger:
        if record.list_id and record.list_id not in names:
            names[record.list_id] = record.list_id
    events: list[Any] = []
    events_next = None
    if viewer.can(C.EVENTS_READ):
        where = EventFilter(contact_id=contact_id)
        cursor = request.query_params.get("events_cursor")
        page = services.events.query(principal, where, cursor, PAGE)
        events = list(page.items)
        if page.next_cursor:
            events_next = _query(f"/app/contacts/{contact_id}", events_cursor=page.next_cursor)
    others = [lst for lst in _lists(services, viewer) if lst.id not in statuses]
    context: dict[str, Any] = {
        "values": {},
        "errors": {},
        "done": request.query_params.get("done", ""),
    }
    context.update(extra)
    return render(
        request,
        viewer,
        "contacts/contact.html",
        status,
        title=N_("Contact"),
        contact=contact,
        subscriptions=[(k, names[k], v) for k, v in statuses.items()],
        leavable=(S.PENDING, S.SUBSCRIBED),
        others=others,
        names=names,
        ledger=ledger,
        events=events,
        events_next=events_next,
        legal_bases=sorted(LEGAL_BASES),
        role_address=is_role_address(contact.email),
        **context,
    )


@pages.get("/{contact_id}", response_class=HTMLResponse)
def show_contact(
    request: Request, contact_id: IdPath, viewer: ViewerDep, services: ServicesDep
) -> HTMLResponse:
    return contact_page(request, viewer, services, contact_id)


@pages.post("/{contact_id}/subscriptions", response_model=None)
def subscribe(
    request: Request,
    *,
    contact_id: IdPath,
    viewer: ViewerDep,
    services: ServicesDep,
    list_id: Annotated[str, Form(max_length=40)] = "",
    legal_basis: Annotated[str, Form(max_length=40)] = "consent",
    confirmed: Annotated[bool, Form()] = False,
) -> HTMLResponse | RedirectResponse:
    principal = viewer.principal
    contact = services.audience.get_contact(principal, contact_id)
    try:
        _required(list_id, "list_id", "choose a list")
        chosen = services.audience.get_list(principal, list_id)
        services.audience.subscribe(
            principal,
            ContactInput(email=contact.email),
            [chosen.id],
            ConsentInput(
                source=ConsentSource.ADMIN,
                purpose_text=chosen.purpose or chosen.name,
                legal_basis=legal_basis,
                confirmed=confirmed,
            ),
        )
    except InvalidInputError as exc:
        field = {"lists": "list_id", "consent": "legal_basis"}.get(
            exc.field.split(".")[0], exc.field.split(".")[0]
        )
        values = {"list_id": list_id, "legal_basis": legal_basis, "confirmed": confirmed}
        return contact_page(
            request, viewer, services, contact_id, 422, values=values,
            errors={field: exc.reason},
        )  # fmt: skip
    return RedirectResponse(f"/app/contacts/{contact_id}?done=subscribed", status_code=303)


@pages.post("/{contact_id}/unsubscribe", response_model=None)
def unsubscribe(
    contact_id: IdPath,
    viewer: ViewerDep,
    services: ServicesDep,
    list_id: Annotated[str, Form(max_length=40)] = "",
) -> RedirectResponse:
    services.audience.get_contact(viewer.principal, contact_id)
    services.audience.unsubscribe(viewer.principal, contact_id, list_id, ConsentSource.ADMIN)
    return RedirectResponse(f"/app/contacts/{contact_id}?done=unsubscribed", status_code=303)


@pages.get("/{contact_id}/consent/proof", response_model=None)
def proof(
    request: Request, contact_id: IdPath, viewer: ViewerDep, services: ServicesDep
) -> JSONResponse:
    principal = viewer.principal
    found = ConsentProofs(services.storage).proof(principal, contact_id, services.clock.now())
    record_view(services, principal, request, "consent.proof_viewed", f"contact:{contact_id}")
    return JSONResponse(
        found,
        headers={"Content-Disposition": f'attachment; filename="consent-{contact_id}.json"'},
    )
