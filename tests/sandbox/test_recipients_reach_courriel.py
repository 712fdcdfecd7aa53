"""Simulated recipients open, click and unsubscribe against a running Courriel.

The whole loop on real parts: a campaign composed with tracked links, pixel
and List-Unsubscribe, delivered over SMTP to the sandbox, where a provider
profile makes a share of its recipients open, click and press one-click
unsubscribe (RFC 8058); they do it over HTTP against Courriel's own tracking
endpoints served by uvicorn on a real socket, and the tenant's events and
subscriptions show it.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import select

from courriel.audience.models import Contact, Subscription, SubscriptionStatus
from courriel.config import Settings
from courriel.events.models import Event, EventType
from courriel.sandbox.behaviour import chosen
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.sandbox import SandboxThread
from tests.support.seeds.campaigns import make_campaign, seed_list
from tests.support.tenants import make_tenant

HTML = (
    "<p>Hello {{ contact.email }}, our spring collection is here.</p>"
    '<p><a href="https://shop.example.test/spring">See the collection</a></p>'
)
PEOPLE = [f"reader{n}@gmail.test" for n in range(16)]
RATES = {"open": 0.5, "click": 0.3, "unsubscribe": 0.2}
DEADLINE_S = 60


@pytest.fixture
def settings(settings: Settings, http_port: int) -> Settings:
    # The links in the messages point where the HTTP app (`live_http`) really listens.
    return settings.model_copy(update={"public_url": f"http://127.0.0.1:{http_port}"})


def _events(services: Services, tenant_id: str) -> dict[EventType, set[str]]:
    with services.storage.tenant(tenant_id)() as session:
        rows = session.execute(
            select(Event.type, Contact.email).join(Contact, Contact.id == Event.contact_id)
        ).all()
    found: dict[EventType, set[str]] = {}
    for kind, email in rows:
        found.setdefault(kind, set()).add(email)
    return found


def test_profile_recipients_open_click_and_unsubscribe_through_courriels_endpoints(
    services: Services, settings: Settings, live_http: str
) -> None:
    tenant = make_tenant(services, "Shop")
    with SandboxThread(Path(settings.data_dir)) as sandbox:
        sandbox.behaviours["google"].configure(
            open_rate=RATES["open"],
            click_rate=RATES["click"],
            unsubscribe_rate=RATES["unsubscribe"],
        )
        list_id = seed_list(services, tenant, PEOPLE)
        campaign_id = make_campaign(services, tenant, [list_id], html=HTML)
        services.campaign_control.send(tenant.operator, campaign_id)
        deadline = time.monotonic() + DEADLINE_S
        deliver_all(services, deadline_s=DEADLINE_S)
        expected = {
            kind: {p for p in PEOPLE if chosen(p, kind, rate)} for kind, rate in RATES.items()
        }
        assert all(expected.values()), "the rates must pick someone for the test to mean much"
        # Every reaction is an HTTP request the sandbox makes to Courriel.
        while len(sandbox.recipients.actions) < sum(map(len, expected.values())):
            assert time.monotonic() < deadline, "the simulated recipients did not act in time"
            time.sleep(0.05)
        actions = list(sandbox.recipients.actions)
    assert {a.target.partition("/t/")[0] for a in actions if a.kind != "unsubscribe"} == {live_http}
    # The endpoints answered as a mail client expects: a pixel, a redirect, 200/204.
    assert all(a.result in ("200", "204", "302", "303", "307") for a in actions), actions
    # Recorded events are written in batches within a second or so.
    want = {
        EventType.OPENED: expected["open"],
        EventType.CLICKED: expected["click"],
        EventType.UNSUBSCRIBED: expected["unsubscribe"],
    }
    while True:
        found = _events(services, tenant.tenant.id)
        if all(found.get(kind, set()) >= people for kind, people in want.items()):
            break
        assert time.monotonic() < deadline, f"events missing: {found} (wanted {want})"
        time.sleep(0.1)
    assert found[EventType.DELIVERED] == set(PEOPLE)
    # Exactly the chosen recipients opened and clicked (a click may count as an
    # open too: the click proves the message was read).
    assert found[EventType.CLICKED] == expected["click"]
    assert expected["open"] <= found[EventType.OPENED] <= expected["open"] | expected["click"]
    assert found[EventType.UNSUBSCRIBED] == expected["unsubscribe"]
    with services.storage.tenant(tenant.tenant.id)() as session:
        statuses = dict(
            session.execute(
                select(Contact.email, Subscription.status).join(
                    Subscription, Subscription.contact_id == Contact.id
                )
            ).all()
        )
    assert {p for p, s in statuses.items() if s is SubscriptionStatus.UNSUBSCRIBED} == expected[
        "unsubscribe"
    ]
