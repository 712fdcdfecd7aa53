"""One fan-out batch of a campaign at a time.

Send spools a first batch itself while a scheduler may already be running the
campaign's job, and a job whose lease ran out is run by another scheduler
while the first is still at it. Their batches pick the same pending
recipients. The unique keys keep the outcome exactly-once, but on PostgreSQL
two transactions marking overlapping recipients queued (and recording the
same events) lock the rows in different orders, and one of them is killed as
a deadlock. So a batch holds a per-campaign advisory lock, taken in a
transaction of the tenant's database and released when it ends, from its
gate to its last write: the next batch waits, then finds what the first did.

SQLite needs none: every writer takes the database's write lock first
(BEGIN IMMEDIATE), so writers never deadlock, and a repeated step is harmless.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker


@contextmanager
def one_batch_at_a_time(sessions: sessionmaker[Session], campaign_id: str) -> Iterator[None]:
    """Hold the campaign's fan-out lock (PostgreSQL) for the duration of the block."""
    with sessions() as session:
        if session.get_bind().dialect.name != "postgresql":
            yield
            return
        # Advisory locks belong to the database they are taken in: the key
        # needs to tell campaigns apart only within one tenant.
        key = func.hashtext(f"fanout:{campaign_id}")
        session.execute(select(func.pg_advisory_xact_lock(key)))
        try:
            yield
        finally:
            session.rollback()
