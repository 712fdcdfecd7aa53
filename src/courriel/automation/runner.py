"""Moving one person through a workflow, one step at a time, each step at most once.

`StepRunner.advance` takes an enrollment the engine leased and walks it
forward until it must wait or leaves. For each step:

1. guard checks (`guards.py`): restricted, suppressed, unsubscribed, consent
   ended, or the goal reached: they leave now, before the step acts;
2. the step's run row, unique per (enrollment, step): made `started` on
   arrival (a waiting step notes when its wait ends);
3. the step itself, in the same transaction as its run row becoming `done`
   and the move to the next step (`steps.py`), so it happens exactly once;
   a send step spans two transactions around the spool (`sending.py`).

Only the lease holder moves a person: each transaction re-reads the
enrollment and stops when its lease went to another engine.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from courriel.audience.models import Contact
from courriel.automation.counters import bump
from courriel.automation.graph import Definition, Step, parse_definition
from courriel.automation.guards import check_before_step
from courriel.automation.lifecycle import ENROLLMENT_TRANSITIONS
from courriel.automation.models import (
    Enrollment,
    EnrollmentState,
    StepRun,
    StepRunState,
    Workflow,
    WorkflowVersion,
)
from courriel.automation.sending import Prepared, StepSender
from courriel.automation.steps import Go, StepContext, Wait, first_due, run_local
from courriel.automation.triggers import checkers
from courriel.core.clock import Clock
from courriel.core.db import insert_for, transaction
from courriel.core.storage import Storage

log = logging.getLogger(__name__)

# Steps walked in one go before the person is handed back (a long chain of
# instant steps still lets other people's turns come).
MAX_STEPS_PER_TURN = 50
DONE = "done"
LEFT = "left"
CONVERTED = "converted"
COMPLETED = "completed"


class Definitions:
    """Checked definitions by version id (a version never changes once stored)."""

    def __init__(self, limit: int = 1024) -> None:
        self._cache: dict[str, tuple[Definition, int]] = {}
        self._limit = limit

    def get(self, session: Session, version_id: str) -> tuple[Definition, int]:
        """The version's definition and number."""
        found = self._cache.get(version_id)
        if found is None:
            version = session.get(WorkflowVersion, version_id)
            assert version is not None
            found = (parse_definition(version.definition, checkers()), version.number)
            if len(self._cache) >= self._limit:
                self._cache.pop(next(iter(self._cache)))
            self._cache[version_id] = found
        return found


@dataclass(frozen=True)
class _Sending:
    prepared: Prepared
    step: Step
    workflow_id: str
    version_number: int


