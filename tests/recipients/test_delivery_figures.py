"""What senders read about delivery, from a campaign sent through the sandbox internet:
provider rates computed from the figures, link statistics by URL, and delivery events
dated when the receiving server answered."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time

from fastapi.testclient import TestClient

from courriel.core.principal import Principal
from courriel.events.service import EventFilter
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import WorkerFactory, deliver_all
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter"}
SALE = "https://shop.test/sale?season=spring"
HTML = (
    f'<p>Hello</p><a href="https://shop.test/about">About</a><a href="{SALE}">Sale</a>'
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
)
GOOGLE = ["ada@gmail.test", "grace@gmail.test", "alan@googlemail.test", "unknown-x@gmail.test"]


def _campaign(client: TestClient, access: TenantAccess, addresses: list[str]) -> str:
    h = access.headers
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    for address in addresses:
        response = client.post(
            "/v1/contacts",
            json={"email": address, "lists": [list_id], "consent": CONSENT},
            headers=h,
        )
        assert response.status_code == 201, response.text
    template = client.post(
        "/v1/templates", json={"name": "T", "subject": "Sale", "html": HTML}, headers=h
    ).json()["id"]
    campaign = client.post(
        "/v1/campaigns",
        json={
            "name": "S",
            "template_id": template,
            "lists": [list_id],
            "from_email": "n@shop.test",
        },
        headers=h,
    ).json()["id"]
    sent = client.post(f"/v1/campaigns/{campaign}/send", headers=h)
    assert sent.status_code == 202, sent.text
    return str(campaign)


def _click_path(sandbox: Sandbox, address: str, base: str, index: int) -> str:
    (received,) = sandbox.store.inbox(address)
    part = received.as_email().get_body(preferencelist=("html",))
    assert part is not None
    clicks = re.findall(r'href="(' + re.escape(base) + r'/t/c/[^"]+)"', str(part.get_content()))
    return str(clicks[index][len(base) :])


def test_provider_rates_follow_the_figures_and_links_are_shown_by_url(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    campaign = _campaign(client, tenant_a, [*GOOGLE, "zoe@yahoo.test"])
    deliver_all(services)
    h = tenant_a.headers

    rows = client.get(f"/v1/campaigns/{campaign}/stats/provider", headers=h).json()["data"]
    google = next(r for r in rows if r["key"] == "google")
    assert google["figures"]["delivered"] == 3
    assert google["figures"]["bounced"] == 1
    assert google["rates"]["delivery_rate"] == 0.75
    assert google["rates"]["bounce_rate"] == 0.25
    assert google["rates"]["hard_bounce_rate"] == 0.25
    assert google["rates"]["block_rate"] == 0.0
    yahoo = next(r for r in rows if r["key"] == "yahoo")
    assert yahoo["rates"]["delivery_rate"] == 1.0

    base = services.settings.public_url
    for address in ("ada@gmail.test", "grace@gmail.test"):
        assert (
            client.get(_click_path(sandbox, address, base, 1), follow_redirects=False).status_code
            == 302
        )
    assert (
        client.get(
            _click_path(sandbox, "ada@gmail.test", base, 0), follow_redirects=False
        ).status_code
        == 302
    )
    services.tracker.flush()

    links = client.get(f"/v1/campaigns/{campaign}/stats/link", headers=h).json()["data"]
    by_url = {r["key"]: r for r in links}
    assert set(by_url) == {"https://shop.test/about", SALE}
    assert by_url[SALE]["figures"]["clicks"] == 2
    assert by_url[SALE]["position"] == 1
    assert by_url["https://shop.test/about"]["figures"]["clicks"] == 1


def test_delivery_events_are_dated_when_the_receiving_server_answered(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    sandbox: Sandbox,
    make_worker: WorkerFactory,
) -> None:
    campaign = _campaign(client, tenant_a, ["ada@gmail.test"])
    services.scheduler().drain()
    worker = make_worker(owner="test")
    before = services.clock.now()
    claimed = services.spool.claim("test", 10, before, dt.timedelta(seconds=60))
    asyncio.run(worker.deliver(claimed))
    answered = services.clock.now()
    # The report comes later (a busy reporter, a restart): meanwhile Ada clicks.
    time.sleep(1.1)
    base = services.settings.public_url
    assert (
        client.get(
            _click_path(sandbox, "ada@gmail.test", base, 0), follow_redirects=False
        ).status_code
        == 302
    )
    services.tracker.flush()
    services.reporter.report_finished()

    events = services.events.query(
        Principal.operator(tenant_a.tenant.id),
        EventFilter(campaign_id=campaign),
        None,
        100,
    ).items
    by_type = {e.type.value: e for e in events}
    delivered, clicked = by_type["delivered"], by_type["clicked"]
    assert before <= delivered.occurred_at <= answered
    assert delivered.occurred_at < clicked.occurred_at
