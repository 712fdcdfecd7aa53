"""Workflows of the principal's tenant: create, edit (new versions), activate, pause,
archive, and read their figures.

A definition is checked twice before anything is stored: its shape
(`graph.parse_definition`: step kinds, branches, cycles, time zones) and its
references in the tenant's database (`check_references`: templates, lists,
webhook endpoints, properties, segment expressions). Editing a draft
replaces its only version; editing a workflow that people have entered adds
a version, which new people enter while those inside finish theirs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.orm import Session

from courriel.audience.access import contact_in_reach
from courriel.automation.counters import bump
from courriel.automation.graph import Definition, Step, parse_definition
from courriel.automation.lifecycle import ENROLLMENT_TRANSITIONS, WORKFLOW_TRANSITIONS
from courriel.automation.models import (
    Enrollment,
    EnrollmentState,
    Workflow,
    WorkflowStatus,
    WorkflowVersion,
)
from courriel.automation.references import check_references
from courriel.automation.runner import LEFT
from courriel.automation.sending import step_campaign
from courriel.automation.stats import WorkflowFigures, figures
from courriel.automation.triggers import TRIGGERS, checkers
from courriel.campaigns.models import Campaign, CampaignStatus, MailClass
from courriel.content.models import Template, TemplateVersion
from courriel.core.clock import Clock
from courriel.core.db import get_or_not_found, transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.pagination import Page, paginate_newest
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

MAX_NAME = 200
# What a send check is asked about a step's campaign (campaigns.service.SendCheck).
SendCheck = Callable[[Principal, Campaign], None]


@dataclass(frozen=True)
class WorkflowView:
    """A workflow with its newest version's definition."""

    workflow: Workflow
    definition: dict[str, Any]


