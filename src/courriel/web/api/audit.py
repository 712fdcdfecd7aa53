"""HTTP routes of the audit trail: query, export, verify."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from courriel.core.audit import AuditFilter
from courriel.core.models import AuditEntry
from courriel.core.principal import Principal
from courriel.core.schemas import PageOut
from courriel.privacy.audit_export import export_trail
from courriel.web.deps import (
    DEFAULT_PAGE,
    CursorQuery,
    LimitQuery,
    PrincipalDep,
    Services,
    ServicesDep,
)

router = APIRouter(tags=["privacy"])

ActorQuery = Annotated[str | None, Query(max_length=80, description="Only this actor")]
ActionQuery = Annotated[str | None, Query(max_length=60, description="Only this action")]
SinceQuery = Annotated[
    dt.datetime | None, Query(description="From this time on (ISO 8601 with zone)")
]
UntilQuery = Annotated[
    dt.datetime | None, Query(description="Before this time (ISO 8601 with zone)")
]


class AuditEntryOut(BaseModel):
    seq: int
    occurred_at: dt.datetime
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]
    source_ip: str | None
    prev_hash: str
    hash: str


class VerificationOut(BaseModel):
    ok: bool
    entries: int
    first_broken_seq: int | None
    problem: str | None


def entry_out(entry: AuditEntry) -> AuditEntryOut:
    """The API shape of an entry (detail parsed back from its canonical text)."""
    return AuditEntryOut(
        seq=entry.seq,
        occurred_at=entry.occurred_at,
        actor=entry.actor,
        action=entry.action,
        subject=entry.subject,
        detail=json.loads(entry.detail),
        source_ip=entry.source_ip,
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def client_ip(request: Request) -> str | None:
    """Where the request came from, for the trail."""
    return request.client.host if request.client else None


def record_view(
    services: Services, principal: Principal, request: Request, action: str, subject: str
) -> None:
    """Record that personal data was shown (after it was found, so a 404 records nothing)."""
    services.audit.record(principal.tenant_id, principal, action, subject, {}, client_ip(request))


@router.get("/audit")
def list_audit(
    *,
    services: ServicesDep,
    principal: PrincipalDep,
    actor: ActorQuery = None,
    action: ActionQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[AuditEntryOut]:
    """The tenant's audit trail, oldest first, filtered by actor, action and time."""
    where = AuditFilter(actor=actor, action=action, since=since, until=until)
    page = services.audit.entries(principal, where, cursor, limit)
    return PageOut[AuditEntryOut].of(page, entry_out)


@router.get("/audit/export")
def export_audit(
    request: Request,
    *,
    services: ServicesDep,
    principal: PrincipalDep,
    format: Literal["jsonl", "csv"] = "jsonl",  # noqa: A002 - the query parameter's name
    actor: ActorQuery = None,
    action: ActionQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> StreamingResponse:
    """The filtered trail as JSON Lines or CSV, with each entry's hashes."""
    where = AuditFilter(actor=actor, action=action, since=since, until=until)
    chunks = export_trail(
        services.storage,
        services.audit,
        principal,
        format,
        where=where,
        source_ip=client_ip(request),
    )
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    name = f"audit.{format}"
    return StreamingResponse(
        chunks, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/audit/verify")
def verify_audit(services: ServicesDep, principal: PrincipalDep) -> VerificationOut:
    """Check the whole hash chain; names the first broken entry when there is one."""
    result = services.audit.verify(principal)
    return VerificationOut(
        ok=result.ok,
        entries=result.entries,
        first_broken_seq=result.first_broken_seq,
        problem=result.problem,
    )
