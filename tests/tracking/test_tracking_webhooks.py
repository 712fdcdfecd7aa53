"""Webhooks end to end: a real HTTP receiver on 127.0.0.1 (explicitly allowed),
signatures, retries with back-off, no redirects, disabling, replay, isolation."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from courriel.core.clock import FrozenClock
from courriel.core.db import transaction
from courriel.core.errors import InvalidInputError
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.events.webhooks.deliverer import WebhookDeliverer
from courriel.events.webhooks.endpoints import WebhookService
from courriel.events.webhooks.models import DeliveryStatus, EndpointStatus, WebhookDelivery
from courriel.events.webhooks.signer import SIGNATURE_HEADER, verify_signature
from courriel.events.webhooks.ssrf import parse_networks
from courriel.services import Services
from tests.support.tenants import TenantAccess

LOOPBACK = parse_networks(["127.0.0.1/32"])


class Receiver:
    """A real HTTP server that records what it gets and answers as scripted."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.replies: list[tuple[int, dict[str, str]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((dict(self.headers.items()), body))
                status, headers = receiver.replies.pop(0) if receiver.replies else (200, {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hooks/courriel"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

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
    return FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))


def _parts(
    services: Services, clock: FrozenClock, allowed: bool = True
) -> tuple[WebhookService, WebhookDeliverer]:
    networks = LOOPBACK if allowed else ()
    return (
        WebhookService(services.storage, clock, networks),
        WebhookDeliverer(
            services.storage, services.settings, clock, allowed=networks, draw=lambda: 0.0
        ),
    )


def _record(services: Services, tenant: TenantAccess, kind: EventType, at: dt.datetime) -> str:
    with transaction(services.storage.tenant(tenant.tenant.id)) as session:
        stored = record_events(
            session, [NewEvent(type=kind, occurred_at=at, message_id="msg_x", lane="gmail.test")]
        )
    return stored[0].id


def _deliveries(services: Services, tenant: TenantAccess) -> list[WebhookDelivery]:
    with services.storage.tenant(tenant.tenant.id)() as session:
        return list(session.query(WebhookDelivery).order_by(WebhookDelivery.created_at))


def test_signed_delivery_is_retried_with_back_off_until_the_receiver_accepts(
    services: Services, tenant_a: TenantAccess, receiver: Receiver, clock: FrozenClock
) -> None:
    webhooks, deliverer = _parts(services, clock)
    created = webhooks.create(tenant_a.operator, receiver.url, ["delivered", "opened"])
    _record(services, tenant_a, EventType.QUEUED, clock.now())  # not subscribed
    event_id = _record(services, tenant_a, EventType.DELIVERED, clock.now())
    receiver.replies = [(500, {}), (503, {})]

    assert deliverer.run_once() == 1
    assert deliverer.run_once() == 0  # backing off: not due yet
    clock.advance(seconds=16)  # first retry after 30 s × jitter (0.5 here)
    assert deliverer.run_once() == 1
    assert deliverer.run_once() == 0
    clock.advance(seconds=31)  # then 60 s × 0.5
    assert deliverer.run_once() == 1

    assert len(receiver.requests) == 3
    bodies = {body for _, body in receiver.requests}
    assert len(bodies) == 1  # every attempt sends the same bytes
    headers, body = receiver.requests[-1]
    payload = json.loads(body)
    assert payload["id"] == event_id
    assert payload["type"] == "delivered"
    assert payload["provider"] == "google"
    assert headers["Courriel-Event-Id"] == event_id
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    now = int(clock.now().timestamp())
    assert verify_signature(created.secret, headers[SIGNATURE_HEADER], body, now)
    assert not verify_signature(created.secret, headers[SIGNATURE_HEADER], body + b" ", now)
    assert not verify_signature("whsec_other", headers[SIGNATURE_HEADER], body, now)
    assert not verify_signature(created.secret, headers[SIGNATURE_HEADER], body, now + 3600)
    [delivery] = _deliveries(services, tenant_a)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts == 3
    assert webhooks.get(tenant_a.operator, created.endpoint.id).failing_since is None


def test_a_redirect_is_never_followed(
    services: Services, tenant_a: TenantAccess, receiver: Receiver, clock: FrozenClock
) -> None:
    inner = Receiver()
    try:
        webhooks, deliverer = _parts(services, clock)
        webhooks.create(tenant_a.operator, receiver.url, ["*"])
        receiver.replies = [(302, {"Location": f"http://127.0.0.1:{inner.port}/admin"})]
        _record(services, tenant_a, EventType.DELIVERED, clock.now())
        deliverer.run_once()
        assert len(receiver.requests) == 1
        assert inner.requests == []
        [delivery] = _deliveries(services, tenant_a)
        assert delivery.status is DeliveryStatus.PENDING
        assert delivery.last_error == "redirect not followed"
    finally:
        inner.close()


