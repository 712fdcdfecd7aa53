"""Which pool a message leaves from, and the pools' addresses, as the engine reads them.

Both questions are asked for every batch queued or delivered, so the
answers come from a snapshot of the pool tables read at most every
`REFRESH_SECONDS` (and at once after a change made by this process): a
change made elsewhere takes effect within seconds, without a query per
batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from courriel.delivery.sources import SourceAddress
from courriel.operations.pools.models import IpPool, IpPoolAddress, IpPoolAssignment

REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class Snapshot:
    """The pool tables at one moment."""

    default: str | None = None
    # (tenant id, scope) -> pool
    assignments: dict[tuple[str, str], str] = field(default_factory=dict)
    addresses: dict[str, tuple[SourceAddress, ...]] = field(default_factory=dict)

    def choose(self, tenant_id: str, campaign_id: str | None, mail_class: str) -> str | None:
        """See `courriel.delivery.sources.PoolChooser.choose`."""
        scopes = [f"class:{mail_class}", "tenant"]
        if campaign_id:
            scopes.insert(0, f"campaign:{campaign_id}")
        for scope in scopes:
            pool = self.assignments.get((tenant_id, scope))
            if pool is not None:
                return pool
        return self.default


class PoolSnapshots:
    """The cached snapshot; implements `PoolChooser` and `SourceDirectory`."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._read_at = 0.0

    def current(self) -> Snapshot:
        """The snapshot, read again if it is older than `REFRESH_SECONDS`."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is not None and time.monotonic() - self._read_at < REFRESH_SECONDS:
                return snapshot
        fresh = self._read()
        with self._lock:
            self._snapshot, self._read_at = fresh, time.monotonic()
        return fresh

    def forget(self) -> None:
        """Read the tables again at the next question (they just changed)."""
        with self._lock:
            self._snapshot = None

    def choose(self, tenant_id: str, campaign_id: str | None, mail_class: str) -> str | None:
        """See `courriel.delivery.sources.PoolChooser.choose`."""
        return self.current().choose(tenant_id, campaign_id, mail_class)

    def addresses(self, pool: str) -> Sequence[SourceAddress]:
        """See `courriel.delivery.sources.SourceDirectory.addresses`."""
        return self.current().addresses.get(pool, ())

    def _read(self) -> Snapshot:
        with self._sessions() as session:
            default = session.scalars(select(IpPool.name).where(IpPool.is_default)).first()
            assignments = {
                (a.tenant_id, a.scope): a.pool for a in session.scalars(select(IpPoolAssignment))
            }
            addresses: dict[str, list[SourceAddress]] = {}
            for row in session.scalars(select(IpPoolAddress).order_by(IpPoolAddress.address)):
                addresses.setdefault(row.pool, []).append(SourceAddress(row.address, row.helo_name))
        return Snapshot(default, assignments, {p: tuple(a) for p, a in addresses.items()})
