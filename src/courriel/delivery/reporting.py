"""Reporting delivery outcomes upward, through the `OutcomeSink` port.

The worker first records an outcome in the spool (one database, one
transaction), then reports it through the sink, then removes the spool row.
A crash between the steps repeats the report, which the sink's idempotence
makes harmless: nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
from collections import defaultdict

from courriel.core.errors import NotFoundError
from courriel.delivery.ports import OutcomeSink
from courriel.delivery.spool import ClaimedMessage, FinishedMessage, Spool


class FinalOutcome(enum.StrEnum):
    """The fate of a spooled message, as stored in its spool row."""

    DELIVERED = "delivered"
    HARD_BOUNCE = "hard-bounce"
    SOFT_BOUNCE = "soft-bounce"
    BLOCKED = "blocked"
    EXPIRED = "expired"


class OutcomeReporter:
    """Moves final outcomes from the spool to the sink, a tenant at a time."""

    def __init__(self, spool: Spool, sink: OutcomeSink) -> None:
        self._spool = spool
        self._sink = sink

    def report_finished(self, limit: int = 1000) -> int:
        """Report up to `limit` finished messages; return how many left the spool."""
        rows = self._spool.finished(limit)
        by_tenant: dict[str, list[FinishedMessage]] = defaultdict(list)
        for row in rows:
            by_tenant[row.tenant_id].append(row)
        done: list[int] = []
        for tenant_id, messages in by_tenant.items():
            # A deleted tenant's messages simply leave the spool.
            with contextlib.suppress(NotFoundError):
                self._sink.record_final(tenant_id, messages)
            done.extend(m.id for m in messages)
        self._spool.remove(done)
        return len(done)

    def report_deferred(
        self,
        message: ClaimedMessage,
        code: int | None,
        reply: str,
        lane: str | None,
        when: dt.datetime,
    ) -> None:
        """Record one deferred attempt of a message (it stays in the spool)."""
        self._sink.record_deferred(message, code, reply, lane, when)
