"""HTTP routes of workflows (automation) and custom events."""

from __future__ import annotations

from fastapi import APIRouter

from courriel.automation.models import Enrollment
from courriel.automation.schemas import (
    CustomEventIn,
    CustomEventOut,
    EnrollmentOut,
    StepFiguresOut,
    WorkflowIn,
    WorkflowOut,
    WorkflowStatsOut,
    WorkflowUpdate,
)
from courriel.automation.service import WorkflowView
from courriel.core.masking import mask_addresses_in
from courriel.core.principal import Principal
from courriel.core.schemas import PageOut
from courriel.web.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, PrincipalDep, ServicesDep

router = APIRouter(tags=["automation"])


def _out(view: WorkflowView) -> WorkflowOut:
    w = view.workflow
    return WorkflowOut(
        id=w.id,
        name=w.name,
        status=w.status.value,
        trigger_kind=w.trigger_kind,
        version=w.version,
        created_at=w.created_at,
        updated_at=w.updated_at,
        definition=view.definition,
    )


@router.post("/workflows", status_code=201)
def create_workflow(
    body: WorkflowIn, services: ServicesDep, principal: PrincipalDep
) -> WorkflowOut:
    """Create a draft workflow; a bad definition is refused with the field at fault."""
    return _out(services.workflows.create(principal, body.name, body.definition))


@router.get("/workflows")
def list_workflows(
    services: ServicesDep,
    principal: PrincipalDep,
    cursor: CursorQuery = None,
    limit: LimitQuery = DEFAULT_PAGE,
) -> PageOut[WorkflowOut]:
    """The tenant's workflows, newest first (without their definitions)."""
    return PageOut[WorkflowOut].of(services.workflows.list(principal, cursor, limit))


@router.get("/workflows/{workflow_id}")
def get_workflow(workflow_id: str, services: ServicesDep, principal: PrincipalDep) -> WorkflowOut:
    """One workflow with its newest definition."""
    return _out(services.workflows.get(principal, workflow_id))


@router.patch("/workflows/{workflow_id}")
def update_workflow(
    workflow_id: str, body: WorkflowUpdate, services: ServicesDep, principal: PrincipalDep
) -> WorkflowOut:
    """Rename, or give a new definition: people already inside finish their version."""
    return _out(
        services.workflows.update(
            principal, workflow_id, name=body.name, definition=body.definition
        )
    )


@router.post("/workflows/{workflow_id}/activate")
def activate_workflow(
    workflow_id: str, services: ServicesDep, principal: PrincipalDep
) -> WorkflowOut:
    """Start (or resume): the trigger lets people in, the engine moves them on."""
    return _out(services.workflows.activate(principal, workflow_id))


@router.post("/workflows/{workflow_id}/pause")
def pause_workflow(workflow_id: str, services: ServicesDep, principal: PrincipalDep) -> WorkflowOut:
    """Pause: nobody enters, those inside wait where they are."""
    return _out(services.workflows.pause(principal, workflow_id))


@router.post("/workflows/{workflow_id}/archive")
def archive_workflow(
    workflow_id: str, services: ServicesDep, principal: PrincipalDep
) -> WorkflowOut:
    """Archive for good: everyone inside leaves; the figures stay."""
    return _out(services.workflows.archive(principal, workflow_id))


@router.get("/workflows/{workflow_id}/stats")
def workflow_stats(
    workflow_id: str, services: ServicesDep, principal: PrincipalDep
) -> WorkflowStatsOut:
    """Figures per step (entered, waiting, done, sent, opened, clicked, converted, left)."""
    workflow, found = services.workflows.stats(principal, workflow_id)
    kinds = {
        str(s["key"]): str(s["kind"])
        for s in services.workflows.get(principal, workflow_id).definition["steps"]
    }
    return WorkflowStatsOut(
        workflow_id=workflow.id,
        status=workflow.status.value,
        totals=found.totals,
        steps=[
            StepFiguresOut(key=key, kind=kinds.get(key, ""), figures=figures)
            for key, figures in found.steps.items()
        ],
    )


def _enrollment(principal: Principal, e: Enrollment) -> EnrollmentOut:
    # The trigger's payload is the customer's data about a person: addresses
    # in it are masked for a credential that may not see addresses.
    payload = e.payload if principal.access("email") != "hidden" else mask_addresses_in(e.payload)
    return EnrollmentOut(
        id=e.id,
        workflow_id=e.workflow_id,
        version_id=e.version_id,
        contact_id=e.contact_id,
        state=e.state.value,
        step_key=e.step_key,
        next_at=e.next_at,
        entered_at=e.entered_at,
        finished_at=e.finished_at,
        reason=e.reason,
        payload=payload,
    )


@router.get("/contacts/{contact_id}/workflows")
def contact_enrollments(
    contact_id: str, services: ServicesDep, principal: PrincipalDep
) -> list[EnrollmentOut]:
    """The workflows a contact is or was in, and where they stand."""
    return [
        _enrollment(principal, e) for e in services.workflows.enrollments_of(principal, contact_id)
    ]


@router.post("/events/custom", status_code=201)
def post_custom_event(
    body: CustomEventIn, services: ServicesDep, principal: PrincipalDep
) -> CustomEventOut:
    """Record what a contact did in your application: triggers, goals and waits react."""
    recorded = services.custom_events.record(
        principal, body.name, body.payload, contact_id=body.contact_id, email=body.email
    )
    return CustomEventOut(
        id=recorded.id, contact_id=recorded.contact_id, enrolled=recorded.enrolled
    )
