"""Custom events: what the customer's application says a contact did
(`POST /v1/events/custom`), recorded, and acted on at once.

Recording one event, in one transaction:
1. the event row (name, JSON payload), found later by conditions, goals
   and waits (`ix_custom_events_contact_name_time`);
2. workflows triggered by this event name let the contact in (`enroll`,
   with the payload for templates as ``var.event``);
3. the contact's enrollments that wait (for this event, a goal, or a
   timer) are woken now: their step looks again at once, so a goal
   reached or an awaited event takes effect in the next engine pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from courriel.audience.models import Contact
from courriel.automation.enroll import Entry, enroll
from courriel.automation.graph import check_event_name
from courriel.automation.models import (
    CustomEvent,
    Enrollment,
    EnrollmentState,
    Workflow,
    WorkflowStatus,
    WorkflowVersion,
)
from courriel.core.addresses import normalize_address
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError, NotFoundError
from courriel.core.ids import new_id
from courriel.core.principal import Capability, Principal
from courriel.core.storage import Storage

MAX_PAYLOAD = 10_000


@dataclass(frozen=True)
class Recorded:
    """An event recorded, and the workflows it let the contact into."""

    id: str
    contact_id: str
    enrolled: list[str]


class CustomEvents:
    """Records custom events of the principal's tenant."""

    def __init__(self, storage: Storage, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    def record(
        self,
        principal: Principal,
        name: str,
        payload: dict[str, Any],
        *,
        contact_id: str | None = None,
        email: str | None = None,
    ) -> Recorded:
        """Record an event of a contact (by id or address); nothing is stored on a bad input."""
        principal.require(Capability.CONTACTS_WRITE)
        check_event_name(name, "name")
        if not isinstance(payload, dict):
            raise InvalidInputError("payload", "must be a JSON object")
        if len(json.dumps(payload, default=str)) > MAX_PAYLOAD:
            raise InvalidInputError("payload", f"at most {MAX_PAYLOAD} characters of JSON")
        if (contact_id is None) == (email is None):
            raise InvalidInputError("contact_id", "name the contact by contact_id or by email")
        now = self._clock.now()
        with transaction(self._storage.tenant(principal.tenant_id)) as session:
            if contact_id is not None:
                contact = session.get(Contact, contact_id)
            else:
                assert email is not None
                address = normalize_address(email)
                contact = session.scalar(select(Contact).where(Contact.email == address))
            if contact is None:
                raise NotFoundError("no such contact")
            event_id = new_id("cev")
            session.add(
                CustomEvent(
                    id=event_id, contact_id=contact.id, name=name, payload=payload, occurred_at=now
                )
            )
            enrolled: list[str] = []
            for workflow in session.scalars(
                select(Workflow).where(
                    Workflow.status == WorkflowStatus.ACTIVE,
                    Workflow.trigger_kind == "custom_event",
                )
            ):
                version = session.scalar(
                    select(WorkflowVersion).where(
                        WorkflowVersion.workflow_id == workflow.id,
                        WorkflowVersion.number == workflow.version,
                    )
                )
                assert version is not None
                if version.definition["trigger"].get("name") != name:
                    continue
                entry = Entry(contact.id, f"event:{event_id}", dict(payload))
                if enroll(session, workflow, version.id, version.definition, entry, now=now):
                    enrolled.append(workflow.id)
            # Waiting people look again now (a paused workflow's have no wake-up time).
            session.execute(
                update(Enrollment)
                .where(
                    Enrollment.contact_id == contact.id,
                    Enrollment.state == EnrollmentState.ACTIVE,
                    Enrollment.next_at > now,
                )
                .values(next_at=now)
            )
            return Recorded(event_id, contact.id, enrolled)
