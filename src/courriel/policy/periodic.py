"""Periodic jobs that run once across every engine, under a lease (`PeriodicRun`).

Like the scheduler's fan-out jobs (campaigns/scheduler.py): a job row is
claimed when it is due and no live lease holds it, with FOR UPDATE SKIP
LOCKED on PostgreSQL so two engines never both get it; SQLite serializes
writers anyway. The one who ran it sets the next due time and gives the
lease back; one that crashed mid-run loses the lease when it runs out.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select, update

from courriel.core.clock import Clock
from courriel.core.db import insert_for, transaction
from courriel.core.storage import Storage
from courriel.policy.models import PeriodicRun

LEASE = dt.timedelta(minutes=10)


def claim(storage: Storage, clock: Clock, name: str, owner: str) -> bool:
    """Take the lease of job `name` if it is due and free; True when it is ours to run."""
    now = clock.now()
    with transaction(storage.control) as session:
        insert = insert_for(session)
        session.execute(
            insert(PeriodicRun)
            .values(name=name, run_after=now)
            .on_conflict_do_nothing(index_elements=[PeriodicRun.name])
        )
    with transaction(storage.control) as session:
        query = select(PeriodicRun).where(
            PeriodicRun.name == name,
            PeriodicRun.run_after <= now,
            or_(PeriodicRun.lease_until.is_(None), PeriodicRun.lease_until < now),
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        row = session.scalar(query)
        if row is None:
            return False
        row.lease_owner = owner
        row.lease_until = now + LEASE
        return True


def finish(storage: Storage, clock: Clock, name: str, owner: str, interval: dt.timedelta) -> None:
    """Record a run by `owner` and make the job due again after `interval`."""
    now = clock.now()
    with transaction(storage.control) as session:
        session.execute(
            update(PeriodicRun)
            .where(PeriodicRun.name == name, PeriodicRun.lease_owner == owner)
            .values(run_after=now + interval, lease_owner=None, lease_until=None, last_run_at=now)
        )
