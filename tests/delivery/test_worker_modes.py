"""Smart-host mode and graceful shutdown of the delivery worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pydantic import SecretStr
from sqlalchemy import select

from courriel.delivery.models import SpoolLaneConnection, SpoolMessage, SpoolState
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import Mailer, WorkerFactory, deliver_due, fast_profiles

Deliver = Callable[[], None]


def test_smart_host_relays_every_domain_through_one_server(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    # The example provider's server plays the relay; it accepts its own
    # domains, and refuses to relay others, as a real smart host would
    # refuse an unauthorized sender.
    ip, port = sandbox.zone.hosts["mx.example.test"]
    settings = services.settings.model_copy(
        update={
            "smart_host": ip,
            "smart_host_port": port,
            "smart_host_tls": "off",
            "throttle_profiles": fast_profiles(),
        }
    )
    mailer.send(["ann@example.test", "bob@example.org.test", "cy@gmail.test"])
    deliver_due(make_worker("relay-worker", settings))
    for address in ("ann@example.test", "bob@example.org.test"):
        [delivered] = [e for e in mailer.events(address) if e.type.value == "delivered"]
        assert delivered.lane == ip  # One lane: the smart host.
        assert sandbox.store.inbox(address)[0].provider == "example"
    # The relay's refusal is the relay's: gmail.test never saw a connection.
    assert mailer.types("cy@gmail.test")[-1] in ("bounced", "blocked")
    assert sandbox.store.count("cy@gmail.test") == 0


def test_smart_host_that_refuses_authentication_defers_instead_of_bouncing(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    ip, port = sandbox.zone.hosts["mx.example.test"]
    settings = services.settings.model_copy(
        update={
            "smart_host": ip,
            "smart_host_port": port,
            "smart_host_tls": "off",
            "smart_host_username": "courriel",
            "throttle_profiles": fast_profiles(),
        }
    )
    mailer.send(["dee@example.test"])
    asyncio.run(make_worker("relay-worker", settings).run_once())
    # The sandbox offers no AUTH: a configuration problem, retried later.
    [deferred] = [e for e in mailer.events("dee@example.test") if e.type.value == "deferred"]
    assert "AUTH" in str(deferred.detail["reply"])
    assert services.spool.pending_count() == 1


def test_smart_host_login_over_starttls_delivers(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    # The example provider plays a smart host that relays only for a logged-in
    # client, and offers AUTH only once the session is encrypted.
    relay = sandbox.behaviours["example"]
    relay.tls = "offered"
    relay.accept_logins({"courriel": "relay-s3cret"})
    ip, port = sandbox.zone.hosts["mx.example.test"]
    settings = services.settings.model_copy(
        update={
            "smart_host": ip,
            "smart_host_port": port,
            "smart_host_tls": "required",
            # The relay's certificate is verified (tests/delivery/test_smart_host_tls.py).
            "smart_host_ca_file": sandbox.certificate_file(),
            "smart_host_username": "courriel",
            "smart_host_password": SecretStr("relay-s3cret"),
            "throttle_profiles": fast_profiles(),
        }
    )
    mailer.send(["eve@example.test", "fay@example.org.test"])
    deliver_due(make_worker("relay-worker", settings))
    for address in ("eve@example.test", "fay@example.org.test"):
        assert "delivered" in mailer.types(address)
        [received] = sandbox.store.inbox(address)
        # RFC 3848: "ESMTPSA" would need aiosmtpd to say so; ESMTPS proves TLS.
        assert b"with ESMTPS" in received.data
    assert services.spool.pending_count() == 0


def test_smart_host_refuses_a_wrong_password_and_the_message_waits(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    relay = sandbox.behaviours["example"]
    relay.tls = "offered"
    relay.accept_logins({"courriel": "relay-s3cret"})
    ip, port = sandbox.zone.hosts["mx.example.test"]
    settings = services.settings.model_copy(
        update={
            "smart_host": ip,
            "smart_host_port": port,
            "smart_host_ca_file": sandbox.certificate_file(),
            "smart_host_username": "courriel",
            "smart_host_password": SecretStr("not-the-password"),
            "throttle_profiles": fast_profiles(),
        }
    )
    mailer.send(["gus@example.test"])
    asyncio.run(make_worker("relay-worker", settings).run_once())
    [deferred] = [e for e in mailer.events("gus@example.test") if e.type.value == "deferred"]
    assert "AUTH refused: 535" in str(deferred.detail["reply"])
    assert "not-the-password" not in str(deferred.detail["reply"])
    assert sandbox.store.count("gus@example.test") == 0
    assert services.spool.pending_count() == 1


def test_a_running_worker_keeps_a_lanes_connection_for_its_next_batches(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    people = [f"p{n}@gmail.test" for n in range(40)]
    settings = services.settings.model_copy(
        update={
            "throttle_profiles": fast_profiles(),
            "worker_batch_size": 10,
            "lane_max_connections": 1,
        }
    )

    async def run() -> None:
        worker = make_worker("pooling-worker", settings)
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        # Fed while it runs, as fan-out feeds a running worker.
        for start in range(0, len(people), 10):
            mailer.send(people[start : start + 10])
            await asyncio.sleep(0.1)
        while services.spool.pending_count() or sandbox.store.count() < len(people):
            await asyncio.sleep(0.05)
        stop.set()
        await running

    asyncio.run(run())
    assert all("delivered" in mailer.types(p) for p in people)
    # Four batches or more, one connection: reused, not reopened per batch.
    assert sandbox.connections_accepted["google"] == 1
    # Shut down: the connection slot is free again.
    with services.spool.sessions() as session:
        held = session.scalars(
            select(SpoolLaneConnection).where(SpoolLaneConnection.owner.is_not(None))
        ).all()
    assert held == []


def test_graceful_shutdown_finishes_what_is_on_the_wire_and_gives_back_the_rest(
    services: Services, sandbox: Sandbox, mailer: Mailer, make_worker: WorkerFactory
) -> None:
    sandbox.behaviours["google"].configure(reply_delay_seconds=0.05)
    people = [f"p{n}@gmail.test" for n in range(60)]
    mailer.send(people)

    async def run() -> None:
        worker = make_worker()
        stop = asyncio.Event()
        running = asyncio.create_task(worker.run(stop))
        while sandbox.store.count() < 5:
            await asyncio.sleep(0.01)
        stop.set()
        await running

    asyncio.run(run())
    received = sandbox.store.all_recipients()
    assert 5 <= len(received) < 60
    with services.spool.sessions() as session:
        rows = list(session.query(SpoolMessage))
    # Nothing is left leased: what was not sent is queued again, unattempted.
    assert all(r.state is SpoolState.QUEUED for r in rows)
    assert all(r.attempts == 0 for r in rows)
    assert {r.rcpt_to for r in rows} == set(people) - set(received)
    # Every message sent has its outcome recorded (reported, or finished).
    assert sum(1 for p in people if "delivered" in mailer.types(p)) + len(rows) == 60
