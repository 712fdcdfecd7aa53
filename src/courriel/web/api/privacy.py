"""HTTP routes of data-subject requests: thin adapters over `DataSubjectRights`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from courriel.core.schemas import PageOut
from courriel.privacy.models import RequestStatus
from courriel.privacy.rights import Actor, NewRequest
from courriel.privacy.schemas import RejectIn, RequestIn, RequestOut
from courriel.web.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep

router = APIRouter(prefix="/privacy", tags=["privacy"])

# The report holds personal data: never cached, never framed, no scripts.
_EXPORT_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
}


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@router.post("/requests", status_code=201)
def create_request(
    body: RequestIn, request: Request, services: ServicesDep, principal: PrincipalDep
) -> RequestOut:
    """Record a data-subject request; it is open until fulfilled or rejected."""
    actor = Actor.of(principal, "api", _ip(request))
    created = services.privacy_rights.create(
        actor,
        NewRequest(
            type=body.type.value,
            contact_id=body.contact_id,
            email=body.email,
            received_at=body.received_at,
            changes=body.changes,
            lift=body.lift,
            ground=body.ground.value if body.ground else None,
        ),
    )
    return RequestOut.of(created, services.clock.now())


@router.get("/requests")
def list_requests(
    *,
    services: ServicesDep,
    principal: PrincipalDep,
    status: RequestStatus | None = None,
    contact_id: Annotated[str | None, Query(max_length=40)] = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[RequestOut]:
    """The tenant's requests, optionally by status or contact."""
    page = services.privacy_rights.list_requests(
        Actor.of(principal), cursor, limit, status=status, contact_id=contact_id
    )
    now = services.clock.now()
    return PageOut[RequestOut].of(page, lambda r: RequestOut.of(r, now))


@router.get("/requests/{request_id}")
def get_request(request_id: str, services: ServicesDep, principal: PrincipalDep) -> RequestOut:
    """One request, with its erasure certificate when it has one."""
    found = services.privacy_rights.get(Actor.of(principal), request_id)
    return RequestOut.of(found, services.clock.now())


@router.post("/requests/{request_id}/fulfil")
def fulfil_request(
    request_id: str, request: Request, services: ServicesDep, principal: PrincipalDep
) -> RequestOut:
    """Do what the request asks, now (erase, restrict, rectify, …) and close it."""
    actor = Actor.of(principal, "api", _ip(request))
    done = services.privacy_rights.fulfil(actor, request_id)
    return RequestOut.of(done, services.clock.now())


@router.post("/requests/{request_id}/reject")
def reject_request(
    request_id: str,
    body: RejectIn,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
) -> RequestOut:
    """Close a request without acting on it, with the reason given to the person."""
    actor = Actor.of(principal, "api", _ip(request))
    done = services.privacy_rights.reject(actor, request_id, body.reason)
    return RequestOut.of(done, services.clock.now())


@router.get("/requests/{request_id}/export", response_model=None)
def export_request(
    request_id: str,
    request: Request,
    services: ServicesDep,
    principal: PrincipalDep,
    format: Literal["json", "html", "csv"] = "json",  # noqa: A002 - the query parameter's name
) -> Response:
    """The person's data for an access (JSON, HTML) or portability (JSON, CSV) request."""
    actor = Actor.of(principal, "api", _ip(request))
    body = services.privacy_rights.export(actor, request_id, format)
    if format == "html":
        return HTMLResponse(body, headers=_EXPORT_HEADERS)
    if format == "csv":
        headers = {
            **_EXPORT_HEADERS,
            "Content-Disposition": f'attachment; filename="{request_id}.csv"',
        }
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    return Response(body, media_type="application/json", headers=_EXPORT_HEADERS)


@router.get("/requests/{request_id}/certificate")
def erasure_certificate(
    request_id: str, services: ServicesDep, principal: PrincipalDep
) -> JSONResponse:
    """The erasure certificate of a fulfilled erasure request (no address in it)."""
    found = services.privacy_rights.certificate(Actor.of(principal), request_id)
    return JSONResponse(found)