class StepRunner:
    """Walks leased enrollments forward (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        secret_key: bytes,
        sender: StepSender,
        definitions: Definitions | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._key = secret_key
        self._sender = sender
        self._definitions = definitions or Definitions()
        # A test's hook between a send's spooling and its finish (crash tests).
        self.after_spool: Callable[[], None] | None = None

    def advance(self, tenant_id: str, enrollment_id: str, owner: str) -> int:
        """Walk one leased enrollment until it waits or leaves; the steps done."""
        done = 0
        while done < MAX_STEPS_PER_TURN:
            steps, outcome = self._turn(tenant_id, enrollment_id, owner, MAX_STEPS_PER_TURN - done)
            done += steps
            if isinstance(outcome, _Sending):
                failure = self._sender.deliver(outcome.prepared)
                if self.after_spool is not None:
                    self.after_spool()
                outcome = self._finish_send(tenant_id, enrollment_id, owner, outcome, failure)
                done += outcome
            if not outcome:
                return done
        self._release(tenant_id, enrollment_id, owner)
        return done

    def _turn(
        self, tenant_id: str, enrollment_id: str, owner: str, budget: int
    ) -> tuple[int, bool | _Sending]:
        """Steps done in one transaction, and whether to go on (True), stop (False), or
        finish a send (its first half is done).

        Local steps in a row (waits, conditions, list and property changes,
        webhook outbox rows) share the transaction: they write only to this
        database, so they commit or roll back together, each still behind its
        own guard check and unique run row. A send starts its own transaction,
        since its second half follows the spool.
        """
        now = self._clock.now()
        steps = 0
        with transaction(self._storage.tenant(tenant_id)) as session:
            while True:
                enrollment = _leased(session, enrollment_id, owner)
                if enrollment is None:
                    return steps, False
                definition, number = self._definitions.get(session, enrollment.version_id)
                step = definition.step(enrollment.step_key)
                if steps and (step.kind == "send" or steps >= budget):
                    return steps, True
                contact = session.get(Contact, enrollment.contact_id)
                assert contact is not None  # erasure deletes the enrollment with the contact
                verdict = check_before_step(
                    session, enrollment, contact, definition, self._key, tenant_id, self._clock
                )
                if verdict is not None:
                    state = EnrollmentState.CONVERTED if verdict.converted else EnrollmentState.LEFT
                    _end(session, enrollment, state, verdict.reason, now)
                    return steps, False
                run = _arrive(session, enrollment, step, contact, definition, now, self._clock)
                if step.kind == "send":
                    return steps, self._start_send(
                        session, tenant_id, enrollment, contact, definition, step, run, number, now
                    )
                ctx = StepContext(session, enrollment, contact, definition, run, now, self._clock)
                result = run_local(ctx, step)
                went_on = _apply(session, enrollment, run, step, result, now=now)
                if not went_on:
                    return steps, False
                steps += 1

    def _start_send(  # noqa: PLR0917 (one step's facts)
        self,
        session: Session,
        tenant_id: str,
        enrollment: Enrollment,
        contact: Contact,
        definition: Definition,
        step: Step,
        run: StepRun,
        number: int,
        now: dt.datetime,
    ) -> bool | _Sending:
        later = self._sender.suspended_until(tenant_id, now)
        if later is not None:
            return _apply(session, enrollment, run, step, Wait(later), now=now)
        workflow = session.get(Workflow, enrollment.workflow_id)
        assert workflow is not None
        prepared = self._sender.prepare(
            session, tenant_id, workflow, enrollment, contact, definition, step, run, now
        )
        return _Sending(prepared, step, enrollment.workflow_id, number)

    def _finish_send(
        self, tenant_id: str, enrollment_id: str, owner: str, sending: _Sending, failure: str
    ) -> bool:
        now = self._clock.now()
        with transaction(self._storage.tenant(tenant_id)) as session:
            enrollment = _leased(session, enrollment_id, owner)
            self._sender.finish(
                session,
                sending.prepared,
                sending.workflow_id,
                sending.version_number,
                sending.step,
                failure,
                now,
            )
            if enrollment is None:
                return False
            run = _run_of(session, enrollment.id, sending.step.key)
            assert run is not None
            outcome = f"failed: {failure}"[:200] if failure else "sent"
            return _apply(
                session,
                enrollment,
                run,
                sending.step,
                Go(sending.step.branches["next"], outcome),
                now=now,
            )

    def _release(self, tenant_id: str, enrollment_id: str, owner: str) -> None:
        with transaction(self._storage.tenant(tenant_id)) as session:
            enrollment = _leased(session, enrollment_id, owner)
            if enrollment is not None:
                enrollment.lease_owner = None
                enrollment.lease_until = None


def _leased(session: Session, enrollment_id: str, owner: str) -> Enrollment | None:
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.state is not EnrollmentState.ACTIVE:
        return None
    if enrollment.lease_owner != owner:
        return None
    return enrollment


def _run_of(session: Session, enrollment_id: str, step_key: str) -> StepRun | None:
    return session.scalar(
        select(StepRun).where(StepRun.enrollment_id == enrollment_id, StepRun.step_key == step_key)
    )


def _arrive(  # noqa: PLR0917 (one step's facts)
    session: Session,
    enrollment: Enrollment,
    step: Step,
    contact: Contact,
    definition: Definition,
    now: dt.datetime,
    clock: Clock,
) -> StepRun:
    """The step's run row, made `started` on the first arrival (unique per enrollment)."""
    run = _run_of(session, enrollment.id, step.key)
    if run is not None:
        return run
    probe = StepRun(enrollment_id=enrollment.id, step_key=step.key, created_at=now)
    ctx = StepContext(session, enrollment, contact, definition, probe, now, clock)
    values: dict[str, Any] = {
        "enrollment_id": enrollment.id,
        "step_key": step.key,
        "state": StepRunState.STARTED,
        "outcome": "",
        "due_at": first_due(ctx, step),
        "created_at": now,
    }
    session.execute(
        insert_for(session)(StepRun)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[StepRun.enrollment_id, StepRun.step_key])
    )
    run = _run_of(session, enrollment.id, step.key)
    assert run is not None
    return run


def _apply(
    session: Session,
    enrollment: Enrollment,
    run: StepRun,
    step: Step,
    result: Go | Wait,
    *,
    now: dt.datetime,
) -> bool:
    """Record what the step decided; True when the person goes straight on."""
    if isinstance(result, Wait):
        enrollment.next_at = result.until
        enrollment.waiting_for = result.waiting_for
        enrollment.lease_owner = None
        enrollment.lease_until = None
        return False
    run.state = StepRunState.DONE
    run.outcome = result.outcome[:200]
    run.done_at = now
    bump(session, enrollment.workflow_id, step.key, DONE)
    enrollment.waiting_for = ""
    if step.kind == "exit" or result.target is None:
        _end(session, enrollment, EnrollmentState.COMPLETED, result.outcome, now)
        return False
    enrollment.step_key = result.target
    enrollment.next_at = now
    bump(session, enrollment.workflow_id, result.target, "entered")
    return True


def _end(
    session: Session, enrollment: Enrollment, state: EnrollmentState, reason: str, now: dt.datetime
) -> None:
    """The person leaves the workflow (completed, converted or left), counted at their step."""
    ENROLLMENT_TRANSITIONS.check(enrollment.state, state)
    enrollment.state = state
    enrollment.reason = reason[:500]
    enrollment.finished_at = now
    enrollment.next_at = None
    enrollment.waiting_for = ""
    enrollment.lease_owner = None
    enrollment.lease_until = None
    metric = {
        EnrollmentState.COMPLETED: COMPLETED,
        EnrollmentState.CONVERTED: CONVERTED,
        EnrollmentState.LEFT: LEFT,
    }[state]
    bump(session, enrollment.workflow_id, enrollment.step_key, metric)
    bump(session, enrollment.workflow_id, "", metric)
