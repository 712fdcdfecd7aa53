"""The scheduler: runs fan-out jobs recorded in the control database.

Jobs live in the control database so a scheduler finds work without opening
every tenant's database. A job is claimed under a lease, so several
schedulers (on PostgreSQL) never fan out the same campaign at once and a
crashed one's job is picked up again when its lease runs out.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, select

from courriel.campaigns.fanout import Fanout
from courriel.campaigns.models import FanoutJob
from courriel.core.clock import Clock
from courriel.core.db import transaction
from courriel.core.models import Tenant, TenantStatus
from courriel.core.storage import Storage

LEASE = dt.timedelta(minutes=2)


class Scheduler:
    """Claims fan-out jobs and runs them batch by batch."""

    def __init__(self, storage: Storage, fanout: Fanout, clock: Clock, owner: str) -> None:
        self._storage = storage
        self._fanout = fanout
        self._clock = clock
        self._owner = owner

    def _claim(self) -> FanoutJob | None:
        now = self._clock.now()
        with transaction(self._storage.control) as session:
            query = (
                select(FanoutJob)
                .join(Tenant, Tenant.id == FanoutJob.tenant_id)
                .where(
                    FanoutJob.run_after <= now,
                    or_(FanoutJob.lease_until.is_(None), FanoutJob.lease_until < now),
                    # A suspended tenant (e.g. on its way out) sends nothing more.
                    Tenant.status == TenantStatus.ACTIVE,
                )
                .order_by(FanoutJob.run_after, FanoutJob.id)
                .limit(1)
            )
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True, of=FanoutJob)
            job = session.scalar(query)
            if job is None:
                return None
            job.lease_owner = self._owner
            job.lease_until = now + LEASE
            return job

    def _renew(self, job_id: int) -> None:
        with transaction(self._storage.control) as session:
            job = session.get(FanoutJob, job_id)
            if job is not None and job.lease_owner == self._owner:
                job.lease_until = self._clock.now() + LEASE

    def run_once(self, max_batches: int = 20) -> int:
        """Run up to `max_batches` batches of one job; return how many batches ran."""
        job = self._claim()
        if job is None:
            return 0
        ran = 0
        # A batch that raises leaves the job leased: it is retried when the
        # lease runs out, and the batch itself is safe to repeat.
        for _ in range(max_batches):
            result = self._fanout.run_batch(job.tenant_id, job.campaign_id)
            ran += 1
            if result.finished:
                # Only while the lease is still ours: a Send or a schedule that
                # committed after this batch read the campaign's status re-arms
                # the job and takes the lease back; the job must outlive us.
                with transaction(self._storage.control) as session:
                    session.execute(
                        delete(FanoutJob).where(
                            FanoutJob.id == job.id, FanoutJob.lease_owner == self._owner
                        )
                    )
                return ran
            if result.waiting:
                # Held until a later time (rate cap, policy limit, time zone).
                break
            self._renew(job.id)
        # Not finished: give others (and other campaigns) a turn.
        with transaction(self._storage.control) as session:
            row = session.get(FanoutJob, job.id)
            if row is not None:
                row.lease_owner = None
                row.lease_until = None
        return ran

    def drain(self) -> int:
        """Run jobs until none is due (used by the demo and tests)."""
        total = 0
        while (ran := self.run_once()) > 0:
            total += ran
        return total
