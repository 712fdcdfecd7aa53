"""Two reporters of one spool: the delivery worker's two loops, or two workers.

The worker's main loop and its priority lane each report finished messages
after their batch, so two reports of the same finished rows can overlap (as
they do between worker processes). Real transactional submission, real SMTP
to the sandbox's servers, real spool and tenant databases; the overlap is
made to happen at its worst moment by the sink the first reporter writes to.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence

from courriel.delivery.ports import Deferral
from courriel.delivery.reporting import OutcomeReporter
from courriel.delivery.spool import FinishedMessage
from courriel.messages.service import OutgoingMessage, Party
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from courriel.tracking.outcomes import TenantOutcomes
from tests.messages.support import DOMAIN, dkim_domain
from tests.support.delivery import WorkerFactory, deliver_due
from tests.support.tenants import TenantAccess


def _order(to: str) -> OutgoingMessage:
    return OutgoingMessage(
        sender=Party(f"orders@{DOMAIN}", "Boutique"),
        to=[Party(to, "Customer")],
        subject="Your order",
        text="Your order ships today.",
    )


class _Overlapped:
    """The tenants' real sink; its first `record` waits for `meanwhile` to run first."""

    def __init__(self, services: Services, meanwhile: list[Callable[[], object]]) -> None:
        self._sink = TenantOutcomes(services.storage, services.clock, services.secret_key)
        self._meanwhile = meanwhile

    def record(
        self, tenant_id: str, finished: Sequence[FinishedMessage], deferred: Sequence[Deferral]
    ) -> None:
        while self._meanwhile:
            self._meanwhile.pop(0)()
        self._sink.record(tenant_id, finished, deferred)


def test_a_message_spooled_while_two_reports_overlap_is_delivered(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox, make_worker: WorkerFactory
) -> None:
    dkim_domain(services, tenant_a)
    worker = make_worker()
    submitted_first = services.messages.submit(tenant_a.operator, _order("first@gmail.test"))
    claimed = services.spool.claim(
        "test-worker", 10, services.clock.now(), dt.timedelta(seconds=30), priority_only=True
    )
    asyncio.run(worker.deliver(claimed, priority=True))
    assert sandbox.store.count("first@gmail.test") == 1
    second: list[str] = []
    # While one loop's report of the first message is being written, the
    # other loop reports it too (and it leaves the spool), then the next
    # order is accepted: on SQLite it may get the spool row id just freed.
    steps: list[Callable[[], object]] = [
        services.reporter.report_finished,
        lambda: second.append(
            services.messages.submit(tenant_a.operator, _order("second@gmail.test"))
            .recipients[0]
            .message_id
        ),
    ]
    slow = OutcomeReporter(services.spool, _Overlapped(services, steps))
    assert slow.report_finished() == 1
    assert services.spool.pending_count() == 1, "the second order left the spool unsent"
    deliver_due(worker)
    assert sandbox.store.count("second@gmail.test") == 1
    history = services.messages.get(tenant_a.operator, second[0])
    assert [e.type.value for e in history.events] == ["queued", "delivered"]
    # The first order was reported (its delivery recorded) and sent once.
    first = submitted_first.recipients[0].message_id
    assert [e.type.value for e in services.messages.get(tenant_a.operator, first).events] == [
        "queued",
        "delivered",
    ]
    assert sandbox.store.count("first@gmail.test") == 1
