"""One-click unsubscribe (RFC 8058): GET asks, POST acts at once, twice is once."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.audience.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    Subscription,
    SubscriptionStatus,
)
from courriel.content.links import unsubscribe_token
from courriel.events.models import EventType
from courriel.events.service import EventFilter
from courriel.services import Services
from tests.support.seeds.tracking import Seeded, seed_campaign, seed_default
from tests.support.tenants import TenantAccess

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def seeded(services: Services, tenant_a: TenantAccess) -> Seeded:
    return seed_default(services, tenant_a)


def _status(services: Services, seeded: Seeded, email: str) -> SubscriptionStatus:
    with services.storage.tenant(seeded.tenant.tenant.id)() as session:
        status = session.scalar(
            select(Subscription.status).where(
                Subscription.contact_id == seeded.contacts[email],
                Subscription.list_id == seeded.list_id,
            )
        )
    assert status is not None
    return status


def _unsubscribed_events(services: Services, tenant: TenantAccess) -> int:
    where = EventFilter(type=EventType.UNSUBSCRIBED)
    return len(services.events.query(tenant.operator, where, None, 50).items)


def test_get_shows_a_confirmation_page_and_changes_nothing(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    url = seeded.unsubscribe(services, "ann@gmail.test")
    for _ in range(3):  # link scanners and previews follow GETs
        response = client.get(url)
        assert response.status_code == 200
        assert "Spring news" in response.text
        assert 'name="List-Unsubscribe" value="One-Click"' in response.text
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert "set-cookie" not in response.headers
    assert _status(services, seeded, "ann@gmail.test") is SubscriptionStatus.SUBSCRIBED
    assert _unsubscribed_events(services, seeded.tenant) == 0


def test_one_click_post_twice_unsubscribes_once(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    url = seeded.unsubscribe(services, "ann@gmail.test")
    for _ in range(2):
        # As a mail client sends it: no cookie, no login, form-encoded body.
        response = client.post(url, data=ONE_CLICK, follow_redirects=False)
        assert response.status_code == 200
        assert "location" not in response.headers
        assert "set-cookie" not in response.headers
    assert _status(services, seeded, "ann@gmail.test") is SubscriptionStatus.UNSUBSCRIBED
    assert _unsubscribed_events(services, seeded.tenant) == 1
    with services.storage.tenant(seeded.tenant.tenant.id)() as session:
        withdrawn = list(
            session.scalars(
                select(ConsentRecord).where(
                    ConsentRecord.contact_id == seeded.contacts["ann@gmail.test"],
                    ConsentRecord.action == ConsentAction.WITHDRAWN,
                )
            )
        )
    assert len(withdrawn) == 1
    assert withdrawn[0].list_id == seeded.list_id
    # Others are untouched.
    assert _status(services, seeded, "bob@yahoo.test") is SubscriptionStatus.SUBSCRIBED
    stats = services.stats.campaign(seeded.tenant.operator, seeded.campaign_id)
    assert stats.figures["unsubscribed"] == 1


def test_multipart_one_click_body_is_accepted(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    url = seeded.unsubscribe(services, "bob@yahoo.test")
    response = client.post(url, files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200
    assert _status(services, seeded, "bob@yahoo.test") is SubscriptionStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    "body", [{}, {"List-Unsubscribe": "one-click"}, {"List-Unsubscribe": "Yes"}]
)
def test_post_without_the_one_click_body_changes_nothing(
    client: TestClient, services: Services, seeded: Seeded, body: dict[str, str]
) -> None:
    response = client.post(seeded.unsubscribe(services, "ann@gmail.test"), data=body)
    assert response.status_code == 400
    assert "List-Unsubscribe=One-Click" in response.text
    assert _status(services, seeded, "ann@gmail.test") is SubscriptionStatus.SUBSCRIBED


def test_tampered_unsubscribe_tokens_are_404(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    url = seeded.unsubscribe(services, "ann@gmail.test")
    bad = url[:-2] + ("AA" if not url.endswith("AA") else "BB")
    assert client.get(bad).status_code == 404
    assert client.post(bad, data=ONE_CLICK).status_code == 404
    # A click token is not an unsubscribe token.
    click = seeded.click(services, "ann@gmail.test").removeprefix("/t/c/")
    assert client.post(f"/u/{click}", data=ONE_CLICK).status_code == 404
    assert _status(services, seeded, "ann@gmail.test") is SubscriptionStatus.SUBSCRIBED


def test_the_confirmation_page_escapes_list_names(
    client: TestClient, services: Services, tenant_a: TenantAccess
) -> None:
    seeded = seed_campaign(
        services, tenant_a, ["eve@example.test"], list_name="<script>alert(1)</script>"
    )
    page = client.get(seeded.unsubscribe(services, "eve@example.test")).text
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_another_tenants_token_cannot_unsubscribe_here(
    client: TestClient, services: Services, seeded: Seeded, tenant_b: TenantAccess
) -> None:
    message = seeded.messages["ann@gmail.test"]
    token = unsubscribe_token(services.secret_key, tenant_b.tenant.id, message)
    assert client.post(f"/u/{token}", data=ONE_CLICK).status_code == 404
    assert _status(services, seeded, "ann@gmail.test") is SubscriptionStatus.SUBSCRIBED
    assert _unsubscribed_events(services, tenant_b) == 0


def test_the_pages_speak_the_recipients_language(
    client: TestClient, services: Services, seeded: Seeded
) -> None:
    url = seeded.unsubscribe(services, "ann@gmail.test")
    assert "Unsubscribe?" in client.get(url).text
    with services.storage.tenant(seeded.tenant.tenant.id)() as session:
        contact = session.get(Contact, seeded.contacts["ann@gmail.test"])
        assert contact is not None
        contact.language = "fr"
        session.commit()
    page = client.get(url).text
    assert '<html lang="fr">' in page
    assert "Se désabonner ?" in page
    done = client.post(url, data=ONE_CLICK).text
    assert "Vous êtes désabonné" in done
    # A person whose language is unknown gets their browser's.
    unknown = client.get("/u/not-a-token", headers={"accept-language": "fr-FR,fr;q=0.9"})
    assert "Ce lien n’est pas valide" in unknown.text
