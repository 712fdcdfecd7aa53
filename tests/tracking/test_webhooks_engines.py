"""Issue 20: two engines on PostgreSQL send each webhook delivery once.

Every engine runs a webhook deliverer (engine/runtime.py). Two of them, each
with its own connection pools as two `courriel worker` processes have, work
through one outbox at the same time against a real, slow HTTP receiver:
each event reaches it once (a delivery is claimed under a lease, SKIP
LOCKED), and both deliverers did part of the work.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from courriel.config import Settings
from courriel.core.clock import FrozenClock
from courriel.core.db import transaction
from courriel.events.models import EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.events.webhooks.deliverer import WebhookDeliverer
from courriel.events.webhooks.endpoints import WebhookService
from courriel.events.webhooks.ssrf import parse_networks
from courriel.services import Services
from tests.support.databases import POSTGRES_URL
from tests.support.tenants import TenantAccess

EVENTS = 60
LOOPBACK = parse_networks(["127.0.0.1/32"])


@pytest.fixture(params=["postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    """Engines share a database server: this is PostgreSQL's test."""
    if not POSTGRES_URL:
        pytest.skip("COURRIEL_TEST_POSTGRES_URL is not set")
    name: str = request.param
    return name


class SlowReceiver:
    """An HTTP receiver taking 20 ms a request, recording each event id it gets."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(0.02)
                with receiver.lock:
                    receiver.ids.append(json.loads(body)["id"])
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    running = SlowReceiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def test_two_engines_deliver_each_webhook_event_once(
    services: Services, settings: Settings, tenant_a: TenantAccess, receiver: SlowReceiver
) -> None:
    clock = FrozenClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    WebhookService(services.storage, clock, LOOPBACK).create(
        tenant_a.operator, receiver.url, ["delivered"]
    )
    with transaction(services.storage.tenant(tenant_a.tenant.id)) as session:
        stored = record_events(
            session,
            [
                NewEvent(type=EventType.DELIVERED, occurred_at=clock.now(), message_id=f"msg_{n}")
                for n in range(EVENTS)
            ],
        )
    other = Services.build(settings)  # the second engine: pools and owner of its own
    done: Counter[int] = Counter()

    def engine(number: int, storage_of: Services) -> None:
        deliverer = WebhookDeliverer(storage_of.storage, settings, clock, allowed=LOOPBACK)
        while (sent := deliverer.run_once(limit=5)) > 0:
            done[number] += sent

    try:
        threads = [
            threading.Thread(target=engine, args=(n, s)) for n, s in ((1, services), (2, other))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
    finally:
        other.close()
    per_event = Counter(receiver.ids)
    assert sorted(per_event) == sorted(e.id for e in stored)
    assert max(per_event.values()) == 1, "an event was sent twice"
    assert done[1] > 0
    assert done[2] > 0
