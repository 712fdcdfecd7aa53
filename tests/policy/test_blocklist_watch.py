"""The blocklist watch on the sandbox internet: a sending IP listed in the sandbox's
blocklist zone raises a warning (API, dashboard), an event and a signed webhook to a
real HTTP receiver; delisting clears it. Sender domains concern only their tenant;
several engines run the watch once; a failed lookup changes nothing; bad zones refused."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select

from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.engine.runtime import run_blocklists
from courriel.events.models import Event, EventType
from courriel.events.webhooks.deliverer import WebhookDeliverer
from courriel.events.webhooks.endpoints import WebhookService
from courriel.events.webhooks.ssrf import parse_networks
from courriel.policy import periodic
from courriel.policy.blocklists import BlocklistWatch
from courriel.policy.dnsbl import DnsblLookup
from courriel.policy.models import PeriodicRun
from courriel.sandbox.server import Sandbox
from courriel.sandbox.zone import DOMAIN_BLOCKLIST, IP_BLOCKLIST, blocklist_name, read_zone
from courriel.services import Services
from tests.support.databases import Templates, build_services
from tests.support.people import PASSWORD, make_user, sign_in
from tests.support.tenants import TenantAccess

LOOPBACK = parse_networks(["127.0.0.1/32"])
IP = "192.0.2.10"
START = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)


class Receiver:
    """A real HTTP server that records the webhooks it gets."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                bodies.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def services(settings: Settings, templates: Templates, clock: FrozenClock) -> Iterator[Services]:
    settings.sending_ips = [IP]
    settings.blocklist_ip_zones = [IP_BLOCKLIST]
    settings.blocklist_domain_zones = [DOMAIN_BLOCKLIST]
    built = build_services(settings, templates, clock)
    yield built
    built.close()


def _events(services: Services, tenant: TenantAccess) -> list[Event]:
    with services.storage.tenant(tenant.tenant.id)() as session:
        return list(
            session.scalars(
                select(Event)
                .where(Event.type.in_([EventType.BLOCKLIST_LISTED, EventType.BLOCKLIST_CLEARED]))
                .order_by(Event.seq)
            )
        )


def test_a_listed_sending_ip_warns_announces_and_clears(
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    sandbox: Sandbox,
    receiver: Receiver,
    clock: FrozenClock,
    client: TestClient,
) -> None:
    webhooks = WebhookService(services.storage, clock, LOOPBACK)
    webhooks.create(tenant_a.operator, receiver.url, ["blocklist-listed", "blocklist-cleared"])
    deliverer = WebhookDeliverer(services.storage, services.settings, clock, allowed=LOOPBACK)

    first = services.blocklists.run_due("engine-1")
    assert first is not None
    assert (first.checked, first.listed, first.failed) == (1, 0, 0)
    assert client.get("/v1/policy", headers=tenant_a.headers).json()["blocklists"] == []

    sandbox.list_on_blocklist(IP, "spam seen from 192.0.2.10; see https://bl.example/remove")
    # Not due yet: an engine that asks again within the interval runs nothing.
    assert services.blocklists.run_due("engine-2") is None
    clock.advance(seconds=services.settings.blocklist_interval_seconds)
    run = services.blocklists.run_due("engine-2")
    assert run is not None
    assert run.listed == 1

    policy = client.get("/v1/policy", headers=tenant_a.headers).json()
    [listing] = policy["blocklists"]
    assert listing["kind"] == "ip"
    assert listing["subject"] == IP
    assert listing["zone"] == IP_BLOCKLIST
    assert listing["code"] == "127.0.0.2"
    assert "bl.example/remove" in listing["reason"]
    # A shared sending IP concerns every tenant.
    assert client.get("/v1/policy/blocklists", headers=tenant_b.headers).json()[0]["subject"] == IP

    # The dashboard's policy section says so.
    make_user(services, tenant_a, email="ana@example.test")
    assert sign_in(client, "ana@example.test", PASSWORD).status_code == 303
    page = client.get("/app", headers={"accept": "text/html"}).text
    assert f"our sending IP {IP} is listed on {IP_BLOCKLIST}" in page
    assert "bl.example/remove" in page

    # The event, and its webhook at the receiver.
    [event] = _events(services, tenant_a)
    assert event.type is EventType.BLOCKLIST_LISTED
    assert event.detail["subject"] == IP
    assert deliverer.run_once() == 1
    [payload] = receiver.bodies
    assert payload["type"] == "blocklist-listed"
    assert payload["detail"]["zone"] == IP_BLOCKLIST  # type: ignore[index]

    # Still listed at the next run: no second announcement.
    clock.advance(seconds=services.settings.blocklist_interval_seconds)
    assert services.blocklists.run_due("engine-1") is not None
    assert len(_events(services, tenant_a)) == 1

    sandbox.delist(IP)
    clock.advance(seconds=services.settings.blocklist_interval_seconds)
    cleared = services.blocklists.run_due("engine-1")
    assert cleared is not None
    assert cleared.cleared == 1
    assert client.get("/v1/policy", headers=tenant_a.headers).json()["blocklists"] == []
    assert "is listed on" not in client.get("/app", headers={"accept": "text/html"}).text
    assert [e.type for e in _events(services, tenant_a)] == [
        EventType.BLOCKLIST_LISTED,
        EventType.BLOCKLIST_CLEARED,
    ]
    assert deliverer.run_once() == 1
    assert receiver.bodies[-1]["type"] == "blocklist-cleared"