class WorkflowService:
    """Use cases of workflows (see the module docstring)."""

    def __init__(
        self, storage: Storage, clock: Clock, send_checks: Sequence[SendCheck] = ()
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._send_checks = list(send_checks)

    # -- writing ------------------------------------------------------------

    def create(self, principal: Principal, name: str, definition: Any) -> WorkflowView:
        """A new draft workflow; InvalidInputError names the first problem (nothing stored)."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        clean = _name(name)
        now = self._clock.now()
        checked = parse_definition(definition, checkers())
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            check_references(session, principal, checked)
            workflow = Workflow(
                id=new_id("wfl"),
                name=clean,
                status=WorkflowStatus.DRAFT,
                trigger_kind=checked.trigger["kind"],
                version=1,
                trigger_cursor="",
                created_at=now,
                updated_at=now,
            )
            session.add(workflow)
            session.flush()
            session.add(_version(workflow.id, 1, checked, now))
            session.flush()
            session.expunge(workflow)
        return WorkflowView(workflow, checked.raw)

    def update(
        self, principal: Principal, workflow_id: str, *, name: str | None, definition: Any
    ) -> WorkflowView:
        """A new definition: a draft's is replaced, a used one's becomes a new version."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        now = self._clock.now()
        checked = parse_definition(definition, checkers()) if definition is not None else None
        clean = _name(name) if name is not None else None
        if checked is not None and self.get(principal, workflow_id).workflow.status in (
            WorkflowStatus.ACTIVE,
            WorkflowStatus.PAUSED,
        ):
            self._check_sends(principal, workflow_id, checked)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            workflow = self._workflow(session, principal, workflow_id)
            if workflow.status is WorkflowStatus.ARCHIVED:
                raise InvalidInputError("status", "an archived workflow cannot be edited")
            if clean is not None:
                workflow.name = clean
            if checked is not None:
                if checked.trigger["kind"] != workflow.trigger_kind:
                    raise InvalidInputError(
                        "trigger.kind", "a workflow keeps its kind of trigger; make a new workflow"
                    )
                check_references(session, principal, checked)
                current = _current(session, workflow)
                if workflow.status is WorkflowStatus.DRAFT:
                    current.definition = checked.raw
                else:
                    workflow.version += 1
                    session.add(_version(workflow.id, workflow.version, checked, now))
                    session.flush()
                    if workflow.status is WorkflowStatus.ACTIVE:
                        self._prepare_sends(session, workflow, checked, now)
            workflow.updated_at = now
            session.flush()
            definition_now = _current(session, workflow).definition
            session.expunge(workflow)
        return WorkflowView(workflow, definition_now)

    def activate(self, principal: Principal, workflow_id: str) -> WorkflowView:
        """Start (or resume) letting people in and moving them; the send checks apply."""
        principal.require(Capability.CAMPAIGNS_SEND)
        return self._move(principal, workflow_id, WorkflowStatus.ACTIVE)

    def pause(self, principal: Principal, workflow_id: str) -> WorkflowView:
        """Stop letting people in; those inside wait where they are until resumed."""
        principal.require(Capability.CAMPAIGNS_SEND)
        return self._move(principal, workflow_id, WorkflowStatus.PAUSED)

    def archive(self, principal: Principal, workflow_id: str) -> WorkflowView:
        """End the workflow for good: everyone inside leaves; the figures stay."""
        principal.require(Capability.CAMPAIGNS_WRITE)
        return self._move(principal, workflow_id, WorkflowStatus.ARCHIVED)

    def _move(self, principal: Principal, workflow_id: str, target: WorkflowStatus) -> WorkflowView:
        now = self._clock.now()
        if target is WorkflowStatus.ACTIVE:
            self._check_sends(principal, workflow_id)
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            workflow = self._workflow(session, principal, workflow_id)
            WORKFLOW_TRANSITIONS.check(workflow.status, target)
            version = _current(session, workflow)
            checked = parse_definition(version.definition, checkers())
            if target is WorkflowStatus.ACTIVE:
                check_references(session, principal, checked)
                self._prepare_sends(session, workflow, checked, now)
                kind = TRIGGERS[workflow.trigger_kind]
                if kind.start is not None and workflow.status is WorkflowStatus.DRAFT:
                    kind.start(session, workflow, version.definition, now)
                elif kind.poll is not None:
                    workflow.trigger_at = now
            self._hold_or_release(session, workflow, target, now)
            workflow.status = target
            workflow.updated_at = now
            session.flush()
            session.expunge(workflow)
        return WorkflowView(workflow, version.definition)

    def _hold_or_release(
        self, session: Session, workflow: Workflow, target: WorkflowStatus, now: dt.datetime
    ) -> None:
        """Paused: nobody moves (their wake-up is parked). Active: due again. Archived: out."""
        active = (Enrollment.workflow_id == workflow.id, Enrollment.state == EnrollmentState.ACTIVE)
        if target is WorkflowStatus.PAUSED:
            workflow.trigger_at = None
            session.execute(update(Enrollment).where(*active).values(next_at=None))
        elif target is WorkflowStatus.ACTIVE and workflow.status is WorkflowStatus.PAUSED:
            session.execute(update(Enrollment).where(*active).values(next_at=now))
        elif target is WorkflowStatus.ARCHIVED:
            workflow.trigger_at = None
            steps = session.execute(
                select(Enrollment.step_key, func.count())
                .where(*active)
                .group_by(Enrollment.step_key)
            ).all()
            for step_key, count in steps:
                bump(session, workflow.id, step_key, LEFT, count)
                bump(session, workflow.id, "", LEFT, count)
            assert ENROLLMENT_TRANSITIONS.allows(EnrollmentState.ACTIVE, EnrollmentState.LEFT)
            session.execute(
                update(Enrollment)
                .where(*active)
                .values(
                    state=EnrollmentState.LEFT,
                    reason="workflow archived",
                    next_at=None,
                    finished_at=now,
                )
            )

    def _check_sends(
        self, principal: Principal, workflow_id: str, definition: Definition | None = None
    ) -> None:
        """Each send step through the same checks as a campaign's Send (policy, sender
        domain, content), before anything is written: a refusal stores nothing."""
        with self._storage.tenant(principal.tenant_id)() as session:
            workflow = self._workflow(session, principal, workflow_id)
            if definition is None:
                definition = parse_definition(_current(session, workflow).definition, checkers())
            trials = [
                (step.key, _trial_campaign(session, workflow, definition, step))
                for step in definition.send_steps()
            ]
        for key, campaign in trials:
            for check in self._send_checks:
                try:
                    check(principal, campaign)
                except InvalidInputError as exc:
                    raise InvalidInputError(f"steps.{key}.{exc.field}", exc.reason) from None

    @staticmethod
    def _prepare_sends(
        session: Session, workflow: Workflow, definition: Definition, now: dt.datetime
    ) -> None:
        """Each send step's first campaign, frozen on the template's current version."""
        version = _current(session, workflow)
        for step in definition.send_steps():
            step_campaign(session, workflow, version.id, definition, step, 1, now)

    # -- reading ------------------------------------------------------------

    def get(self, principal: Principal, workflow_id: str) -> WorkflowView:
        """One workflow and its newest definition."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            workflow = self._workflow(session, principal, workflow_id)
            definition = _current(session, workflow).definition
            session.expunge(workflow)
        return WorkflowView(workflow, definition)

    def list(self, principal: Principal, cursor: str | None, limit: int) -> Page[Workflow]:
        """The tenant's workflows, newest first."""
        principal.require(Capability.CAMPAIGNS_READ)
        statement: Select[tuple[Workflow]] = select(Workflow)
        with self._storage.tenant(principal.tenant_id)() as session:
            page = paginate_newest(
                session,
                statement,
                created=Workflow.created_at,
                key=Workflow.id,
                cursor=cursor,
                limit=limit,
            )
            if principal.lists is not None:
                page = Page(
                    [w for w in page.items if _reaches(session, principal, w)], page.next_cursor
                )
            session.expunge_all()
        return page

    def stats(self, principal: Principal, workflow_id: str) -> tuple[Workflow, WorkflowFigures]:
        """The workflow's figures, in total and per step of its newest version."""
        principal.require(Capability.STATS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            workflow = self._workflow(session, principal, workflow_id)
            keys = [str(s["key"]) for s in _current(session, workflow).definition["steps"]]
            found = figures(session, workflow_id, keys)
            session.expunge(workflow)
        return workflow, found

    def versions(self, principal: Principal, workflow_id: str) -> Sequence[WorkflowVersion]:
        """Every version of a workflow, oldest first."""
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            self._workflow(session, principal, workflow_id)
            found = list(
                session.scalars(
                    select(WorkflowVersion)
                    .where(WorkflowVersion.workflow_id == workflow_id)
                    .order_by(WorkflowVersion.number)
                )
            )
            session.expunge_all()
        return found

    def enrollments_of(self, principal: Principal, contact_id: str) -> Sequence[Enrollment]:
        """The workflows a contact is or was in (the contact must be reachable)."""
        principal.require(Capability.CONTACTS_READ)
        principal.require(Capability.CAMPAIGNS_READ)
        with self._storage.tenant(principal.tenant_id)() as session:
            # A user limited to some lists must not learn that a contact of
            # another list exists, nor what it went through.
            contact_in_reach(session, principal, contact_id)
            found = [
                e
                for e in session.scalars(
                    select(Enrollment)
                    .where(Enrollment.contact_id == contact_id)
                    .order_by(Enrollment.entered_at, Enrollment.id)
                )
                if principal.lists is None
                or _reaches(session, principal, session.get(Workflow, e.workflow_id))
            ]
            session.expunge_all()
        return found

    def _workflow(self, session: Session, principal: Principal, workflow_id: str) -> Workflow:
        workflow = get_or_not_found(session, Workflow, workflow_id, "workflow")
        if principal.lists is not None and not _reaches(session, principal, workflow):
            raise NotFoundError(f"no workflow {workflow_id!r}")
        return workflow


def _trial_campaign(
    session: Session, workflow: Workflow, definition: Definition, step: Step
) -> Campaign:
    """The campaign a send step would have, unsaved, for the send checks to look at."""
    version_id = session.scalar(
        select(TemplateVersion.id)
        .join(Template, Template.id == TemplateVersion.template_id)
        .where(
            Template.id == step.settings["template_id"],
            TemplateVersion.version == Template.current_version,
        )
    )
    if version_id is None:
        raise InvalidInputError(
            f"steps.{step.key}.template_id", f"no template {step.settings['template_id']!r}"
        )
    return Campaign(
        id=f"trial-{workflow.id}",
        name=workflow.name,
        status=CampaignStatus.DRAFT,
        mail_class=MailClass(step.settings["mail_class"]),
        template_version_id=version_id,
        from_email=definition.from_email,
        from_name=definition.from_name,
        tracking=True,
    )


def _reaches(session: Session, principal: Principal, workflow: Workflow | None) -> bool:
    """A principal limited to some lists reaches a workflow naming only those lists."""
    if workflow is None:
        return False
    definition = _current(session, workflow).definition
    named = {definition.get("consent_list_id"), (definition.get("trigger") or {}).get("list_id")}
    for step in definition.get("steps", []):
        named.add(step.get("list_id"))
    return all(principal.sees_list(str(n)) for n in named if n)


def _current(session: Session, workflow: Workflow) -> WorkflowVersion:
    version = session.scalar(
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow.id,
            WorkflowVersion.number == workflow.version,
        )
    )
    assert version is not None
    return version


def _version(
    workflow_id: str, number: int, definition: Definition, now: dt.datetime
) -> WorkflowVersion:
    return WorkflowVersion(
        id=new_id("wfv"),
        workflow_id=workflow_id,
        number=number,
        definition=definition.raw,
        created_at=now,
    )


def _name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > MAX_NAME:
        raise InvalidInputError("name", f"must be 1 to {MAX_NAME} characters")
    return clean
