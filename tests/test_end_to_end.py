"""The thinnest complete path, through the API, over real SMTP to the sandbox internet."""

from __future__ import annotations

from fastapi.testclient import TestClient

from courriel.audience.models import Subscription, SubscriptionStatus, Suppression
from courriel.sandbox.server import Sandbox
from courriel.services import Services
from tests.support.delivery import deliver_all
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter", "ip": "192.0.2.1"}
PEOPLE = [
    ("Ada", "ada@gmail.test"),
    ("Grace", "grace@yahoo.test"),
    ("Alan", "alan@outlook.test"),
    ("Zoë", "zoe@example.test"),
]


def _make_campaign(
    client: TestClient, h: dict[str, str], people: list[tuple[str, str]]
) -> tuple[str, str]:
    list_id = client.post(
        "/v1/lists", json={"name": "News", "double_opt_in": False}, headers=h
    ).json()["id"]
    for name, email in people:
        response = client.post(
            "/v1/contacts",
            json={"email": email, "first_name": name, "lists": [list_id], "consent": CONSENT},
            headers=h,
        )
        assert response.status_code == 201, response.text
        assert response.json()["subscriptions"] == {list_id: "subscribed"}
    template = client.post(
        "/v1/templates",
        json={
            "name": "Welcome",
            "subject": "Hello {{ contact.first_name }}",
            "html": (
                "<p>Dear {{ contact.first_name }}, welcome.</p>"
                '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
            ),
        },
        headers=h,
    ).json()["id"]
    response = client.post(
        "/v1/campaigns",
        json={
            "name": "Welcome",
            "template_id": template,
            "lists": [list_id],
            "from_email": "news@acme.test",
            "from_name": "Acmé News",
        },
        headers=h,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"]), list_id


def test_campaign_reaches_every_mailbox_with_its_own_name(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    h = tenant_a.headers
    campaign, _ = _make_campaign(client, h, PEOPLE)
    sent = client.post(f"/v1/campaigns/{campaign}/send", headers=h)
    assert sent.status_code == 202
    assert sent.json()["status"] == "sending"
    # A double-clicked Send is refused, and cannot send twice anyway.
    assert client.post(f"/v1/campaigns/{campaign}/send", headers=h).status_code == 409

    deliver_all(services)

    stats = client.get(f"/v1/campaigns/{campaign}/stats", headers=h).json()
    assert stats["status"] == "sent"
    assert stats["recipients"] == len(PEOPLE)
    assert stats["queued"] == len(PEOPLE)
    assert stats["delivered"] == len(PEOPLE)
    assert stats["bounced"] == 0
    for name, email in PEOPLE:
        inbox = sandbox.store.inbox(email)
        assert len(inbox) == 1, email
        message = inbox[0]
        assert message.subject == f"Hello {name}"
        assert f"Dear {name}, welcome." in message.text
        for other, _ in PEOPLE:
            if other != name:
                assert other not in message.text
        via_api = client.get("/v1/sandbox/messages", params={"to": email}, headers=h).json()
        assert [m["subject"] for m in via_api] == [f"Hello {name}"]


def test_sandbox_inbox_api_shows_only_the_tenants_own_mail(
    client: TestClient,
    services: Services,
    tenant_a: TenantAccess,
    tenant_b: TenantAccess,
    sandbox: Sandbox,
) -> None:
    campaign, _ = _make_campaign(client, tenant_a.headers, PEOPLE[:1])
    client.post(f"/v1/campaigns/{campaign}/send", headers=tenant_a.headers)
    deliver_all(services)
    email = PEOPLE[0][1]
    assert (
        len(
            client.get(
                "/v1/sandbox/messages", params={"to": email}, headers=tenant_a.headers
            ).json()
        )
        == 1
    )
    assert (
        client.get("/v1/sandbox/messages", params={"to": email}, headers=tenant_b.headers).json()
        == []
    )


def test_unknown_user_bounces_and_is_suppressed(
    client: TestClient, services: Services, tenant_a: TenantAccess, sandbox: Sandbox
) -> None:
    h = tenant_a.headers
    people = [("Ada", "ada@gmail.test"), ("Ghost", "unknown-ghost@yahoo.test")]
    campaign, list_id = _make_campaign(client, h, people)
    client.post(f"/v1/campaigns/{campaign}/send", headers=h)
    deliver_all(services)

    stats = client.get(f"/v1/campaigns/{campaign}/stats", headers=h).json()
    assert stats["delivered"] == 1
    assert stats["bounced"] == 1
    assert sandbox.store.inbox("unknown-ghost@yahoo.test") == []
    with services.storage.tenant(tenant_a.tenant.id)() as session:
        assert session.query(Suppression).count() == 1
        statuses = {s.status for s in session.query(Subscription)}
    assert statuses == {SubscriptionStatus.SUBSCRIBED, SubscriptionStatus.BOUNCED}

    # Re-adding the address through the API does not undo the bounce, and a
    # new list takes it in only as suppressed: the next campaign skips it.
    ghost = {"email": "unknown-ghost@yahoo.test", "lists": [list_id], "consent": CONSENT}
    again = client.post("/v1/contacts", json=ghost, headers=h).json()
    assert again["subscriptions"] == {list_id: "bounced"}
    second, second_list = _make_campaign(client, h, [("Ada", "ada@gmail.test")])
    ghost["lists"] = [second_list]
    assert client.post("/v1/contacts", json=ghost, headers=h).json()["subscriptions"] == {
        second_list: "suppressed"
    }
    client.post(f"/v1/campaigns/{second}/send", headers=h)
    deliver_all(services)
    stats2 = client.get(f"/v1/campaigns/{second}/stats", headers=h).json()
    assert (stats2["recipients"], stats2["delivered"]) == (1, 1)
    assert len(sandbox.store.inbox("ada@gmail.test")) == 2
    assert sandbox.store.inbox("unknown-ghost@yahoo.test") == []
