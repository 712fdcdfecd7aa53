"""HTTP routes of segments and exports."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from courriel.audience.segments.service import CountedSegment, segment_condition
from courriel.core.schemas import Input
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["audience"])


class SegmentIn(Input):
    name: str = Field(min_length=1, max_length=200)
    expression: str = Field(min_length=1, max_length=4000)


class SegmentCountIn(Input):
    expression: str = Field(min_length=1, max_length=4000)


class SegmentOut(BaseModel):
    id: str
    name: str
    expression: str
    count: int


def _out(found: CountedSegment) -> SegmentOut:
    s = found.segment
    return SegmentOut(id=s.id, name=s.name, expression=s.expression, count=found.count)


@router.post("/segments", status_code=201)
def create_segment(body: SegmentIn, services: ServicesDep, principal: PrincipalDep) -> SegmentOut:
    """Save a segment (its expression is checked and counted)."""
    return _out(services.audience.segments.create(principal, body.name, body.expression))


@router.get("/segments")
def list_segments(services: ServicesDep, principal: PrincipalDep) -> list[SegmentOut]:
    """The tenant's segments with live counts."""
    return [_out(s) for s in services.audience.segments.list(principal)]


@router.get("/segments/{segment_id}")
def get_segment(segment_id: str, services: ServicesDep, principal: PrincipalDep) -> SegmentOut:
    """One segment with its live count."""
    return _out(services.audience.segments.get(principal, segment_id))


@router.post("/segments/count")
def count_segment(
    body: SegmentCountIn, services: ServicesDep, principal: PrincipalDep
) -> dict[str, int]:
    """How many contacts an expression selects now (without saving it)."""
    return {"count": services.audience.segments.count(principal, body.expression)}


@router.get("/lists/{list_id}/export")
def export_list(
    request: Request,
    list_id: str,
    *,
    services: ServicesDep,
    principal: PrincipalDep,
    fmt: Annotated[Literal["csv", "json"], Query(alias="format")] = "csv",
    segment: Annotated[str | None, Query(max_length=4000, description="Expression")] = None,
) -> StreamingResponse:
    """The list's contacts with consent data (capability contacts:export; audited)."""
    condition = None
    if segment:
        with services.storage.tenant(principal.tenant_id)() as session:
            condition = segment_condition(session, segment, services.clock)
    chunks = services.audience.exports.export(
        principal,
        list_id,
        fmt,
        condition,
        segment or "",
        source_ip=request.client.host if request.client else None,
    )
    media = "text/csv" if fmt == "csv" else "application/x-ndjson"
    name = f"{list_id}.{'csv' if fmt == 'csv' else 'jsonl'}"
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
