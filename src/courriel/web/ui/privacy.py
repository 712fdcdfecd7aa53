"""Privacy: data-subject requests and their deadlines, retention rules, the
processing register (GDPR Art. 30) and the audit trail with its chain check.

Every page calls the same services as /v1/privacy and /v1/audit with the
viewer's principal; each service checks the capability itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse

from courriel.audience.importer import LEGAL_BASES
from courriel.core.audit import AuditFilter
from courriel.core.errors import ConflictError, InvalidInputError, NotFoundError
from courriel.core.principal import Capability
from courriel.privacy.audit_export import export_trail
from courriel.privacy.governance import (
    GovernanceInput,
    register_csv,
    register_html,
    register_json,
)
from courriel.privacy.models import (
    DataSubjectRequest,
    InactiveOutcome,
    ObjectionGround,
    RequestStatus,
    RequestType,
)
from courriel.privacy.rights import Actor, NewRequest
from courriel.web.api.audit import record_view
from courriel.web.deps import Services, ServicesDep
from courriel.web.ui.i18n import N_
from courriel.web.ui.render import render
from courriel.web.ui.viewer import Viewer, ViewerDep

PAGE = 25
TYPES = {
    RequestType.ACCESS: N_("Access (Art. 15)"),
    RequestType.RECTIFICATION: N_("Rectification (Art. 16)"),
    RequestType.ERASURE: N_("Erasure (Art. 17)"),
    RequestType.RESTRICTION: N_("Restriction (Art. 18)"),
    RequestType.PORTABILITY: N_("Portability (Art. 20)"),
    RequestType.OBJECTION: N_("Objection (Art. 21)"),
}
STATUSES = {
    RequestStatus.OPEN: N_("Open"),
    RequestStatus.FULFILLED: N_("Fulfilled"),
    RequestStatus.REJECTED: N_("Rejected"),
}
GROUNDS = {
    ObjectionGround.DIRECT_MARKETING: N_("Direct marketing"),
    ObjectionGround.PROFILING: N_("Profiling (opens and clicks)"),
}
EXPORTS = ("json", "html", "csv")
_MEDIA = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
}
# A download of personal data: never cached, never run as a page.
_DOWNLOAD = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
}
Format = Literal["json", "html", "csv"]


def _actor(viewer: Viewer, request: Request) -> Actor:
    return Actor.of(viewer.principal, "app", request.client.host if request.client else None)


def _row(found: DataSubjectRequest, now: dt.datetime) -> dict[str, Any]:
    # In calendar days (UTC), as a person counts them; overdue is to the second.
    left = (found.deadline_at.date() - now.date()).days
    overdue = found.status is RequestStatus.OPEN and now > found.deadline_at
    is_open = found.status is RequestStatus.OPEN
    return {
        "id": found.id,
        "type": found.type,
        "type_label": TYPES[found.type],
        "status": found.status,
        "status_label": STATUSES[found.status],
        "contact_id": found.contact_id,
        "received_at": found.received_at,
        "deadline_at": found.deadline_at,
        "closed_at": found.closed_at,
        "days_left": left,
        "days_over": max(1, -left),
        "overdue": overdue,
        "open": is_open,
        "exportable": found.type in (RequestType.ACCESS, RequestType.PORTABILITY)
        and found.status is not RequestStatus.REJECTED,
        "detail": dict(found.detail or {}),
        "certificate": found.certificate,
        "fulfilled_by": found.fulfilled_by,
        "principal": found.principal,
    }


def _field_of(exc: InvalidInputError | NotFoundError | ConflictError) -> tuple[str, str]:
    """The form field an error is about, and its message without the field's name."""
    text = exc.reason if isinstance(exc, InvalidInputError) else str(exc)
    field = exc.field if isinstance(exc, InvalidInputError) else ""
    if not field and ": " in text:
        field, _, text = text.partition(": ")
    if field == "contact_id":
        field = "email"
    return field, text


