"""A late result lands on its own message, never on the one spooled after it.

SQLite gives the id of a removed row to the next row inserted (the spool
table has no AUTOINCREMENT). A worker whose attempt outlived its lease can
hand in its result after the message was delivered by another attempt,
reported and removed, and after a new message took the same id and was
claimed by that same worker again: matched on the id and the lease owner
alone, the old result would finish the new message, which would then never
be sent.
"""

from __future__ import annotations

import datetime as dt

from courriel.delivery.spool import NewMessage, Settlement, Spool
from courriel.services import Services

NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=30)
BODY = b"Subject: hello\r\n\r\nhello\r\n"


def _message(message_id: str) -> NewMessage:
    return NewMessage(
        tenant_id="ten_a",
        message_id=message_id,
        campaign_id=None,
        contact_id=None,
        mail_from="bounce@acme.test",
        rcpt_to="ann@example.test",
        body=BODY,
        transfer_ready=True,
    )


def _delivered(spool_id: int, message_id: str) -> Settlement:
    return Settlement(
        spool_id, "delivered", None, 250, "2.0.0 OK", "lane", answered_at=NOW, message_id=message_id
    )


def test_a_late_result_for_a_removed_message_leaves_its_successor_queued(
    services: Services,
) -> None:
    spool: Spool = services.spool
    spool.enqueue([_message("msg_first")], NOW, dt.timedelta(days=1))
    (first,) = spool.claim("worker-1", 10, NOW, LEASE)
    # Its lease ran out; another attempt delivered it, it was reported and removed.
    later = NOW + 2 * LEASE
    (again,) = spool.claim("worker-2", 10, later, LEASE)
    spool.settle("worker-2", [_delivered(again.id, again.message_id)])
    spool.remove(spool.finished(10))

    # The next message spooled; the first worker claims it.
    spool.enqueue([_message("msg_second")], later, dt.timedelta(days=1))
    (second,) = spool.claim("worker-1", 10, later, LEASE)
    if services.settings.database_url is None:
        assert second.id == first.id, "SQLite gave the removed row's id to the next message"

    # The first worker's attempt of the first message finally answers.
    spool.settle("worker-1", [_delivered(first.id, first.message_id)])

    assert spool.finished(10) == [], "the old result finished the new message"
    assert spool.pending_count() == 1
    spool.settle("worker-1", [_delivered(second.id, second.message_id)])
    (done,) = spool.finished(10)
    assert (done.message_id, done.outcome) == ("msg_second", "delivered")


def test_a_dead_workers_message_and_the_priority_lane_come_before_the_queue(
    services: Services,
) -> None:
    spool: Spool = services.spool
    lifetime = dt.timedelta(days=1)
    spool.enqueue([_message(f"msg_{n}") for n in range(3)], NOW, lifetime)
    (held,) = spool.claim("worker-1", 1, NOW, LEASE)
    later = NOW + 2 * LEASE
    urgent = NewMessage(**{**_message("msg_reset").__dict__, "priority": 1})
    spool.enqueue([urgent], later, lifetime)

    # worker-1 died: its lease ran out. The priority lane first, then its
    # message (due first), then the queue in order; nothing twice.
    claimed = spool.claim("worker-2", 3, later, LEASE)

    assert [m.message_id for m in claimed] == ["msg_reset", held.message_id, "msg_1"]
    assert spool.claim("worker-3", 10, later, LEASE)[0].message_id == "msg_2"
    assert spool.claim("worker-3", 10, later, LEASE) == []
