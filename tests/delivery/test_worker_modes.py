"""Smart-host mode and graceful shutdown of the delivery worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from delivery_support import Mailer, WorkerFactory, fast_profiles

from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.sandbox.server import Sandbox
from courriel.services import Services

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

    async def run() -> None:
        worker = make_worker("relay-worker", settings)
        while await worker.run_once():
            pass

    asyncio.run(run())
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

    async def run() -> None:
        await make_worker("relay-worker", settings).run_once()

    asyncio.run(run())
    # The sandbox offers no AUTH: a configuration problem, retried later.
    [deferred] = [e for e in mailer.events("dee@example.test") if e.type.value == "deferred"]
    assert "AUTH" in str(deferred.detail["reply"])
    assert services.spool.pending_count() == 1


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
