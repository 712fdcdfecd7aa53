"""The automation engine's pass: due triggers, then due people, in every tenant.

A pass costs what is due, never a scan of the people waiting:

- triggers: active workflows whose `trigger_at` has come (an index on
  (status, trigger_at)); each polled trigger reads from its cursor;
- people: enrollments whose wake-up time has come (an index on
  (state, next_at)), at most `batch` at a time, each leased to this engine
  (`lease_owner`, `lease_until`) before it is moved, so several engines
  share the work and a person is moved by one of them. On PostgreSQL the
  claim skips rows another engine is claiming (FOR UPDATE SKIP LOCKED);
  SQLite has one writer at a time. A lease that runs out (an engine killed
  mid-step) makes the person due again for any engine; the step's unique
  run row and the campaign recipient's key keep the step at most once.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from courriel.automation.models import (
    Enrollment,
    EnrollmentState,
    Workflow,
    WorkflowStatus,
    WorkflowVersion,
)
from courriel.automation.runner import StepRunner
from courriel.automation.triggers import TRIGGERS
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.errors import NotFoundError
from courriel.core.models import Tenant
from courriel.core.storage import Storage

log = logging.getLogger(__name__)

LEASE = dt.timedelta(minutes=2)
BATCH = 200


class AutomationEngine:
    """Runs due triggers and moves due people forward (see the module docstring)."""

    def __init__(
        self,
        storage: Storage,
        clock: Clock,
        runner: StepRunner,
        *,
        owner: str,
        batch: int = BATCH,
        lease: dt.timedelta = LEASE,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._runner = runner
        self._owner = owner
        self._batch = batch
        self._lease = lease

    def run_once(self) -> int:
        """One pass over every tenant; how many triggers and people were handled."""
        with self._storage.control() as session:
            tenants = list(session.scalars(select(Tenant.id).order_by(Tenant.id)))
        handled = 0
        for tenant_id in tenants:
            try:
                handled += self.run_tenant(tenant_id)
            except NotFoundError:
                continue
            except Exception:
                log.exception("automation pass of a tenant failed; retrying next pass")
        return handled

    def run_tenant(self, tenant_id: str) -> int:
        """Due triggers, then due people, of one tenant."""
        handled = self._triggers(tenant_id)
        for enrollment_id in self._claim(tenant_id):
            self._runner.advance(tenant_id, enrollment_id, self._owner)
            handled += 1
        return handled

    def drain(self, tenant_id: str | None = None, limit: int = 100) -> int:
        """Passes until nothing is due (tests and the CLI); how many were handled."""
        total = 0
        for _ in range(limit):
            handled = self.run_tenant(tenant_id) if tenant_id else self.run_once()
            total += handled
            if handled == 0:
                break
        return total

    def _triggers(self, tenant_id: str) -> int:
        now = self._clock.now()
        handled = 0
        with transaction(self._storage.tenant(tenant_id)) as session:
            due = list(
                session.scalars(
                    select(Workflow).where(
                        Workflow.status == WorkflowStatus.ACTIVE,
                        Workflow.trigger_at.is_not(None),
                        Workflow.trigger_at <= now,
                    )
                )
            )
            for workflow in due:
                kind = TRIGGERS.get(workflow.trigger_kind)
                if kind is None or kind.poll is None:
                    workflow.trigger_at = None
                    continue
                version = _active_version(session, workflow)
                before = workflow.trigger_cursor
                workflow.trigger_at = kind.poll(
                    session, workflow, version.id, version.definition, now
                )
                handled += workflow.trigger_cursor != before
        return handled

    def _claim(self, tenant_id: str) -> list[str]:
        now = self._clock.now()
        with transaction(self._storage.tenant(tenant_id)) as session:
            query = (
                select(Enrollment.id)
                .where(
                    Enrollment.state == EnrollmentState.ACTIVE,
                    Enrollment.next_at <= now,
                    or_(Enrollment.lease_until.is_(None), Enrollment.lease_until < now),
                )
                .order_by(Enrollment.next_at)
                .limit(self._batch)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if not ids:
                return []
            session.execute(
                update(Enrollment)
                .where(
                    and_(
                        Enrollment.id.in_(ids),
                        or_(Enrollment.lease_until.is_(None), Enrollment.lease_until < now),
                    )
                )
                .values(lease_owner=self._owner, lease_until=now + self._lease)
            )
            return ids


def _active_version(session: Session, workflow: Workflow) -> WorkflowVersion:
    version = session.scalar(
        select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow.id, WorkflowVersion.number == workflow.version
        )
    )
    assert version is not None
    return version


active_version = _active_version
