"""HTTP routes of the workflow templates shipped with Courriel."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from courriel.automation.catalogue import WorkflowTemplate
from courriel.automation.catalogue_service import FromTemplate
from courriel.automation.schemas import WorkflowOut
from courriel.core.schemas import Input
from courriel.web.api.workflows import _out
from courriel.web.deps import PrincipalDep, ServicesDep

router = APIRouter(tags=["automation"])


class WorkflowTemplateOut(BaseModel):
    key: str
    name: str
    summary: str
    notes: str
    # The definition with holes: "{list_id}" where the tenant's list goes; send
    # steps get their template_id when a workflow is made.
    definition: dict[str, Any]
    mails: dict[str, dict[str, str]]


class FromTemplateIn(Input):
    """The tenant's part of a workflow made from a template."""

    list_id: str = Field(min_length=1, max_length=40)
    from_email: str = Field(min_length=3, max_length=320)
    from_name: str = Field(default="", max_length=200)
    name: str = Field(default="", max_length=200)
    # Send step key → one of the tenant's templates; a step left out gets a
    # copy of the shipped mail as a new template.
    mail_templates: dict[str, str] = Field(default_factory=dict)


def _template_out(t: WorkflowTemplate) -> WorkflowTemplateOut:
    return WorkflowTemplateOut(
        key=t.key,
        name=t.name,
        summary=t.summary,
        notes=t.notes,
        definition=t.definition,
        mails={
            k: {"name": m.name, "subject": m.subject, "html": m.html} for k, m in t.mails.items()
        },
    )


@router.get("/workflow-templates")
def list_workflow_templates(
    services: ServicesDep, principal: PrincipalDep
) -> list[WorkflowTemplateOut]:
    """The workflow templates shipped with Courriel: welcome, re-engagement, re-permission."""
    return [_template_out(t) for t in services.workflow_templates.templates(principal)]


@router.get("/workflow-templates/{key}")
def get_workflow_template(
    key: str, services: ServicesDep, principal: PrincipalDep
) -> WorkflowTemplateOut:
    """One shipped workflow template."""
    return _template_out(services.workflow_templates.template(principal, key))


@router.post("/workflow-templates/{key}/workflows", status_code=201)
def create_from_template(
    key: str, body: FromTemplateIn, services: ServicesDep, principal: PrincipalDep
) -> WorkflowOut:
    """A draft workflow from the template, with the tenant's list, sender and mails."""
    filling = FromTemplate(
        list_id=body.list_id,
        from_email=body.from_email,
        from_name=body.from_name,
        name=body.name,
        mail_templates=body.mail_templates,
    )
    return _out(services.workflow_templates.create(principal, key, filling))