def test_the_guard_runs_again_at_send_time(
    services: Services, tenant_a: TenantAccess, receiver: Receiver, clock: FrozenClock
) -> None:
    # Saved while the operator allowed loopback; the allow-list was then removed.
    webhooks, _ = _parts(services, clock, allowed=True)
    _, strict = _parts(services, clock, allowed=False)
    webhooks.create(tenant_a.operator, receiver.url, ["*"])
    _record(services, tenant_a, EventType.DELIVERED, clock.now())
    strict.run_once()
    assert receiver.requests == []
    [delivery] = _deliveries(services, tenant_a)
    assert delivery.last_error.startswith("refused: resolves to")

    # A name that resolved to a public address when saved and to loopback now
    # (DNS rebinding) is refused too.
    public = WebhookService(services.storage, clock, resolve=lambda _h, _p: ["93.184.216.34"])
    rebound = WebhookDeliverer(
        services.storage, services.settings, clock, resolve=lambda _h, _p: ["127.0.0.1"]
    )
    public.create(tenant_a.operator, f"http://hooks.example:{receiver.port}/", ["*"])
    clock.advance(hours=1)
    rebound.run_once()
    assert receiver.requests == []


def test_ipv4_compatible_ipv6_addresses_are_refused_at_registration_and_delivery(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    receiver: Receiver,
    clock: FrozenClock,
) -> None:
    # Issue 18 item 6: these were accepted and would have been called.
    for url in ("http://[::127.0.0.1]/", "http://[::10.0.0.1]/", "http://[::169.254.169.254]/"):
        response = client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=tenant_a.headers
        )
        assert response.status_code == 422, url
        assert response.json()["errors"][0]["field"] == "url"
        assert "refused" in response.json()["errors"][0]["detail"]
    assert client.get("/v1/webhooks", headers=tenant_a.headers).json()["data"] == []

    # A name that was public when saved and answers ::127.0.0.1 at send time.
    public = WebhookService(services.storage, clock, resolve=lambda _h, _p: ["93.184.216.34"])
    rebound = WebhookDeliverer(
        services.storage, services.settings, clock, resolve=lambda _h, _p: ["::127.0.0.1"]
    )
    public.create(tenant_a.operator, f"http://hooks.example:{receiver.port}/", ["*"])
    _record(services, tenant_a, EventType.DELIVERED, clock.now())
    rebound.run_once()
    assert receiver.requests == []
    [delivery] = _deliveries(services, tenant_a)
    assert delivery.last_error.startswith("refused: resolves to")
    assert "IPv4-compatible address (carrying 127.0.0.1)" in delivery.last_error


