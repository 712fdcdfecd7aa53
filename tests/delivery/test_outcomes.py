"""Every behaviour of the sandbox internet lands as the right event and suppression.

Real SMTP to the sandbox's servers, real spool and tenant databases (SQLite,
and PostgreSQL when configured); only the clock is moved to reach retries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.sandbox.server import Sandbox
from courriel.sandbox.zone import write_zone
from courriel.services import Services
from tests.support.delivery import Mailer, ShiftableClock

Deliver = Callable[[], None]


def test_accepted_message_is_delivered_once(
    services: Services, sandbox: Sandbox, mailer: Mailer, deliver: Deliver
) -> None:
    mailer.send(["ada@gmail.test"])
    deliver()
    assert mailer.types("ada@gmail.test") == ["queued", "delivered"]
    assert sandbox.store.count("ada@gmail.test") == 1
    assert services.spool.pending_count() == 0
    [event] = [e for e in mailer.events("ada@gmail.test") if e.type.value == "delivered"]
    assert event.lane == "mx.google.test"


def test_unknown_user_is_a_hard_bounce_and_suppressed(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver
) -> None:
    mailer.send(["unknown-bob@yahoo.test", "carol@yahoo.test"])
    deliver()
    [bounce] = [e for e in mailer.events("unknown-bob@yahoo.test") if e.type.value == "bounced"]
    assert bounce.detail["bounce"] == "hard"
    assert bounce.detail["code"] == 550
    assert mailer.suppressed("unknown-bob@yahoo.test") == "hard-bounce"
    # The next recipient on the same connection is unaffected.
    assert mailer.types("carol@yahoo.test") == ["queued", "delivered"]
    assert mailer.suppressed("carol@yahoo.test") is None


def test_full_mailbox_defers_then_permanent_quota_is_a_soft_bounce(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver, clock: ShiftableClock
) -> None:
    mailer.send(["full-dan@outlook.test", "overquota-eve@outlook.test"])
    deliver()
    assert mailer.types("full-dan@outlook.test") == ["queued", "deferred"]
    [soft] = [e for e in mailer.events("overquota-eve@outlook.test") if e.type.value == "bounced"]
    assert soft.detail["bounce"] == "soft"
    assert mailer.suppressed("overquota-eve@outlook.test") is None
    # Still full five minutes later: a second deferral, never a suppression.
    clock.advance(minutes=6)
    deliver()
    assert mailer.types("full-dan@outlook.test") == ["queued", "deferred", "deferred"]
    assert mailer.suppressed("full-dan@outlook.test") is None


def test_policy_block_is_blocked_and_never_suppressed(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver
) -> None:
    mailer.send(["block-fay@gmail.test"])
    deliver()
    assert mailer.types("block-fay@gmail.test") == ["queued", "blocked"]
    assert mailer.suppressed("block-fay@gmail.test") is None


def test_greylisting_defers_the_first_try_and_accepts_the_retry(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver, clock: ShiftableClock
) -> None:
    sandbox.behaviours["example"].configure("example.test", greylist=True)
    mailer.send(["gus@example.test"])
    deliver()
    assert mailer.types("gus@example.test") == ["queued", "deferred"]
    assert sandbox.store.count("gus@example.test") == 0
    clock.advance(minutes=6)
    deliver()
    assert mailer.types("gus@example.test") == ["queued", "deferred", "delivered"]
    assert sandbox.store.count("gus@example.test") == 1


def test_slow_replies_are_waited_for(sandbox: Sandbox, mailer: Mailer, deliver: Deliver) -> None:
    sandbox.behaviours["google"].configure(reply_delay_seconds=0.3)
    mailer.send(["hal@gmail.test"])
    deliver()
    assert mailer.types("hal@gmail.test") == ["queued", "delivered"]


def test_connection_dropped_mid_data_is_retried_and_delivered_once(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver, clock: ShiftableClock
) -> None:
    sandbox.behaviours["yahoo"].drop_next("mid-data")
    mailer.send(["ivy@yahoo.test"])
    deliver()
    [deferred] = [e for e in mailer.events("ivy@yahoo.test") if e.type.value == "deferred"]
    assert deferred.detail["code"] is None  # No reply came: not a made-up 421.
    assert sandbox.store.count("ivy@yahoo.test") == 0
    clock.advance(minutes=6)
    deliver()
    assert mailer.types("ivy@yahoo.test")[-1] == "delivered"
    assert sandbox.store.count("ivy@yahoo.test") == 1


def test_drop_after_the_final_dot_is_retried_the_one_duplicate_an_mta_allows(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver, clock: ShiftableClock
) -> None:
    sandbox.behaviours["yahoo"].drop_next("after-dot")
    mailer.send(["jo@yahoo.test"])
    deliver()
    assert mailer.types("jo@yahoo.test") == ["queued", "deferred"]
    # Stored but never acknowledged: RFC 5321 §6.1 lets it arrive twice.
    assert sandbox.store.count("jo@yahoo.test") == 1
    clock.advance(minutes=6)
    deliver()
    assert mailer.types("jo@yahoo.test") == ["queued", "deferred", "delivered"]
    assert sandbox.store.count("jo@yahoo.test") == 2


def test_tls_required_by_the_server_is_used(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver
) -> None:
    sandbox.behaviours["microsoft"].tls = "required"
    mailer.send(["kim@outlook.test"])
    deliver()
    assert mailer.types("kim@outlook.test") == ["queued", "delivered"]
    [received] = sandbox.store.inbox("kim@outlook.test")
    assert "with ESMTPS" in str(received.as_email()["Received"])


def test_tls_offered_is_used_opportunistically(
    sandbox: Sandbox, mailer: Mailer, deliver: Deliver
) -> None:
    sandbox.behaviours["google"].tls = "offered"
    mailer.send(["lea@gmail.test"])
    deliver()
    [received] = sandbox.store.inbox("lea@gmail.test")
    assert "with ESMTPS" in str(received.as_email()["Received"])


def test_greeting_refusal_blocks_the_lane_and_a_421_greeting_throttles_it(
    services: Services, sandbox: Sandbox, mailer: Mailer, deliver: Deliver
) -> None:
    # A blocked IP is refused on every connection.
    sandbox.behaviours["google"].fail_next(
        "connect", 554, "5.7.1 Your IP is on our blocklist", count=10
    )
    people = [f"max{n}@gmail.test" for n in range(4)] + ["ned@googlemail.test"]
    mailer.send(people)
    deliver()
    # Both domains share Google's lane: the refusal is about us, for all of them.
    for address in people:
        assert mailer.types(address) == ["queued", "blocked"]
        assert mailer.suppressed(address) is None
    assert sandbox.store.count() == 0

    sandbox.behaviours["yahoo"].fail_next("connect", 421, "4.7.0 Too many connections")
    mailer.send(["oli@yahoo.test"])
    deliver()
    assert mailer.types("oli@yahoo.test") == ["queued", "deferred"]
    worker_state = services.spool.sessions
    with worker_state() as session:
        lane = session.get(
            __import__("courriel.delivery.models", fromlist=["SpoolLane"]).SpoolLane,
            "mx.yahoo.test",
        )
        assert lane is not None
        assert lane.throttled_count == 1


def test_unreachable_exchanger_defers_with_the_precise_reason(
    services: Services, sandbox: Sandbox, mailer: Mailer, deliver: Deliver, clock: ShiftableClock
) -> None:
    mailer.send(["pat@nowhere.test"])
    # A domain routed to a port where nothing listens.
    zone = sandbox.zone
    zone.domains["nowhere.test"] = [("mx.nowhere.test", 10)]
    zone.hosts["mx.nowhere.test"] = ("127.0.0.1", 1)
    write_zone(sandbox.zone_file, zone)
    before = clock.now()
    deliver()
    after = clock.now()
    # Classified as a connection failure: a retry, never a bounce (RFC 5321 §4.5.4.1).
    assert mailer.types("pat@nowhere.test") == ["queued", "deferred"]
    [deferred] = [e for e in mailer.events("pat@nowhere.test") if e.type.value == "deferred"]
    assert "refused" in str(deferred.detail["reply"])
    assert deferred.detail["code"] is None
    assert deferred.detail["attempt"] == 1
    assert deferred.lane == "mx.nowhere.test"
    assert mailer.suppressed("pat@nowhere.test") is None
    # Back in the queue, one attempt counted, due after the first back-off step.
    with services.spool.sessions() as session:
        [row] = session.query(SpoolMessage).all()
    assert row.state is SpoolState.QUEUED
    assert row.attempts == 1
    assert row.outcome is None
    assert row.lease_owner is None
    first_step = dt.timedelta(minutes=services.settings.retry_schedule_minutes[0])
    assert before + first_step <= row.next_attempt_at <= after + first_step
    assert "refused" in row.last_reply


def test_a_message_past_its_queue_lifetime_expires(
    services: Services, sandbox: Sandbox, mailer: Mailer, deliver: Deliver, clock: ShiftableClock
) -> None:
    mailer.send(["full-quinn@gmail.test"], lifetime=dt.timedelta(minutes=30))
    deliver()
    for _ in range(3):
        clock.advance(minutes=21)
        deliver()
    assert mailer.types("full-quinn@gmail.test")[-1] == "expired"
    assert services.spool.pending_count() == 0
    with services.spool.sessions() as session:
        assert session.query(SpoolMessage).count() == 0
