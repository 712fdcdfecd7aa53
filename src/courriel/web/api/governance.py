"""HTTP routes of privacy governance: list retention rules, the dry run, the register."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from courriel.core.schemas import Input, Int64
from courriel.privacy.governance import (
    DEFAULT_CATEGORIES,
    GovernanceInput,
    register_csv,
    register_html,
    register_json,
)
from courriel.privacy.models import ListGovernance
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/privacy", tags=["privacy"])


class GovernanceIn(Input):
    inactive_months: Int64 | None = Field(
        default=None, description="Ask again after this many months without an open or click"
    )
    consent_months: Int64 | None = Field(
        default=None, description="Ask again when consent is older than this many months"
    )
    confirm_days: Int64 = Field(default=30, description="Days the re-permission link stays valid")
    inactive_outcome: str = Field(
        default="remove", description="remove or anonymize inactive contacts who do not answer"
    )
    legal_basis: str = "consent"
    data_categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    recipients: list[str] = Field(
        default_factory=list, description="Processors and other recipients of the data"
    )
    notes: str = ""
    pending_days: int | None = Field(
        default=None, ge=1, le=3650, description="Forget unconfirmed sign-ups after this many days"
    )
    ended_months: int | None = Field(
        default=None, ge=1, le=1200, description="Reduce people who left after this many months"
    )


class GovernanceOut(BaseModel):
    list_id: str
    inactive_months: int | None
    consent_months: int | None
    confirm_days: int
    inactive_outcome: str
    legal_basis: str
    data_categories: list[str]
    recipients: list[str]
    notes: str
    updated_at: dt.datetime
    pending_days: int | None = None
    ended_months: int | None = None


class AffectedOut(BaseModel):
    list_id: str | None
    contact_id: str
    email: str
    reason: str
    action: str = Field(
        description="send-repermission, suppress, remove, anonymize; forget (an unconfirmed "
        "sign-up) or reduce (a person who left, to the suppression hash and the ledger)"
    )
    since: dt.datetime | None
    deadline: dt.datetime | None


class ReportOut(BaseModel):
    data: list[AffectedOut]


class RunOut(BaseModel):
    sent: int
    suppressed: int
    removed: int
    anonymized: int
    forgotten: int = 0
    reduced: int = 0


class DefaultsIn(Input):
    pending_days: int | None = Field(
        default=None, ge=1, le=3650, description="Forget unconfirmed sign-ups after this many days"
    )
    ended_months: int | None = Field(
        default=None,
        ge=1,
        le=1200,
        description="Reduce people who left every list to the suppression hash and the "
        "consent ledger after this many months",
    )


class DefaultsOut(BaseModel):
    pending_days: int | None
    ended_months: int | None


def _out(row: ListGovernance) -> GovernanceOut:
    return GovernanceOut(
        list_id=row.list_id,
        inactive_months=row.inactive_months,
        consent_months=row.consent_months,
        confirm_days=row.confirm_days,
        inactive_outcome=row.inactive_outcome.value,
        legal_basis=row.legal_basis,
        data_categories=list(row.data_categories),
        recipients=list(row.recipients),
        notes=row.notes,
        updated_at=row.updated_at,
        pending_days=row.pending_days,
        ended_months=row.ended_months,
    )


@router.get("/lists/{list_id}/governance")
def get_governance(list_id: str, services: ServicesDep, principal: PrincipalDep) -> GovernanceOut:
    """A list's retention rules and register entry (defaults when never set)."""
    return _out(services.governance.get(principal, list_id))


@router.put("/lists/{list_id}/governance")
def set_governance(
    list_id: str, body: GovernanceIn, services: ServicesDep, principal: PrincipalDep
) -> GovernanceOut:
    """Replace a list's retention rules and register entry."""
    given = GovernanceInput(**body.model_dump())
    return _out(services.governance.set(principal, list_id, given))


@router.get("/retention/report")
def retention_report(
    services: ServicesDep,
    principal: PrincipalDep,
    list_id: Annotated[str | None, Query(max_length=40, description="Only this list")] = None,
) -> ReportOut:
    """Dry run: who the retention rules would mail, suppress, remove or anonymize now."""
    found = services.repermissions.report(principal, list_id)
    return ReportOut(
        data=[
            AffectedOut(
                list_id=a.list_id,
                contact_id=a.contact_id,
                email=a.email,
                reason=a.reason.value,
                action=a.action,
                since=a.since,
                deadline=a.deadline,
            )
            for a in found
        ]
    )


@router.post("/retention/run")
def retention_run(services: ServicesDep, principal: PrincipalDep) -> RunOut:
    """Run the retention rules of this tenant now (the engine also runs them periodically)."""
    done = services.repermissions.run(principal)
    return RunOut(
        sent=done.sent,
        suppressed=done.suppressed,
        removed=done.removed,
        anonymized=done.anonymized,
        forgotten=done.forgotten,
        reduced=done.reduced,
    )


@router.get("/retention/defaults")
def retention_defaults(services: ServicesDep, principal: PrincipalDep) -> DefaultsOut:
    """The tenant's storage limits for lists that set none."""
    pending, ended = services.governance.defaults(principal)
    return DefaultsOut(pending_days=pending, ended_months=ended)


@router.put("/retention/defaults")
def set_retention_defaults(
    body: DefaultsIn, services: ServicesDep, principal: PrincipalDep
) -> DefaultsOut:
    """Set the tenant's storage limits for lists that set none."""
    pending, ended = services.governance.set_defaults(
        principal, body.pending_days, body.ended_months
    )
    return DefaultsOut(pending_days=pending, ended_months=ended)


@router.get("/register", response_model=None)
def processing_register(
    services: ServicesDep,
    principal: PrincipalDep,
    fmt: Annotated[Literal["json", "csv", "html"], Query(alias="format")] = "json",
) -> Response:
    """The record of processing activities (GDPR Art. 30): one entry per list."""
    entries = services.governance.register(principal)
    name = services.tenants.get(principal.tenant_id).name
    now = services.clock.now()
    notice = services.privacy_rights.notice_of(principal.tenant_id)
    if fmt == "csv":
        body, media = register_csv(entries), "text/csv; charset=utf-8"
    elif fmt == "html":
        body, media = register_html(name, entries, now, notice), "text/html; charset=utf-8"
    else:
        body, media = register_json(name, entries, now, notice), "application/json"
    headers = {"Content-Disposition": f'attachment; filename="register.{fmt}"'}
    if fmt == "html":
        headers = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"}
    return Response(body, media_type=media, headers=headers)
