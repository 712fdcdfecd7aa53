"""API shapes of data-subject requests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field

from courriel.core.schemas import Input
from courriel.privacy.models import (
    DataSubjectRequest,
    ObjectionGround,
    RequestStatus,
    RequestType,
)


class RequestIn(Input):
    type: RequestType = Field(description="access, portability, rectification, erasure, …")
    contact_id: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=320, description="Instead of contact_id")
    received_at: dt.datetime | None = Field(
        default=None, description="When the person asked (default: now); starts the 30 days"
    )
    changes: dict[str, Any] | None = Field(
        default=None, description="Rectification only: email, first_name, …, properties"
    )
    lift: bool = Field(default=False, description="Restriction or objection: lift it instead")
    ground: ObjectionGround | None = Field(
        default=None,
        description="Objection only (required): direct-marketing (no marketing at all) "
        "or profiling (no tracking)",
    )


class RejectIn(Input):
    reason: str = Field(min_length=1, max_length=1000)


class RequestOut(BaseModel):
    id: str
    type: RequestType
    status: RequestStatus
    contact_id: str
    channel: str
    principal: str
    fulfilled_by: str | None
    received_at: dt.datetime
    deadline_at: dt.datetime
    closed_at: dt.datetime | None
    overdue: bool
    detail: dict[str, Any]
    certificate: dict[str, Any] | None

    @classmethod
    def of(cls, row: DataSubjectRequest, now: dt.datetime) -> RequestOut:
        """The API shape of a request, with whether its deadline has passed unanswered."""
        return cls(
            id=row.id,
            type=row.type,
            status=row.status,
            contact_id=row.contact_id,
            channel=row.channel,
            principal=row.principal,
            fulfilled_by=row.fulfilled_by,
            received_at=row.received_at,
            deadline_at=row.deadline_at,
            closed_at=row.closed_at,
            overdue=row.status is RequestStatus.OPEN and now > row.deadline_at,
            detail=dict(row.detail or {}),
            certificate=row.certificate,
        )
