"""HTTP routes of templates."""

from __future__ import annotations

from fastapi import APIRouter

from courriel.api.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep
from courriel.api.schemas import PageOut
from courriel.content.models import Template, TemplateVersion
from courriel.content.schemas import TemplateIn, TemplateOut, TemplateSummary

router = APIRouter(tags=["content"])


def _out(template: Template, version: TemplateVersion) -> TemplateOut:
    return TemplateOut(
        id=template.id,
        name=template.name,
        version=version.version,
        subject=version.subject,
        html=version.html,
        text=version.text,
        created_at=template.created_at,
    )


@router.post("/templates", status_code=201)
def create_template(
    body: TemplateIn, services: ServicesDep, principal: PrincipalDep
) -> TemplateOut:
    """Create a template (version 1)."""
    return _out(
        *services.templates.create(principal, body.name, body.subject, body.html, body.text)
    )


@router.get("/templates")
def list_templates(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[TemplateSummary]:
    """The tenant's templates."""
    page = services.templates.list(principal, cursor, limit)
    return PageOut(
        data=[TemplateSummary.model_validate(t, from_attributes=True) for t in page.items],
        next_cursor=page.next_cursor,
    )


@router.get("/templates/{template_id}")
def get_template(template_id: str, services: ServicesDep, principal: PrincipalDep) -> TemplateOut:
    """A template with its current version."""
    return _out(*services.templates.get(principal, template_id))