def test_a_listed_sender_domain_concerns_its_tenant_only(
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    sandbox: Sandbox,
    client: TestClient,
) -> None:
    services.sender_domains.add(tenant_a.operator, "shop-a.test")
    services.sender_domains.add(tenant_b.operator, "shop-b.test")
    sandbox.list_on_blocklist("shop-a.test", "phishing links")

    run = services.blocklists.check_all()

    assert (run.checked, run.listed) == (3, 1)  # the IP, then two domains
    [listing] = client.get("/v1/policy/blocklists", headers=tenant_a.headers).json()
    assert (listing["kind"], listing["subject"], listing["zone"]) == (
        "domain",
        "shop-a.test",
        DOMAIN_BLOCKLIST,
    )
    assert client.get("/v1/policy/blocklists", headers=tenant_b.headers).json() == []
    assert len(_events(services, tenant_a)) == 1
    assert _events(services, tenant_b) == []


def test_a_failed_lookup_neither_raises_nor_clears(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox, settings: Settings
) -> None:
    sandbox.list_on_blocklist(IP)
    assert services.blocklists.check_all().listed == 1

    class Broken(DnsblLookup):
        def lookup(self, name: str) -> None:
            return None

    broken = BlocklistWatch(
        services.storage, settings, services.clock, lookup=Broken(settings)
    ).check_all()
    assert (broken.failed, broken.cleared) == (1, 0)
    assert [r.subject for r in services.blocklists.listings(tenant_a.operator)] == [IP]


def test_the_sandbox_zone_answers_blocklist_names(settings: Settings, sandbox: Sandbox) -> None:
    lookup = DnsblLookup(settings)
    assert blocklist_name("192.0.2.10", "bl.example") == "10.2.0.192.bl.example"
    assert blocklist_name("2001:db8::1", "bl.example").endswith(".8.b.d.0.1.0.0.2.bl.example")
    assert blocklist_name("Shop.Test.", "dbl.example") == "shop.test.dbl.example"
    not_listed = lookup.lookup(blocklist_name(IP, IP_BLOCKLIST))
    assert not_listed is not None
    assert not not_listed.listed

    sandbox.list_on_blocklist(IP, "why", code="127.0.0.4")
    listed = lookup.lookup(blocklist_name(IP, IP_BLOCKLIST))
    assert listed is not None
    assert (listed.listed, listed.code, listed.reason) == (True, "127.0.0.4", "why")
    # The zone file stays readable by the sandbox's own reader (compatible format).
    assert blocklist_name(IP, IP_BLOCKLIST) in read_zone(sandbox.zone_file).records

    # A refusal code (127.255.255.x: query refused) says nothing about the subject.
    sandbox.list_on_blocklist(IP, "refused", code="127.255.255.254")
    assert lookup.lookup(blocklist_name(IP, IP_BLOCKLIST)) is None


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("sending_ips", ["192.0.2.300"], "is not an IP address"),
        ("blocklist_ip_zones", ["zen"], "is not a DNS zone name"),
        ("blocklist_domain_zones", ["bad zone.example"], "is not a DNS zone name"),
        ("blocklist_interval_seconds", 5, "greater than or equal to 60"),
    ],
)
def test_bad_settings_are_refused_naming_the_problem(
    field: str, value: object, problem: str
) -> None:
    with pytest.raises(ValidationError, match=problem):
        Settings.model_validate({field: value})


def test_an_engine_that_died_mid_run_is_taken_over_when_its_lease_ends(
    services: Services, sandbox: Sandbox, clock: FrozenClock
) -> None:
    assert periodic.claim(services.storage, clock, "blocklists", "engine-1")  # then killed
    assert services.blocklists.run_due("engine-2") is None
    clock.advance(seconds=periodic.LEASE.total_seconds() + 1)
    assert services.blocklists.run_due("engine-2") is not None


def test_two_engine_loops_look_the_zones_up_once(
    services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    sandbox.list_on_blocklist(IP)

    async def two_engines() -> None:
        stop = asyncio.Event()
        loops = [asyncio.create_task(run_blocklists(services, stop)) for _ in range(2)]
        for _ in range(200):
            if services.blocklists.listings(tenant_a.operator):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.gather(*loops)

    asyncio.run(two_engines())

    assert [r.subject for r in services.blocklists.listings(tenant_a.operator)] == [IP]
    assert len(_events(services, tenant_a)) == 1
    with services.storage.control() as session:
        [run] = session.scalars(select(PeriodicRun)).all()
    assert run.lease_owner is None  # given back
    assert run.run_after == START + dt.timedelta(seconds=3600)
