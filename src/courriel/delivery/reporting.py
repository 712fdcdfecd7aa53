"""Reporting delivery outcomes upward, through the `OutcomeSink` port, in batches.

The worker first records an attempt's result in the spool (one database,
one transaction), then reports it, then removes a finished spool row.
Final outcomes are read back from the spool's finished rows; deferrals
(the row went back to the queue) are buffered in memory. Both are reported
together, one tenant transaction each, after every claimed batch. A crash
between the steps repeats the report of final outcomes, which the sink's
idempotence makes harmless: nothing is lost and nothing is counted twice.
A crash loses at most the deferral events of the batch in flight (their
spool rows keep the attempt count and the last reply).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import enum
import threading
from collections import defaultdict
from collections.abc import Callable

from courriel.core import telemetry
from courriel.core.errors import NotFoundError
from courriel.delivery.ports import Deferral, OutcomeSink
from courriel.delivery.spool import ClaimedMessage, FinishedMessage, Spool


class FinalOutcome(enum.StrEnum):
    """The fate of a spooled message, as stored in its spool row."""

    DELIVERED = "delivered"
    HARD_BOUNCE = "hard-bounce"
    SOFT_BOUNCE = "soft-bounce"
    BLOCKED = "blocked"
    EXPIRED = "expired"


class OutcomeReporter:
    """Moves outcomes from the spool (and deferrals from memory) to the sink, a tenant at a time."""

    def __init__(
        self,
        spool: Spool,
        sink: OutcomeSink,
        provider_of: Callable[[str | None], str] = lambda _lane: "default",
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._spool = spool
        self._sink = sink
        # The inbox provider of a lane and the time, for the metrics only.
        self._provider_of = provider_of
        self._now = now
        self._deferred: list[Deferral] = []
        self._lock = threading.Lock()
        # One report at a time: the worker's main loop and its priority lane
        # both report after their batches, and two overlapping reports would
        # write the same finished messages to their tenants twice.
        self._reporting = threading.Lock()

    def report_deferred(
        self,
        message: ClaimedMessage,
        code: int | None,
        reply: str,
        lane: str | None,
        when: dt.datetime,
    ) -> None:
        """Note one deferred attempt of a message; reported with the next batch."""
        telemetry.DEFERRALS.labels(self._provider_of(lane)).inc()
        with self._lock:
            self._deferred.append(Deferral(message, code, reply, lane, when))

    def report_finished(self, limit: int = 1000) -> int:
        """Report up to `limit` finished messages and every noted deferral.

        Returns how many finished messages left the spool. A call made while
        another report runs waits for it, then reports what is left.
        """
        with self._reporting:
            return self._report(limit)

    def _report(self, limit: int) -> int:
        rows = self._spool.finished(limit)
        with self._lock:
            deferrals, self._deferred = self._deferred, []
        finished: dict[str, list[FinishedMessage]] = defaultdict(list)
        deferred: dict[str, list[Deferral]] = defaultdict(list)
        for row in rows:
            finished[row.tenant_id].append(row)
        for deferral in deferrals:
            deferred[deferral.message.tenant_id].append(deferral)
        for tenant_id in finished.keys() | deferred.keys():
            # A deleted tenant's messages simply leave the spool.
            with contextlib.suppress(NotFoundError):
                self._sink.record(tenant_id, finished[tenant_id], deferred[tenant_id])
        self._spool.remove(rows)
        now = self._now()
        for row in rows:
            outcome = row.outcome or "unknown"
            telemetry.DELIVERIES.labels(outcome, self._provider_of(row.lane)).inc()
            telemetry.DELIVERY_SECONDS.labels(outcome).observe(
                max(0.0, (now - row.created_at).total_seconds())
            )
        return len(rows)
