"""People, lists and campaigns made over the API, for the data-subject-rights tests.

People subscribe through the API, campaigns go through the use cases and the
sandbox internet, so the rows an erasure must find are the ones real use
writes.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from courriel.campaigns.models import CampaignRecipient
from courriel.services import Services
from tests.support.tenants import TenantAccess

CONSENT = {"source": "api", "purpose_text": "Yes, send me the newsletter", "ip": "192.0.2.1"}
HTML = (
    '<p>Dear {{ contact.first_name }}, see <a href="https://shop.example/spring">spring</a>.</p>'
    '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a> '
    '<a href="{{ preferences_url }}">Preferences</a></p>'
)


def make_list(client: TestClient, who: TenantAccess, name: str = "News") -> str:
    response = client.post(
        "/v1/lists", json={"name": name, "double_opt_in": False}, headers=who.headers
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def add_person(
    client: TestClient, who: TenantAccess, list_id: str, email: str, first_name: str, **extra: Any
) -> str:
    body = {"email": email, "first_name": first_name, "lists": [list_id], "consent": CONSENT}
    response = client.post("/v1/contacts", json={**body, **extra}, headers=who.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["contact"]["id"])


def make_campaign(client: TestClient, who: TenantAccess, list_id: str, name: str = "Spring") -> str:
    template = client.post(
        "/v1/templates",
        json={"name": name, "subject": "Hello {{ contact.first_name }}", "html": HTML},
        headers=who.headers,
    )
    assert template.status_code == 201, template.text
    response = client.post(
        "/v1/campaigns",
        json={
            "name": name,
            "template_id": template.json()["id"],
            "lists": [list_id],
            "from_email": "news@acme.test",
        },
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def send(client: TestClient, who: TenantAccess, campaign_id: str) -> None:
    response = client.post(f"/v1/campaigns/{campaign_id}/send", headers=who.headers)
    assert response.status_code == 202, response.text


def message_of(services: Services, who: TenantAccess, campaign_id: str, contact_id: str) -> str:
    with services.storage.tenant(who.tenant.id)() as session:
        found = session.scalar(
            select(CampaignRecipient.id).where(
                CampaignRecipient.campaign_id == campaign_id,
                CampaignRecipient.contact_id == contact_id,
            )
        )
    assert found is not None
    return found


def new_request(
    client: TestClient, who: TenantAccess, kind: str, contact_id: str, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/v1/privacy/requests",
        json={"type": kind, "contact_id": contact_id, **extra},
        headers=who.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def fulfil(client: TestClient, who: TenantAccess, request_id: str) -> dict[str, Any]:
    response = client.post(f"/v1/privacy/requests/{request_id}/fulfil", headers=who.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
