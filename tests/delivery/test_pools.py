"""IP pools at the receiving side: each message arrives from its pool's address with
that address's EHLO name, mail classes leave from their own pools, and a warm-up
plan caps a day's mail at its figure, the rest arriving the next day."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from fastapi.testclient import TestClient

from courriel.delivery.models import SpoolMessage, SpoolState
from courriel.delivery.spool import NewMessage
from courriel.delivery.worker import DeliveryWorker
from courriel.operations.pools.service import OPERATOR
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import (
    Mailer,
    ShiftableClock,
    body,
    deliver_all,
    deliver_due,
    fast_profiles,
)
from tests.support.tenants import TenantAccess


def pool_worker(services: Services, clock: ShiftableClock, owner: str = "w1") -> DeliveryWorker:
    """A worker on the test's clock that binds to the pools' addresses."""
    return DeliveryWorker(
        spool=services.spool,
        reporter=services.reporter,
        resolver=services.resolver(),
        settings=services.settings.model_copy(update={"throttle_profiles": fast_profiles()}),
        clock=clock,
        owner=owner,
        sources=services.pools.snapshots,
    )


def make_pool(services: Services, name: str, *addresses: str, default: bool = False) -> None:
    services.pools.create(OPERATOR, name, default=default)
    for address in addresses:
        last = address.rpartition(".")[2]
        services.pools.add_address(OPERATOR, name, address, f"mta{last}.{name}.courriel.test")


def test_connections_leave_from_the_pools_addresses_with_their_helo_names(
    services: Services, sandbox: Sandbox, mailer: Mailer, clock: ShiftableClock
) -> None:
    make_pool(services, "shared", "127.0.0.2", "127.0.0.3", default=True)
    people = [f"p{n}@gmail.test" for n in range(6)] + ["q@yahoo.test"]
    mailer.send(people)

    deliver_due(pool_worker(services, clock))

    received = sandbox.store.recent(limit=50)
    assert len(received) == len(people)
    assert {m.peer for m in received} == {"127.0.0.2", "127.0.0.3"}
    for message in received:
        last = message.peer.rpartition(".")[2]
        assert message.helo == f"mta{last}.shared.courriel.test"
        # The Received line a mailbox shows names the same client.
        assert f"from mta{last}.shared.courriel.test ([{message.peer}])" in message.data.decode()
    # Each address is a sender of its own to the provider: it opened its own sessions.
    google = sandbox.handlers["google"].sessions_by_peer
    assert set(google) == {"127.0.0.2", "127.0.0.3"}


def test_without_pools_mail_leaves_as_before(
    services: Services, sandbox: Sandbox, mailer: Mailer, clock: ShiftableClock
) -> None:
    mailer.send(["a@gmail.test"])
    deliver_due(pool_worker(services, clock))
    (message,) = sandbox.store.recent()
    assert message.peer == "127.0.0.1"
    assert message.helo == services.settings.helo_name


def test_marketing_and_transactional_mail_leave_from_their_own_pools(
    services: Services, sandbox: Sandbox, mailer: Mailer, clock: ShiftableClock
) -> None:
    make_pool(services, "marketing", "127.0.0.4")
    make_pool(services, "transactional", "127.0.0.5")
    make_pool(services, "fallback", "127.0.0.6", default=True)
    tenant = mailer.tenant_id
    services.pools.assign(OPERATOR, "marketing", tenant, mail_class="marketing")
    services.pools.assign(OPERATOR, "transactional", tenant, mail_class="transactional")
    other = services.tenants.create("Other sender").id

    mailer.send(["receipt@gmail.test"])  # no campaign: transactional
    now = clock.now()
    services.spool.enqueue(
        [
            NewMessage(
                tenant,
                "msg_news",
                "cmp_spring",
                None,
                "b@acme.test",
                "news@gmail.test",
                body("news@gmail.test", "msg_news"),
            ),
            NewMessage(
                other,
                "msg_other",
                "cmp_other",
                None,
                "b@other.test",
                "o@gmail.test",
                body("o@gmail.test", "msg_other"),
            ),
        ],
        now,
        dt.timedelta(hours=1),
    )
    with services.storage.spool() as session:
        pools = {m.rcpt_to: m.pool for m in session.query(SpoolMessage)}
    assert pools == {
        "receipt@gmail.test": "transactional",
        "news@gmail.test": "marketing",
        "o@gmail.test": "fallback",  # another tenant: the default pool
    }

    deliver_due(pool_worker(services, clock))

    peers = {m.rcpt: m.peer for m in sandbox.store.recent()}
    assert peers == {
        "receipt@gmail.test": "127.0.0.5",
        "news@gmail.test": "127.0.0.4",
        "o@gmail.test": "127.0.0.6",
    }


def _midnight_after(now: dt.datetime) -> dt.datetime:
    return dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)


def at_noon(clock: ShiftableClock) -> None:
    """Move the clock to noon (UTC) of the next day: no midnight falls mid-test."""
    noon = _midnight_after(clock.now()) + dt.timedelta(hours=12)
    clock.advance(seconds=(noon - clock.now()).total_seconds())


def test_a_warmup_plan_caps_day_one_at_the_receiving_side_and_sends_the_rest_on_day_two(
    services: Services, sandbox: Sandbox, mailer: Mailer, clock: ShiftableClock
) -> None:
    at_noon(clock)
    make_pool(services, "fresh", "127.0.0.7", default=True)
    services.pools.warmup.put("fresh", "google", [3, 10], clock.now())
    people = [f"p{n}@gmail.test" for n in range(5)]
    mailer.send([*people, "y@yahoo.test"])

    async def two_engines() -> None:
        # Two workers, as two engines would, count against the same cap in the database.
        first, second = pool_worker(services, clock, "w1"), pool_worker(services, clock, "w2")
        for _ in range(3):
            now = clock.now()
            a = services.spool.claim("w1", 3, now, dt.timedelta(minutes=5))
            b = services.spool.claim("w2", 3, now, dt.timedelta(minutes=5))
            await asyncio.gather(first.deliver(a), second.deliver(b))

    asyncio.run(two_engines())

    gmail = [m for m in sandbox.store.recent(limit=50) if m.provider == "google"]
    assert len(gmail) == 3  # day 1's cap, whichever engine sent them
    # Yahoo has no plan of its own and the pool no "default" plan: not capped.
    assert sandbox.store.count("y@yahoo.test") == 1
    (status,) = services.pools.warmup.status(clock.now(), "fresh")
    assert (status.day, status.cap, status.sent_today, status.paused) == (1, 3, 3, False)
    # The rest waits, unattempted and not bounced, for the next day.
    tomorrow = _midnight_after(clock.now())
    with services.storage.spool() as session:
        waiting = list(
            session.query(SpoolMessage).where(
                SpoolMessage.domain == "gmail.test", SpoolMessage.state == SpoolState.QUEUED
            )
        )
    assert len(waiting) == 2
    assert all(m.next_attempt_at == tomorrow and m.attempts == 0 for m in waiting)

    clock.advance(seconds=(tomorrow - clock.now()).total_seconds() + 60)
    deliver_due(pool_worker(services, clock))

    assert len([m for m in sandbox.store.recent(limit=50) if m.provider == "google"]) == 5
    (status,) = services.pools.warmup.status(clock.now(), "fresh")
    assert (status.day, status.cap, status.sent_today) == (2, 10, 2)


def test_a_rate_limit_reply_pauses_the_plan_until_resumed(
    services: Services, sandbox: Sandbox, mailer: Mailer, clock: ShiftableClock
) -> None:
    at_noon(clock)
    make_pool(services, "fresh", "127.0.0.8", default=True)
    services.pools.warmup.put("fresh", "google", [5, 10, 20], clock.now())
    sandbox.behaviours["google"].fail_next(
        "rcpt", 421, "4.7.28 Our system has detected an unusual rate of mail from your IP"
    )
    mailer.send(["a@gmail.test"])
    deliver_due(pool_worker(services, clock))

    (status,) = services.pools.warmup.status(clock.now(), "fresh")
    assert status.paused
    assert "rate-limit" in status.paused_reason or "4.7" in status.paused_reason
    # Paused, the day does not move on: day 1's cap again two days later.
    clock.advance(days=2)
    (status,) = services.pools.warmup.status(clock.now(), "fresh")
    assert (status.day, status.cap, status.paused) == (1, 5, True)

    resumed = services.pools.resume_warmup(OPERATOR, "fresh", "google")
    assert not resumed.paused
    clock.advance(days=1)
    (status,) = services.pools.warmup.status(clock.now(), "fresh")
    assert (status.day, status.cap) == (2, 10)


@pytest.mark.parametrize("zone", ["Europe/Paris"])
def test_warmup_days_follow_the_configured_time_zone(services: Services, zone: str) -> None:
    from courriel.delivery.warmup import WarmupPlans  # noqa: PLC0415

    plans = WarmupPlans(services.storage.spool, zone)
    # 23:30 UTC on 1 March is already 2 March in Paris.
    late = dt.datetime(2027, 3, 1, 23, 30, tzinfo=dt.UTC)
    assert plans.today(late) == dt.date(2027, 3, 2)
    assert plans.next_day(late) == dt.datetime(2027, 3, 2, 23, 0, tzinfo=dt.UTC)


def test_an_address_missing_on_the_sending_host_defers_its_mail_saying_so(
    services: Services, sandbox: Sandbox, mailer: Mailer, clock: ShiftableClock
) -> None:
    # Configured from another host (no local check): this one cannot bind it.
    services.pools.create(OPERATOR, "remote", default=True)
    services.pools.add_address(OPERATOR, "remote", "192.0.2.44", "mta44.example.com",
                               check_local=False)  # fmt: skip
    mailer.send(["a@gmail.test"])
    deliver_due(pool_worker(services, clock))

    assert sandbox.store.count() == 0
    with services.storage.spool() as session:
        (message,) = session.query(SpoolMessage).all()
    assert message.state is SpoolState.QUEUED  # deferred for a retry, never bounced
    assert "cannot send from 192.0.2.44 on this host" in message.last_reply


def test_a_campaign_fanned_out_for_real_leaves_from_its_campaigns_pool(
    services: Services, sandbox: Sandbox, client: TestClient, tenant_a: TenantAccess
) -> None:
    h = tenant_a.headers
    consent = {"source": "api", "purpose_text": "Yes, the newsletter", "ip": "192.0.2.1"}
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    people = ["ada@gmail.test", "grace@yahoo.test"]
    for email in people:
        client.post(
            "/v1/contacts", json={"email": email, "lists": [list_id], "consent": consent}, headers=h
        )
    template = client.post(
        "/v1/templates",
        json={"name": "T", "subject": "Hi", "html": '<a href="{{ unsubscribe_url }}">u</a>'},
        headers=h,
    ).json()["id"]
    campaign = client.post(
        "/v1/campaigns",
        json={"name": "C", "template_id": template, "lists": [list_id], "from_email": "n@a.test"},
        headers=h,
    ).json()["id"]
    make_pool(services, "everyday", "127.0.0.10")
    make_pool(services, "launch", "127.0.0.11")
    services.pools.assign(OPERATOR, "everyday", tenant_a.tenant.id)
    services.pools.assign(OPERATOR, "launch", tenant_a.tenant.id, campaign_id=campaign)

    assert client.post(f"/v1/campaigns/{campaign}/send", headers=h).status_code == 202
    deliver_all(services)

    assert {m.rcpt: (m.peer, m.helo) for m in sandbox.store.recent()} == dict.fromkeys(
        people, ("127.0.0.11", "mta11.launch.courriel.test")
    )
    # The tenant rehearsing against the sandbox sees the same through the API.
    (seen,) = client.get("/v1/sandbox/messages", params={"to": people[0]}, headers=h).json()
    assert (seen["peer"], seen["helo"]) == ("127.0.0.11", "mta11.launch.courriel.test")