def _requests_page(
    request: Request,
    viewer: Viewer,
    services: Services,
    *,
    status: str = "",
    cursor: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    chosen = RequestStatus(status) if status in {s.value for s in RequestStatus} else None
    page = services.privacy_rights.list_requests(
        Actor.of(viewer.principal), cursor, PAGE, status=chosen
    )
    now = services.clock.now()
    next_url = None
    if page.next_cursor:
        next_url = "/app/privacy?" + urlencode(
            {k: v for k, v in (("status", status), ("cursor", page.next_cursor)) if v}
        )
    return render(
        request,
        viewer,
        "privacy/requests.html",
        code,
        title=N_("Data-subject requests"),
        rows=[_row(r, now) for r in page.items],
        chosen_status=status,
        statuses=STATUSES,
        types=TYPES,
        grounds=GROUNDS,
        next_url=next_url,
        first_url="/app/privacy" + (f"?status={status}" if status else "") if cursor else None,
        form=form or {"type": "access", "email": "", "ground": "", "received_on": ""},
        errors=errors or {},
        today=now.date().isoformat(),
    )


def _received(value: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInputError("received_on", "give a date such as 2026-12-01") from None
    return dt.datetime.combine(day, dt.time(), dt.UTC)


def _email(value: str) -> str:
    if not value.strip():
        raise InvalidInputError("email", "give the person's email address")
    return value.strip()


def _day(value: str, name: str) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.UTC)
    except ValueError:
        raise InvalidInputError(name, "give a date such as 2026-12-01") from None


def _number(value: str, name: str) -> int | None:
    clean = value.strip()
    if not clean:
        return None
    if not clean.isdigit() or len(clean) > 6:
        raise InvalidInputError(name, "must be a whole number")
    return int(clean)


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def router() -> APIRouter:  # noqa: C901, PLR0915 - one route per page, side by side
    """The privacy pages."""
    pages = APIRouter(prefix="/app/privacy", include_in_schema=False)

    # Data-subject requests ------------------------------------------------

    @pages.get("", response_class=HTMLResponse)
    def requests(
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        status: Annotated[str, Query(max_length=20)] = "",
        cursor: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        if not viewer.can(Capability.PRIVACY_REQUESTS) and viewer.can(Capability.AUDIT_READ):
            # The section is open to auditors too: their part of it is the log.
            return RedirectResponse("/app/privacy/audit", 303)
        return _requests_page(request, viewer, services, status=status, cursor=cursor)

    @pages.post("/requests", response_model=None)
    def create(  # noqa: PLR0917 - the form's fields
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        type: Annotated[str, Form(max_length=20)] = "",  # noqa: A002 - the form field's name
        email: Annotated[str, Form(max_length=320)] = "",
        ground: Annotated[str, Form(max_length=30)] = "",
        received_on: Annotated[str, Form(max_length=20)] = "",
        lift: Annotated[str, Form(max_length=5)] = "",
        first_name: Annotated[str, Form(max_length=200)] = "",
        last_name: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        form = {
            "type": type,
            "email": email,
            "ground": ground,
            "received_on": received_on,
            "lift": lift,
            "first_name": first_name,
            "last_name": last_name,
        }
        changes = {k: v for k, v in (("first_name", first_name), ("last_name", last_name)) if v}
        try:
            created = services.privacy_rights.create(
                _actor(viewer, request),
                NewRequest(
                    type=type,
                    email=_email(email),
                    received_at=_received(received_on),
                    changes=changes if type == RequestType.RECTIFICATION.value else None,
                    lift=lift == "yes",
                    ground=ground or None,
                ),
            )
        except (InvalidInputError, NotFoundError, ConflictError) as exc:
            field, text = _field_of(exc)
            return _requests_page(
                request,
                viewer,
                services,
                form=form,
                errors={field if field in form else "type": text},
                code=422,
            )
        return RedirectResponse(f"/app/privacy/requests/{created.id}?recorded=true", 303)

    @pages.get("/requests/{request_id}", response_class=HTMLResponse)
    def detail(  # noqa: PLR0917 - a route's parameters
        request: Request,
        request_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        recorded: bool = False,
        done: bool = False,
    ) -> HTMLResponse:
        return _detail(request, viewer, services, request_id, recorded=recorded, done=done)

    @pages.post("/requests/{request_id}/fulfil", response_model=None)
    def fulfil(
        request: Request, request_id: str, viewer: ViewerDep, services: ServicesDep
    ) -> RedirectResponse:
        services.privacy_rights.fulfil(_actor(viewer, request), request_id)
        return RedirectResponse(f"/app/privacy/requests/{request_id}?done=true", 303)

    @pages.post("/requests/{request_id}/reject", response_model=None)
    def reject(
        request: Request,
        request_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        reason: Annotated[str, Form(max_length=1000)] = "",
    ) -> Response:
        try:
            services.privacy_rights.reject(_actor(viewer, request), request_id, reason)
        except InvalidInputError as exc:
            return _detail(
                request, viewer, services, request_id, reason=reason, error=exc.reason, code=422
            )
        return RedirectResponse(f"/app/privacy/requests/{request_id}?done=true", 303)

    @pages.get("/requests/{request_id}/export", response_model=None)
    def export(
        request: Request,
        request_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        format: Format = "json",  # noqa: A002 - the query parameter's name
    ) -> Response:
        body = services.privacy_rights.export(_actor(viewer, request), request_id, format)
        headers = {
            **_DOWNLOAD,
            "Content-Disposition": f'attachment; filename="{request_id}.{format}"',
        }
        return Response(body, media_type=_MEDIA[format], headers=headers)

    # Retention rules ------------------------------------------------------

    @pages.get("/retention", response_class=HTMLResponse)
    def retention(
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        saved: bool = False,
    ) -> HTMLResponse:
        return _retention(request, viewer, services, cursor, saved=saved)

    @pages.post("/retention/defaults", response_model=None)
    def set_defaults(
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        pending_days: Annotated[str, Form(max_length=10)] = "",
        ended_months: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        form = {"pending_days": pending_days, "ended_months": ended_months}
        try:
            services.governance.set_defaults(
                viewer.principal,
                _number(pending_days, "pending_days"),
                _number(ended_months, "ended_months"),
            )
        except InvalidInputError as exc:
            return _retention(
                request, viewer, services, None, defaults_form=form, errors={exc.field: exc.reason}
            )
        return RedirectResponse("/app/privacy/retention?saved=true", 303)

    @pages.get("/retention/{list_id}", response_class=HTMLResponse)
    def list_rules(
        request: Request, list_id: str, viewer: ViewerDep, services: ServicesDep
    ) -> HTMLResponse:
        row = services.governance.get(viewer.principal, list_id)
        form = {
            "inactive_months": str(row.inactive_months or ""),
            "consent_months": str(row.consent_months or ""),
            "confirm_days": str(row.confirm_days),
            "inactive_outcome": row.inactive_outcome.value,
            "legal_basis": row.legal_basis,
            "data_categories": "\n".join(row.data_categories),
            "recipients": "\n".join(row.recipients),
            "notes": row.notes,
            "pending_days": str(row.pending_days or ""),
            "ended_months": str(row.ended_months or ""),
        }
        return _list_rules(request, viewer, services, list_id, form)

    @pages.post("/retention/{list_id}", response_model=None)
    def set_list_rules(  # noqa: PLR0917 - the form's fields
        request: Request,
        list_id: str,
        viewer: ViewerDep,
        services: ServicesDep,
        inactive_months: Annotated[str, Form(max_length=10)] = "",
        consent_months: Annotated[str, Form(max_length=10)] = "",
        confirm_days: Annotated[str, Form(max_length=10)] = "30",
        inactive_outcome: Annotated[str, Form(max_length=20)] = "remove",
        legal_basis: Annotated[str, Form(max_length=40)] = "consent",
        data_categories: Annotated[str, Form(max_length=12000)] = "",
        recipients: Annotated[str, Form(max_length=12000)] = "",
        notes: Annotated[str, Form(max_length=5000)] = "",
        pending_days: Annotated[str, Form(max_length=10)] = "",
        ended_months: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        form = {
            "inactive_months": inactive_months,
            "consent_months": consent_months,
            "confirm_days": confirm_days,
            "inactive_outcome": inactive_outcome,
            "legal_basis": legal_basis,
            "data_categories": data_categories,
            "recipients": recipients,
            "notes": notes,
            "pending_days": pending_days,
            "ended_months": ended_months,
        }
        try:
            given = GovernanceInput(
                inactive_months=_number(inactive_months, "inactive_months"),
                consent_months=_number(consent_months, "consent_months"),
                confirm_days=_number(confirm_days, "confirm_days") or 0,
                inactive_outcome=inactive_outcome,
                legal_basis=legal_basis,
                data_categories=_lines(data_categories),
                recipients=_lines(recipients),
                notes=notes,
                pending_days=_number(pending_days, "pending_days"),
                ended_months=_number(ended_months, "ended_months"),
            )
            services.governance.set(viewer.principal, list_id, given)
        except InvalidInputError as exc:
            name = exc.field.split(".")[0]
            return _list_rules(
                request, viewer, services, list_id, form, errors={name: exc.reason}, code=422
            )
        return RedirectResponse("/app/privacy/retention?saved=true", 303)

    # The register ---------------------------------------------------------

    @pages.get("/register", response_class=HTMLResponse)
    def register(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
        entries = services.governance.register(viewer.principal)
        settings = services.settings
        return render(
            request,
            viewer,
            "privacy/register.html",
            title=N_("Register of processing activities"),
            entries=entries,
            controller=settings.privacy_controller,
            dpo=settings.privacy_dpo,
            exports=EXPORTS,
        )

    @pages.get("/register/export", response_model=None)
    def register_export(
        viewer: ViewerDep,
        services: ServicesDep,
        format: Format = "csv",  # noqa: A002 - the query parameter's name
    ) -> Response:
        entries = services.governance.register(viewer.principal)
        name = services.tenants.get(viewer.principal.tenant_id).name
        now = services.clock.now()
        notice = services.privacy_rights.notice_of(viewer.principal.tenant_id)
        if format == "csv":
            body = register_csv(entries)
        elif format == "html":
            body = register_html(name, entries, now, notice)
        else:
            body = register_json(name, entries, now, notice)
        headers = {**_DOWNLOAD, "Content-Disposition": f'attachment; filename="register.{format}"'}
        return Response(body, media_type=_MEDIA[format], headers=headers)

    # The audit trail ------------------------------------------------------

    @pages.get("/audit", response_class=HTMLResponse)
    def audit(  # noqa: PLR0917 - the filter's fields
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        actor: Annotated[str, Query(max_length=80)] = "",
        action: Annotated[str, Query(max_length=60)] = "",
        since: Annotated[str, Query(max_length=20)] = "",
        until: Annotated[str, Query(max_length=20)] = "",
        cursor: Annotated[str | None, Query(max_length=40)] = None,
    ) -> HTMLResponse:
        form = {"actor": actor, "action": action, "since": since, "until": until}
        errors: dict[str, str] = {}
        entries: list[Any] = []
        next_url = None
        try:
            where = AuditFilter(
                actor=actor.strip() or None,
                action=action.strip() or None,
                since=_day(since, "since"),
                until=_day(until, "until"),
            )
            page = services.audit.entries(viewer.principal, where, cursor, PAGE)
            entries = list(page.items)
            if page.next_cursor:
                query = {k: v for k, v in form.items() if v}
                next_url = "/app/privacy/audit?" + urlencode({**query, "cursor": page.next_cursor})
        except InvalidInputError as exc:
            errors[exc.field] = exc.reason
        filtered = {k: v for k, v in form.items() if v}
        first_url = None
        if cursor:
            first_url = "/app/privacy/audit" + ("?" + urlencode(filtered) if filtered else "")
        return render(
            request,
            viewer,
            "privacy/audit.html",
            422 if errors else 200,
            title=N_("Audit log"),
            entries=entries,
            form=form,
            errors=errors,
            next_url=next_url,
            first_url=first_url,
            export_query=urlencode(filtered),
            can_export=viewer.can(Capability.AUDIT_EXPORT),
        )

    @pages.get("/audit/export", response_model=None)
    def audit_export(  # noqa: PLR0917 - the filter's fields
        request: Request,
        viewer: ViewerDep,
        services: ServicesDep,
        actor: Annotated[str, Query(max_length=80)] = "",
        action: Annotated[str, Query(max_length=60)] = "",
        since: Annotated[str, Query(max_length=20)] = "",
        until: Annotated[str, Query(max_length=20)] = "",
        format: Literal["csv", "jsonl"] = "csv",  # noqa: A002 - the query parameter's name
    ) -> StreamingResponse:
        where = AuditFilter(
            actor=actor.strip() or None,
            action=action.strip() or None,
            since=_day(since, "since"),
            until=_day(until, "until"),
        )
        chunks = export_trail(
            services.storage,
            services.audit,
            viewer.principal,
            format,
            where=where,
            source_ip=request.client.host if request.client else None,
        )
        media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
        headers = {**_DOWNLOAD, "Content-Disposition": f'attachment; filename="audit.{format}"'}
        return StreamingResponse(chunks, media_type=media, headers=headers)

    # A POST: the check walks the whole chain (seconds for millions of entries),
    # an action the user asks for, not a page to load on every visit.
    @pages.post("/audit/verify", response_class=HTMLResponse)
    def verify(request: Request, viewer: ViewerDep, services: ServicesDep) -> HTMLResponse:
        result = services.audit.verify(viewer.principal)
        return render(
            request, viewer, "privacy/verify.html", title=N_("Audit log check"), result=result
        )

    return pages


def _detail(
    request: Request,
    viewer: Viewer,
    services: Services,
    request_id: str,
    *,
    recorded: bool = False,
    done: bool = False,
    reason: str = "",
    error: str = "",
    code: int = 200,
) -> HTMLResponse:
    found = services.privacy_rights.get(Actor.of(viewer.principal), request_id)
    email = None
    if viewer.can(Capability.CONTACTS_READ):
        try:
            contact = services.audience.get_contact(viewer.principal, found.contact_id)
            email = viewer.principal.shown("email", contact.email)
            # Shown personal data is recorded, as the API does for a contact.
            record_view(
                services, viewer.principal, request, "contact.viewed", f"contact:{contact.id}"
            )
        except NotFoundError:
            email = None
    return render(
        request,
        viewer,
        "privacy/request.html",
        code,
        title=N_("Data-subject request"),
        r=_row(found, services.clock.now()),
        email=email,
        grounds=GROUNDS,
        recorded=recorded,
        done=done,
        reason=reason,
        error=error,
        exports=EXPORTS,
    )


def _retention(
    request: Request,
    viewer: Viewer,
    services: Services,
    cursor: str | None,
    *,
    saved: bool = False,
    defaults_form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    principal = viewer.principal
    page = services.audience.list_lists(principal, cursor, PAGE)
    rules = {
        lst.id: services.governance.get(principal, lst.id)
        for lst in page.items
        if principal.sees_list(lst.id)
    }
    pending, ended = services.governance.defaults(principal)
    form = defaults_form or {"pending_days": str(pending or ""), "ended_months": str(ended or "")}
    return render(
        request,
        viewer,
        "privacy/retention.html",
        422 if errors else 200,
        title=N_("Retention rules"),
        lists=[lst for lst in page.items if lst.id in rules],
        rules=rules,
        form=form,
        errors=errors or {},
        saved=saved,
        can_write=viewer.can(Capability.LISTS_WRITE),
        next_url=f"/app/privacy/retention?cursor={page.next_cursor}" if page.next_cursor else None,
        first_url="/app/privacy/retention" if cursor else None,
    )


def _list_rules(  # noqa: PLR0917 - the page and what to show on it
    request: Request,
    viewer: Viewer,
    services: Services,
    list_id: str,
    form: dict[str, str],
    errors: dict[str, str] | None = None,
    code: int = 200,
) -> HTMLResponse:
    found = services.audience.get_list(viewer.principal, list_id)
    return render(
        request,
        viewer,
        "privacy/list_rules.html",
        code,
        title=N_("Retention rules of a list"),
        lst=found,
        form=form,
        errors=errors or {},
        outcomes=[o.value for o in InactiveOutcome],
        bases=sorted(LEGAL_BASES),
        can_write=viewer.can(Capability.LISTS_WRITE),
    )
