"""Clicks and opens through the public endpoints: signed tokens, stored targets, no-tracking."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from fastapi.testclient import TestClient

from courriel.content.links import click_token, open_token
from courriel.core.db import transaction
from courriel.events.models import Event, EventType
from courriel.events.recorder import NewEvent, record_events
from courriel.events.service import EventFilter
from courriel.services import Services
from courriel.web.app import create_app
from tests.support.seeds.tracking import LINKS, Seeded, seed_default
from tests.support.tenants import TenantAccess


@pytest.fixture
def seeded(services: Services, tenant_a: TenantAccess) -> Seeded:
    return seed_default(services, tenant_a)


def _events(services: Services, seeded: Seeded, kind: EventType | None = None) -> list[Event]:
    services.tracker.flush()
    page = services.events.query(seeded.tenant.operator, EventFilter(type=kind), None, 500)
    return list(page.items)


def test_click_redirects_to_the_stored_url_and_records_the_click(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    response = client.get(seeded.click(services, "ann@gmail.test"), follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == LINKS[0]
    assert response.headers["cache-control"].startswith("no-store")
    clicks = _events(services, seeded, EventType.CLICKED)
    assert len(clicks) == 1
    assert clicks[0].detail["link"] == 0
    assert clicks[0].message_id == seeded.messages["ann@gmail.test"]


def test_tampered_tokens_are_404_and_never_redirect(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    good = seeded.click(services, "ann@gmail.test").removeprefix("/t/c/")
    flipped = good[:-3] + ("A" if good[-3] != "A" else "B") + good[-2:]
    other_key = click_token(b"not-our-key" * 3, seeded.tenant.tenant.id, "msg_x", 0)
    for token in (flipped, other_key, "", "x" * 600, "%00", good + "A"):
        response = client.get(f"/t/c/{token}", follow_redirects=False)
        assert response.status_code == 404, token
        assert "location" not in response.headers
    pixel = seeded.pixel(services, "ann@gmail.test")
    assert client.get(pixel[:-8] + "AAAA.gif").status_code == 404
    # An open token is not a click token (the purpose is inside the MAC).
    open_as_click = open_token(services.secret_key, seeded.tenant.tenant.id, "msg_x")
    assert client.get(f"/t/c/{open_as_click}", follow_redirects=False).status_code == 404
    assert _events(services, seeded, EventType.CLICKED) == []


def test_a_head_request_redirects_but_is_not_a_click(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    response = client.head(seeded.click(services, "ann@gmail.test"), follow_redirects=False)
    assert response.status_code == 302
    assert _events(services, seeded, EventType.CLICKED) == []


def test_a_javascript_link_is_never_redirected_to(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    response = client.get(seeded.click(services, "ann@gmail.test", link=1), follow_redirects=False)
    assert response.status_code == 404
    assert "location" not in response.headers
    # A link position that does not exist is no better.
    response = client.get(seeded.click(services, "ann@gmail.test", link=9), follow_redirects=False)
    assert response.status_code == 404


def test_open_pixel_is_a_gif_and_records_an_open(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    response = client.get(
        seeded.pixel(services, "bob@yahoo.test"), headers={"User-Agent": "Thunderbird/128.0"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    opens = _events(services, seeded, EventType.OPENED)
    assert len(opens) == 1
    assert opens[0].detail["machine"] is False
    assert opens[0].lane == "yahoo.test"


def test_no_tracking_contact_gets_no_events_but_the_redirect_works(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    email = "cy@outlook.test"
    response = client.get(seeded.click(services, email), follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == LINKS[0]
    assert client.get(seeded.pixel(services, email)).status_code == 200
    assert _events(services, seeded) == []


def test_machine_opens_and_scanner_clicks_are_flagged_and_kept_out_of_human_figures(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    tenant_id = seeded.tenant.tenant.id
    message = seeded.messages["ann@gmail.test"]
    with transaction(services.storage.tenant(tenant_id)) as session:
        record_events(
            session,
            [
                NewEvent(
                    type=EventType.DELIVERED,
                    occurred_at=dt.datetime.now(dt.UTC),
                    campaign_id=seeded.campaign_id,
                    message_id=message,
                    lane="gmail-smtp-in.l.google.com",
                )
            ],
        )
    human = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"}
    # Right after delivery: Apple's proxy fetches the pixel, a gateway follows links.
    client.get(seeded.pixel(services, "ann@gmail.test"), headers={"User-Agent": "Mozilla/5.0"})
    client.get(seeded.pixel(services, "ann@gmail.test"), headers={"User-Agent": "GoogleImageProxy"})
    client.get(seeded.click(services, "ann@gmail.test"), headers=human, follow_redirects=False)
    opens = _events(services, seeded, EventType.OPENED)
    assert [o.detail["machine_reason"] for o in opens] == [
        "apple-mpp",
        "google-image-proxy",
    ]
    clicks = _events(services, seeded, EventType.CLICKED)
    assert clicks[0].detail["scanner"] is True
    assert clicks[0].detail["scanner_reason"] == "clicked-on-delivery"
    stats = services.stats.campaign(seeded.tenant.operator, seeded.campaign_id)
    assert stats.figures["opens"] == 2
    assert stats.figures["opens_machine"] == 2
    assert stats.figures["unique_opens"] == 1
    assert stats.figures["unique_human_opens"] == 0
    assert stats.figures["clicks_scanner"] == 1
    assert stats.figures["unique_clicks"] == 0
    # Later, a person: counted as human.
    client.get(seeded.pixel(services, "bob@yahoo.test"), headers=human)
    stats = services.stats.campaign(seeded.tenant.operator, seeded.campaign_id)
    services.tracker.flush()
    stats = services.stats.campaign(seeded.tenant.operator, seeded.campaign_id)
    assert stats.figures["unique_human_opens"] == 1


def test_tokens_of_one_tenant_never_reach_another_tenants_data(
    client: TestClient, services: Services, seeded: Seeded, tenant_b: TenantAccess
) -> None:
    # A validly signed token naming tenant B but a message of tenant A: B's
    # database has no such message, so nothing is found and nothing recorded.
    message = seeded.messages["ann@gmail.test"]
    token = click_token(services.secret_key, tenant_b.tenant.id, message, 0)
    assert client.get(f"/t/c/{token}", follow_redirects=False).status_code == 404
    pixel = open_token(services.secret_key, tenant_b.tenant.id, message)
    assert client.get(f"/t/o/{pixel}.gif").status_code == 200  # pixels always answer
    services.tracker.flush()
    for tenant in (seeded.tenant, tenant_b):
        page = services.events.query(tenant.operator, EventFilter(), None, 50)
        assert list(page.items) == []


def test_clicks_are_written_by_the_background_flush_within_a_second(
    services: Services, seeded: Seeded
) -> None:
    with TestClient(create_app(services)) as client:
        response = client.get(seeded.click(services, "ann@gmail.test"), follow_redirects=False)
        assert response.status_code == 302
        deadline = time.monotonic() + 1.0
        found: list[Event] = []
        while time.monotonic() < deadline and not found:
            found = list(
                services.events.query(
                    seeded.tenant.operator, EventFilter(type=EventType.CLICKED), None, 10
                ).items
            )
            time.sleep(0.02)
        assert len(found) == 1
        # The last hits before shutdown are written when the app stops.
        client.get(seeded.pixel(services, "bob@yahoo.test"))
    page = services.events.query(
        seeded.tenant.operator, EventFilter(type=EventType.OPENED), None, 10
    )
    assert len(page.items) == 1