def test_saving_an_internal_url_is_refused(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    for url in (
        "http://127.0.0.1:8025/",
        "http://[::1]/",
        "http://169.254.169.254/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://[fd00::1]/",
        "http://2130706433/",
        "http://localhost/",
    ):
        response = client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["*"]}, headers=tenant_a.headers
        )
        assert response.status_code == 422, url
        assert response.json()["errors"][0]["field"] == "url"
    assert client.get("/v1/webhooks", headers=tenant_a.headers).json()["data"] == []
    response = client.post(
        "/v1/webhooks",
        json={"url": "http://93.184.216.34/in", "event_types": ["opened", "sometimes"]},
        headers=tenant_a.headers,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "event_types.1"


def test_an_endpoint_failing_for_24_hours_is_disabled_with_a_notice(
    services: Services, tenant_a: TenantAccess, receiver: Receiver, clock: FrozenClock
) -> None:
    webhooks, deliverer = _parts(services, clock)
    created = webhooks.create(tenant_a.operator, receiver.url, ["*"])
    _record(services, tenant_a, EventType.DELIVERED, clock.now())
    receiver.replies = [(500, {})] * 100
    for _ in range(30):
        deliverer.run_once()
        clock.advance(hours=1)
    endpoint = webhooks.get(tenant_a.operator, created.endpoint.id)
    assert endpoint.status is EndpointStatus.DISABLED
    assert "every delivery failed since" in endpoint.disabled_reason
    [delivery] = _deliveries(services, tenant_a)
    assert delivery.status is DeliveryStatus.FAILED
    attempts = len(receiver.requests)
    # Exponential: far fewer attempts than hours once the back-off reaches 1 h.
    assert 20 <= attempts <= 26
    deliverer.run_once()
    assert len(receiver.requests) == attempts  # disabled: nothing more is sent
    # Re-enabled by the tenant, it receives new events again.
    webhooks.update(tenant_a.operator, created.endpoint.id, active=True)
    _record(services, tenant_a, EventType.OPENED, clock.now())
    receiver.replies = []
    deliverer.run_once()
    assert json.loads(receiver.requests[-1][1])["type"] == "opened"


def test_replay_sends_the_last_7_days_again_with_the_same_event_ids(
    services: Services, tenant_a: TenantAccess, receiver: Receiver, clock: FrozenClock
) -> None:
    webhooks, deliverer = _parts(services, clock)
    old = _record(services, tenant_a, EventType.DELIVERED, clock.now() - dt.timedelta(days=8))
    recent = _record(services, tenant_a, EventType.OPENED, clock.now() - dt.timedelta(days=2))
    created = webhooks.create(tenant_a.operator, receiver.url, ["delivered", "opened"])
    assert webhooks.replay(tenant_a.operator, created.endpoint.id) == 1
    deliverer.run_once()
    assert [json.loads(body)["id"] for _, body in receiver.requests] == [recent]
    assert old not in {json.loads(body)["id"] for _, body in receiver.requests}
    with pytest.raises(InvalidInputError) as exc:
        webhooks.replay(
            tenant_a.operator, created.endpoint.id, since=clock.now() - dt.timedelta(days=9)
        )
    assert exc.value.field == "since"


def test_another_tenants_endpoints_are_out_of_reach(
    client: TestClient, services: Services, tenant_a: TenantAccess, tenant_b: TenantAccess
) -> None:
    created = client.post(
        "/v1/webhooks",
        json={"url": "http://93.184.216.34/in", "event_types": ["*"]},
        headers=tenant_a.headers,
    )
    assert created.status_code == 201
    assert created.json()["secret"].startswith("whsec_")
    endpoint = created.json()["id"]
    b = tenant_b.headers
    assert client.get("/v1/webhooks", headers=b).json()["data"] == []
    assert client.get(f"/v1/webhooks/{endpoint}", headers=b).status_code == 404
    assert (
        client.patch(f"/v1/webhooks/{endpoint}", json={"active": False}, headers=b).status_code
        == 404
    )
    assert client.post(f"/v1/webhooks/{endpoint}/replay", json={}, headers=b).status_code == 404
    assert client.get(f"/v1/webhooks/{endpoint}/deliveries", headers=b).status_code == 404
    assert client.delete(f"/v1/webhooks/{endpoint}", headers=b).status_code == 404
    # Tenant B's events never reach tenant A's endpoint.
    _record(services, tenant_b, EventType.DELIVERED, dt.datetime.now(dt.UTC))
    assert _deliveries(services, tenant_a) == []
    page = client.get(f"/v1/webhooks/{endpoint}", headers=tenant_a.headers).json()
    assert "secret" not in page
    assert client.delete(f"/v1/webhooks/{endpoint}", headers=tenant_a.headers).status_code == 204


def test_an_endpoint_set_up_by_a_masked_key_receives_masked_addresses(
    services: Services, tenant_a: TenantAccess, receiver: Receiver, clock: FrozenClock
) -> None:
    webhooks, deliverer = _parts(services, clock)
    masked_key = services.api_keys.create(tenant_a.operator, "analyst", field_default="hidden")
    masked = services.api_keys.authenticate(masked_key.secret)
    webhooks.create(masked, receiver.url, ["bounced"])
    webhooks.create(tenant_a.operator, receiver.url, ["bounced"])
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.BOUNCED,
                    occurred_at=clock.now(),
                    message_id="msg_x",
                    lane="gmail.test",
                    detail={
                        "reply": "550 5.1.1 <ada.lovelace@gmail.test>: unknown user",
                        "ip": "192.0.2.7",
                    },
                )
            ],
        )
    assert deliverer.run_once() == 2
    bodies = sorted(body.decode() for _, body in receiver.requests)
    shown = [b for b in bodies if "ada.lovelace@gmail.test" not in b]
    full = [b for b in bodies if "ada.lovelace@gmail.test" in b]
    assert len(shown) == len(full) == 1, "the owner's endpoint keeps the data"
    assert "a***@g***.test" in shown[0]
    assert "192.0.2.7" not in shown[0]
    assert "192.0.2.7" in full[0]
